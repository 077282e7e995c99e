/**
 * The system's headless Chromium (Debian package `chromium`), driven by
 * playwright-core. We never download a browser: CI installs the package
 * (`.ci/run`), and a machine without it skips the browser tests.
 *
 *   const browser = await launchChromium(CHROMIUM_PATH!);
 *   const page = await browser.context.newPage();
 *   await browser.close();
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian puts it; `undefined` when it is not installed here. */
export const CHROMIUM_PATH: string | undefined = ['/usr/bin/chromium'].find((path) => existsSync(path));

// Without the background-networking flags Chromium tries to reach Google
// (component updates, sync, QUIC probes) and logs failures noisily; tests only
// talk to loopback. No sandbox: CI runs as root in a container.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedChromium {
  context: BrowserContext;
  /** Closes the browser and deletes its profile directory. */
  close(): Promise<void>;
}

/** A fresh browser with an empty profile in a temporary `--user-data-dir`. */
export async function launchChromium(executablePath: string): Promise<LaunchedChromium> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'oidc-bff-chromium-'));
  try {
    // launchPersistentContext is playwright's way to pass --user-data-dir (it refuses the flag in args).
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1000, height: 800 },
      timeout: 60_000,
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        await rm(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
}
