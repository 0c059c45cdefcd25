import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DASHBOARD_PATH } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import type { NextFunction, Request, Response } from 'express';

/*
 * The web dashboard (apps/dashboard): static files built by Vite, served at
 * /ui by express itself, ahead of Nest's router, like /docs: the pages are
 * public, and every API call they make takes a key through the global guard
 * as any other client's does. Unknown paths under /ui are the app's own
 * routes (a run's page), so they get index.html.
 */

/** The pages load only what this server serves: scripts, styles and images from 'self', calls to 'self'. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Vite names built assets by their content hash: a name never serves other bytes, so browsers may keep them. */
const HASHED_ASSETS = `${DASHBOARD_PATH}/assets/`;
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the current assets: always asked again, so a deploy takes effect on the next load. */
const REVALIDATE = 'no-cache';

/** The dashboard's build output, or null when it was not built (or not shipped with this frontend). */
export function dashboardDir(): string | null {
  try {
    const dir = join(dirname(require.resolve('@baton/dashboard/package.json')), 'dist');
    return existsSync(join(dir, 'index.html')) ? dir : null;
  } catch {
    return null;
  }
}

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}

/** The app's own routes (/ui, /ui/namespaces/…/runs/…): index.html, the router in the page takes it from there. */
function spaFallback(indexHtml: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // A missing hashed asset is a 404, not a page: a stale tab would otherwise run HTML as a script.
    if (req.originalUrl.startsWith(HASHED_ASSETS)) return next();
    res.setHeader('Cache-Control', REVALIDATE);
    res.sendFile(indexHtml);
  };
}

/** `/` on the frontend's HTTP port goes to the dashboard: the address printed at start-up shows something. */
function rootRedirect(req: Request, res: Response, next: NextFunction): void {
  if ((req.method === 'GET' || req.method === 'HEAD') && req.path === '/')
    return res.redirect(302, `${DASHBOARD_PATH}/`);
  next();
}

/** Serves the dashboard at /ui unless BATON_UI=false; without a build, warns once and serves nothing. */
export function mountDashboard(app: INestApplication, config: BatonConfig): void {
  if (!config.ui) return;
  const dir = dashboardDir();
  if (!dir) {
    new Logger('frontend').warn(
      `the dashboard is not built (no @baton/dashboard dist): ${DASHBOARD_PATH} is not served; run \`pnpm build\``,
    );
    return;
  }
  // startApp creates every app on the express platform.
  const http = app as NestExpressApplication;
  http.use(rootRedirect);
  http.use(DASHBOARD_PATH, securityHeaders);
  const assets = join(dir, 'assets');
  http.useStaticAssets(dir, {
    prefix: DASHBOARD_PATH,
    index: false,
    redirect: false,
    setHeaders: (res, path) => res.setHeader('Cache-Control', path.startsWith(assets) ? IMMUTABLE : REVALIDATE),
  });
  http.use(DASHBOARD_PATH, spaFallback(join(dir, 'index.html')));
}
