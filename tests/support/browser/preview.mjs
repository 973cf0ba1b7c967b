// Drives `mailshot preview`'s page in headless Chromium (Debian's) for tests/e2e/preview.rs,
// which edits the files between steps: one JSON command a line on standard input, one JSON
// answer a line on standard output. Commands:
//   {"op":"goto","url":U}            open the page; answers its state
//   {"op":"state"}                   what the page shows now (see `state` below)
//   {"op":"select","value":V}        pick V in the member list (the page is not reloaded)
//   {"op":"search","value":V}        type V in "Any address" and submit it
//   {"op":"wait","text":T,"where":W} wait (up to 10 s) until T shows in both frames
//                                    (W "frames") or in the page outside them (W "page");
//                                    answers {"ok":bool,"state":...}
// Each frame's `localImages` lists the images the preview serves itself (the campaign's local
// images) with the width they loaded at (0: not loaded).
// `reloaded` in every state says whether the page was loaded again since `goto` (it must not
// be: the page updates itself).
import { chromium } from "playwright-core";
import readline from "node:readline";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
// The bulletin's remote images: no network in tests, and none needed.
await page.route((url) => !url.hostname.startsWith("127.0.0.1"), (route) => route.abort());

async function state() {
  return await page.evaluate(() => {
    const text = (sel) => {
      const e = document.querySelector(sel);
      return e ? e.innerText : null;
    };
    const frames = [...document.querySelectorAll("iframe")].map((f) => ({
      id: f.id,
      width: Math.round(f.getBoundingClientRect().width),
      innerWidth: f.contentWindow ? f.contentWindow.innerWidth : null,
      text: f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : "",
      // The bulletin's images served by the preview itself (its local images), as loaded.
      localImages: f.contentDocument ? [...f.contentDocument.images]
        .filter((i) => i.src.startsWith(location.origin))
        .map((i) => ({ alt: i.alt, path: new URL(i.src).pathname, naturalWidth: i.naturalWidth })) : [],
    }));
    const member = document.querySelector("#member");
    return {
      reloaded: window.__marker !== "set at goto",
      from: text("#from"),
      subject: text("#subject"),
      previewText: text("#preview-text"),
      frames,
      textPart: text("#text-part"),
      findings: [...document.querySelectorAll("#findings li")].map((li) => li.innerText),
      problem: text(".problem"),
      selected: member ? member.value : null,
      members: member ? [...member.options].map((o) => o.textContent) : [],
    };
  });
}

/// Both frames loaded and showing `t`.
function framesShow(t) {
  const frames = [...document.querySelectorAll("iframe")];
  return frames.length === 2 && frames.every((f) =>
    f.contentDocument && f.contentDocument.readyState !== "loading" && f.contentDocument.body &&
    f.contentDocument.body.innerText.includes(t));
}

function pageShows(t) {
  return document.getElementById("app").innerText.includes(t);
}

async function run(cmd) {
  switch (cmd.op) {
    case "goto":
      await page.goto(cmd.url);
      await page.evaluate(() => { window.__marker = "set at goto"; });
      await page.waitForFunction(() => [...document.querySelectorAll("iframe")].every(
        (f) => f.contentDocument && f.contentDocument.readyState === "complete"));
      return await state();
    case "state":
      return await state();
    case "select":
      await page.selectOption("#member", cmd.value);
      return {};
    case "search":
      await page.fill("#address", cmd.value);
      await page.press("#address", "Enter");
      return {};
    case "wait": {
      let ok = true;
      try {
        await page.waitForFunction(cmd.where === "page" ? pageShows : framesShow, cmd.text,
          { polling: 5, timeout: cmd.timeout || 10000 });
      } catch (e) {
        ok = false;
      }
      return { ok, state: await state() };
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

try {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = await run(JSON.parse(line));
    } catch (e) {
      answer = { error: String(e) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
} finally {
  await browser.close();
}
