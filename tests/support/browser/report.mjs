// Opens `mailshot report`'s page in headless Chromium (Debian's), with every request that is
// not the file itself refused and recorded, screenshots the whole page to PNG, and prints as
// JSON what a reader sees:
// {"title", "text", "scripts": n, "requests": [urls other than the file],
//  "charts": [{"id", "size": [w, h], "ink": pixels not white, "marks": pixels in the colour
//  `mark` (hex, e.g. "#1f6fb4") given for that chart}]}.
// Each chart's pixels are counted in its own screenshot (element.screenshot), decoded by the
// page's canvas.
// Usage: node report.mjs FILE.html SCREENSHOT.png CHART_ID=#RRGGBB...
import { chromium } from "playwright-core";

const [file, shot, ...charts] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const requests = [];
  const url = "file://" + file;
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    requests.push(u);
    return route.abort();
  });
  await page.goto(url, { waitUntil: "load" });
  await page.screenshot({ path: shot, fullPage: true });
  const out = {
    title: await page.title(),
    text: await page.evaluate(() => document.body.innerText),
    scripts: await page.evaluate(() => document.querySelectorAll("script").length),
    requests,
    charts: [],
  };
  for (const spec of charts) {
    const [id, mark] = spec.split("=");
    const el = await page.$("#" + id + " svg");
    if (!el) {
      out.charts.push({ id, size: [0, 0], ink: 0, marks: 0 });
      continue;
    }
    const box = await el.boundingBox();
    const png = (await el.screenshot()).toString("base64");
    const [ink, marks] = await page.evaluate(
      async ([png, mark]) => {
        const img = new Image();
        img.src = "data:image/png;base64," + png;
        await img.decode();
        const c = document.createElement("canvas");
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const want = [1, 3, 5].map((i) => parseInt(mark.slice(i, i + 2), 16));
        let ink = 0, marks = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) ink++;
          if (want.every((v, k) => Math.abs(d[i + k] - v) <= 12)) marks++;
        }
        return [ink, marks];
      },
      [png, mark],
    );
    out.charts.push({ id, size: [box.width, box.height], ink, marks });
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
