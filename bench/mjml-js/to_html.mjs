// Renders one MJML file with the JavaScript mjml and prints the HTML: the official renderer,
// for tests/e2e/markdown.rs to compare mailshot's output with. Usage: node to_html.mjs FILE.mjml
import fs from "node:fs";
import mjml2html from "mjml";

const file = process.argv[2];
const out = await mjml2html(fs.readFileSync(file, "utf8"), { filePath: file, validationLevel: "skip", minify: false });
process.stdout.write(out.html);
