// Opens an HTML file in headless Chromium (Debian's) at each viewport width given and prints,
// as JSON, every image's address, whether it loaded, its natural and its rendered size:
// {"640": [{"alt", "src", "loaded", "natural": [w, h], "shown": [w, h]}, ...], ...}.
// Usage: node images.mjs FILE.html WIDTH...
import { chromium } from "playwright-core";

const [file, ...widths] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const out = {};
  for (const w of widths) {
    const page = await browser.newPage({ viewport: { width: Number(w), height: 800 } });
    await page.goto("file://" + file, { waitUntil: "load" });
    out[w] = await page.$$eval("img", (imgs) =>
      imgs.map((i) => {
        const r = i.getBoundingClientRect();
        return {
          alt: i.alt,
          src: i.currentSrc,
          loaded: i.complete && i.naturalWidth > 0,
          natural: [i.naturalWidth, i.naturalHeight],
          shown: [r.width, r.height],
        };
      }),
    );
    await page.close();
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
