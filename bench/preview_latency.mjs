// How long from saving the Markdown issue to the new rendering in the browser, for the
// example (issues/2023-05.md in templates/layout.mjml, lists/members.csv).
//
// Starts `mailshot preview --port 0` in a scratch copy of the example, opens the page in
// headless Chromium (Debian's, through tests/support/browser's playwright-core), then N times:
// writes the issue with a new word in its first paragraph, and times until both frames'
// documents show it. Prints each time, the median and the 95th percentile, and the part of
// it until the server announced the new load (its answer to the page's long poll on
// `/changes`), until the new panel arrived (`/panel`), and until the second frame's bulletin
// arrived (`/render`): the rest is Chromium laying out the two frames.
//
// Usage: node bench/preview_latency.mjs [MAILSHOT_BINARY] [N]
//   (default target/debug/mailshot, 20 edits; build it first: cargo build)
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import readline from "node:readline";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(repo, "tests/support/browser/package.json"));
const { chromium } = require("playwright-core");

const binary = resolve(process.argv[2] || join(repo, "target/debug/mailshot"));
const edits = Number(process.argv[3] || 20);

const dir = mkdtempSync(join(tmpdir(), "mailshot-preview-bench-"));
for (const d of ["config.toml", "templates", "lists", "issues", "images"]) {
  cpSync(join(repo, d), join(dir, d), { recursive: true });
}
const issue = join(dir, "issues/2023-05.md");
const original = readFileSync(issue, "utf8");
const anchor = "Welcome to this month’s round-up";
if (!original.includes(anchor)) throw new Error(`\`${anchor}\` is not in issues/2023-05.md`);

const server = spawn(binary, ["preview", "--port", "0"], {
  cwd: dir,
  stdio: ["ignore", "pipe", "inherit"],
});
const first = await new Promise((done, fail) => {
  readline.createInterface({ input: server.stdout }).once("line", done);
  server.once("exit", (code) => fail(new Error(`preview exited with ${code}`)));
});
const url = first.replace(/^preview: /, "");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const times = [];
const announced = [];
const panels = [];
const renders = [];
let panel = null;
let rendered = [];
let saved = 0;
let heard = null;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // The bulletin's remote images: not part of what is measured.
  await page.route((u) => !u.hostname.startsWith("127.0.0.1"), (route) => route.abort());
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (heard === null && path === "/changes") heard = performance.now() - saved;
    if (panel === null && path === "/panel") panel = performance.now() - saved;
    if (path === "/render") rendered.push(performance.now() - saved);
  });
  await page.goto(url);
  const shows = (word) => {
    const frames = [...document.querySelectorAll("iframe")];
    return frames.length === 2 && frames.every((f) => f.contentDocument &&
      f.contentDocument.body && f.contentDocument.body.innerText.includes(word));
  };
  await page.waitForFunction(shows, "round-up", { polling: 1 });
  for (let i = 0; i < edits; i++) {
    const word = `edit${i}x${Date.now() % 100000}`;
    const text = original.replace(anchor, `${anchor} ${word}`);
    heard = null;
    panel = null;
    rendered = [];
    saved = performance.now();
    writeFileSync(issue, text);
    await page.waitForFunction(shows, word, { polling: 1, timeout: 10000 });
    times.push(performance.now() - saved);
    announced.push(heard);
    panels.push(panel);
    renders.push(rendered.length === 2 ? Math.max(...rendered) : NaN);
    // Let the editor's burst and the page settle before the next save.
    await new Promise((done) => setTimeout(done, 300));
  }
} finally {
  await browser.close();
  server.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
const ms = (xs) => xs.map((t) => t.toFixed(0)).join(" ");
console.log(`binary: ${binary}`);
console.log(`save -> new rendering in both frames, ${times.length} edits (ms): ${ms(times)}`);
console.log(`  of which save -> new load announced (ms): ${ms(announced)}`);
console.log(`median ${quantile(times, 0.5).toFixed(1)} ms, p95 ${quantile(times, 0.95).toFixed(1)} ms ` +
  `(announced: median ${quantile(announced, 0.5).toFixed(1)} ms; new panel in: ` +
  `${quantile(panels, 0.5).toFixed(1)} ms; both frames' bulletins in: ${quantile(renders, 0.5).toFixed(1)} ms)`);
