// Screenshots two HTML files in headless Chromium (Debian's), full page, at each width, and
// compares them pixel by pixel: the parity suite's eye (tests/e2e/parity.rs). Writes
// OURS-WIDTH.png, THEIRS-WIDTH.png and diff-WIDTH.png (differing pixels red) into OUTDIR and
// prints, as JSON, one {"width", "ours_height", "theirs_height", "differing", "pixels"} per
// width. Images the pages ask for are answered with one grey PNG: nothing leaves the machine.
// Usage: node parity.mjs OURS.html THEIRS.html OUTDIR WIDTH...
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [ours, theirs, outdir, ...widths] = process.argv.slice(2);

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
const crc32 = (buf) => {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
};

// An RGBA image {width, height, data} from a PNG of 8-bit RGB or RGBA, not interlaced
// (what Chromium writes).
function decode(png) {
  let at = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (at < png.length) {
    const len = png.readUInt32BE(at), type = png.toString("ascii", at + 4, at + 8);
    const body = png.subarray(at + 8, at + 8 + len);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, , , interlace] = body.subarray(8);
      if (depth !== 8 || interlace !== 0 || (colour !== 2 && colour !== 6)) {
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      }
      channels = colour === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(body);
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels, data = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      line[i] = (line[i] + predictor) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      line.copy(data, (y * width + x) * 4, x * channels, x * channels + channels);
      if (channels === 3) data[(y * width + x) * 4 + 3] = 255;
    }
    prev = line;
  }
  return { width, height, data };
}

function encode({ width, height, data }) {
  const chunk = (type, body) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, "ascii");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const raw = Buffer.alloc(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) data.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0)),
  ]);
}

// Pixels that differ, over the larger of the two pages: rows only one page has all differ.
function compare(a, b) {
  const width = Math.max(a.width, b.width), height = Math.max(a.height, b.height);
  const diff = { width, height, data: Buffer.alloc(width * height * 4) };
  let differing = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const inA = x < a.width && y < a.height, inB = x < b.width && y < b.height;
      const ia = (y * a.width + x) * 4, ib = (y * b.width + x) * 4;
      const same = inA && inB && a.data.readUInt32BE(ia) === b.data.readUInt32BE(ib);
      if (same) {
        // The page faded, so the differences stand out.
        for (let k = 0; k < 3; k++) diff.data[o + k] = 192 + (a.data[ia + k] >> 2);
      } else {
        differing++;
        diff.data.set([255, 0, 0], o);
      }
      diff.data[o + 3] = 255;
    }
  }
  return { differing, pixels: width * height, diff };
}

const GREY = encode({ width: 2, height: 1, data: Buffer.from([150, 150, 150, 255, 150, 150, 150, 255]) });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--font-render-hinting=none",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 640, height: 100 } });
  await page.route((u) => u.protocol !== "file:", (r) => r.fulfill({ status: 200, contentType: "image/png", body: GREY }));
  const results = [];
  for (const width of widths.map(Number)) {
    await page.setViewportSize({ width, height: 100 });
    const shots = [];
    for (const [file, name] of [[ours, "ours"], [theirs, "theirs"]]) {
      await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: "load" });
      const png = await page.screenshot({ type: "png", fullPage: true, animations: "disabled" });
      fs.writeFileSync(path.join(outdir, `${name}-${width}.png`), png);
      shots.push(decode(png));
    }
    const { differing, pixels, diff } = compare(...shots);
    fs.writeFileSync(path.join(outdir, `diff-${width}.png`), encode(diff));
    results.push({ width, ours_height: shots[0].height, theirs_height: shots[1].height, differing, pixels });
  }
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
}
