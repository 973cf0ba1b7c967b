// Loads an unsubscribe link in headless Chromium (Debian's), saves a screenshot, clicks the
// button and prints what the page then shows, as JSON: {"before": text, "after": text,
// "status": code}. Usage: node click.mjs URL SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  const before = await page.innerText("body");
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click("button"),
  ]);
  const after = await page.innerText("body");
  console.log(JSON.stringify({ before, after, status: response.status() }));
} finally {
  await browser.close();
}
