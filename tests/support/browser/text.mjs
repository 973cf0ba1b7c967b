// Loads a page in headless Chromium (Debian's) and prints what it shows, as JSON:
// {"status": code, "text": the body's innerText, "width": the page's scroll width in px}.
// Usage: node text.mjs URL [WIDTH]
import { chromium } from "playwright-core";

const [url, width] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: Number(width || 640), height: 900 } });
  // Nothing leaves the machine: the bulletin's images are on example.org.
  await page.route((u) => !u.href.startsWith(new URL(url).origin), (r) => r.abort());
  const response = await page.goto(url);
  const text = await page.innerText("body");
  const scrolled = await page.evaluate(() => document.documentElement.scrollWidth);
  console.log(JSON.stringify({ status: response.status(), text, width: scrolled }));
} finally {
  await browser.close();
}
