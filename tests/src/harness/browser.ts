import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

/*
 * Headless Chromium for the web tests: Debian's `chromium` driven by
 * playwright-core (never a downloaded browser: this machine's network is
 * closed, and CI installs the Debian package). The flags keep Chromium from
 * dialling out at start, which a closed network answers with refusals.
 */

/** Where Debian installs Chromium; BATON_CHROMIUM overrides it. */
export const CHROMIUM_PATH = process.env.BATON_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Screenshots are test artifacts: .ci/run keeps this directory. */
export const SCREENSHOT_DIR = join(__dirname, '..', '..', 'artifacts', 'screenshots');

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** Saves a full-page screenshot of `page` as artifacts/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
