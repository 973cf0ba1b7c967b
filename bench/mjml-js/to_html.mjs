// Renders one MJML file with the JavaScript mjml and prints the HTML: the official renderer,
// for tests/e2e/markdown.rs and tests/e2e/parity.rs to compare mailshot's output with.
// `mj-include`s are followed (mjml 5 ignores them unless told), relative to the file.
// Usage: node to_html.mjs FILE.mjml
import fs from "node:fs";
import mjml2html from "mjml";

const file = process.argv[2];
const out = await mjml2html(fs.readFileSync(file, "utf8"), {
  filePath: file,
  validationLevel: "skip",
  minify: false,
  ignoreIncludes: false,
});
process.stdout.write(out.html);
