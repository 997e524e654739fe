// Headless Chromium for the course's browser tests: Debian's /usr/bin/chromium (no browser
// download), driven by playwright-core. The flags keep it from reaching out to the network,
// which this machine's tests must never do, and from keeping state between runs.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "netcourse-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

// Fail the test (exit code 1) with a message, whatever is still open.
export function fail(message) {
  console.error("FAIL: " + message);
  process.exit(1);
}
