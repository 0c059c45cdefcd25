import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/*
 * The dashboard is static files the frontend serves at /ui (apps/frontend
 * src/dashboard.ts): every asset is bundled (no CDN at run time), and hashed
 * names let the server mark them immutable.
 */
export default defineConfig({
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The frontend's Content-Security-Policy allows 'self' only: no inline scripts or data: modules.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `pnpm --filter @baton/dashboard dev` against a local `pnpm start`.
    proxy: { '/v1': 'http://127.0.0.1:8080' },
  },
});
