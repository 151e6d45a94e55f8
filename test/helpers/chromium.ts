import { type BrowserContext, chromium } from "playwright-core";

/**
 * Debian's headless Chromium through playwright-core (no browser is ever downloaded), its profile in
 * `profileDir`: a folder of the test's own temp dir, so removing that removes the profile too.
 */
export function launchHeadlessChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}
