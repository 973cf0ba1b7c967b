// Renders the bulletin with the JavaScript mjml once per member (variables filled in first,
// as a tool without mailshot's once-per-campaign render must) and prints microseconds per
// member. Usage: node render.mjs TEMPLATE.mjml
import fs from "node:fs";
import path from "node:path";
import mjml2html from "mjml";

const file = process.argv[2];
const source = fs.readFileSync(file, "utf8");
const vars = {
  month: "April 2023",
  cluster_name: "Northvale Health Technology Cluster",
  postal_address: "Northvale Innovation Centre, 12 Quayside Road, Northvale NV1 4AB",
  chair_name: "Dr Helen Marsh",
  chair_email: "chair@example.org",
  unsubscribe_url: "https://example.org/unsubscribe/TOKEN",
  campaign: "bench",
};
const fill = (i) =>
  source.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) =>
    ({ ...vars, email: `member${i}@example.org`, first_name: `First${i}`, last_name: `Last${i}`, organisation: `Organisation ${i} Ltd` })[k] ?? "");
const opts = { filePath: file, allowIncludes: true, actualPath: file, validationLevel: "skip", minify: false };
const render = async (i) => {
  const out = mjml2html(fill(i), opts);
  return out && typeof out.then === "function" ? await out : out;
};
for (let i = 0; i < 10; i++) await render(i); // warm up
const n = 200;
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) await render(i);
const us = Number(process.hrtime.bigint() - start) / 1000 / n;
console.log(`${us.toFixed(1)} us per member`);
