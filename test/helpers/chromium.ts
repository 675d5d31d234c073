// Headless Debian Chromium driven by playwright-core, for browser interop tests.

import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_INSTALL_HINT = 'install Debian chromium: apt-get install -y chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Why Chromium cannot be launched here, or null when the executable is present. */
export function chromiumProblem(): string | null {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return null;
  } catch {
    return `${CHROMIUM_PATH} not found or not executable; ${CHROMIUM_INSTALL_HINT}`;
  }
}

/** Launches one headless browser; the caller closes it with `browser.close()`. */
export function launchChromium(timeoutMs = 30_000): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: timeoutMs });
}

/**
 * True (and the test skipped) when Chromium is missing locally; under CI=true a missing
 * browser fails the test instead, so a browser test can never pass by not running.
 */
export function chromiumMissing(t: { skip(message?: string): void }): boolean {
  const problem = chromiumProblem();
  if (problem === null) return false;
  if (process.env['CI'] === 'true') throw new Error(`Chromium missing under CI: ${problem}`);
  t.skip(problem);
  return true;
}
