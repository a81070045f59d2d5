// Test-only: checks Flux documents with Flux's own front end, the parser and type checker
// (semantic analysis against the standard library's signatures) that flux-lsp compiles to
// WebAssembly (npm @influxdata/flux-lsp-browser, pinned in package.json). Nothing is executed.
//
//   node flux-compile.mjs < {"name": "flux text", ...}  >  {"name": [{line, column, severity, message}]}
//
// Severity follows LSP: 1 error, 2 warning, 3 information, 4 hint.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const PACKAGE = fileURLToPath(new URL("node_modules/@influxdata/flux-lsp-browser/", import.meta.url));
const WAIT_MS = 20000; // per document: the server answers a didOpen in milliseconds

// The package is wasm-bindgen's "bundler" build: its glue module imports the .wasm as an ES
// module, and the .wasm imports the glue back. Node cannot link that cycle, so the glue is loaded
// with its wasm binding made assignable, and the module is instantiated here with the glue as
// its import object.
async function loadFluxLsp() {
  const glueFile = "flux-lsp-browser_bg.js";
  let glue = readFileSync(PACKAGE + glueFile, "utf8");
  const wasmImport = "import * as wasm from './flux-lsp-browser_bg.wasm';";
  const memoryInit = /\ncachedInt32Memory0 = new Int32Array\(wasm\.memory\.buffer\);\ncachedUint8Memory0 = new Uint8Array\(wasm\.memory\.buffer\);\s*$/;
  if (!glue.includes(wasmImport) || !memoryInit.test(glue)) {
    throw new Error(`${glueFile}: not the layout this loader knows (was the package upgraded?)`);
  }
  glue = glue.replace(wasmImport, "let wasm;").replace(memoryInit, "\n") +
    "\nexport function bindWasm(exports) { wasm = exports;" +
    " cachedInt32Memory0 = new Int32Array(wasm.memory.buffer);" +
    " cachedUint8Memory0 = new Uint8Array(wasm.memory.buffer); }\n";
  const module = await import("data:text/javascript;base64," + Buffer.from(glue).toString("base64"));
  const { instance } = await WebAssembly.instantiate(
    readFileSync(PACKAGE + "flux-lsp-browser_bg.wasm"), { [`./${glueFile}`]: module });
  module.bindWasm(instance.exports);
  return module;
}

async function main() {
  // The server logs through console; stdout carries only the JSON answer.
  for (const level of ["log", "info", "debug", "warn"]) console[level] = console.error;
  const documents = JSON.parse(readFileSync(0, "utf8"));
  const { Lsp } = await loadFluxLsp();
  const server = new Lsp();
  let waiting = null;
  server.onMessage((text) => {
    const message = JSON.parse(text);
    if (message.method === "textDocument/publishDiagnostics" && waiting?.uri === message.params.uri) {
      const { resolve } = waiting;
      waiting = null;
      resolve(message.params.diagnostics);
    }
  });
  server.run();
  const send = (message) => server.send(JSON.stringify({ jsonrpc: "2.0", ...message }));
  await send({ id: 1, method: "initialize", params: { capabilities: {} } });
  await send({ method: "initialized", params: {} });

  // One document open at a time: with several open, this server version republishes the
  // others' diagnostics, sometimes empty.
  const results = {};
  let index = 0;
  for (const [name, text] of Object.entries(documents)) {
    const uri = `file:///document-${index++}.flux`;
    const published = new Promise((resolve) => { waiting = { uri, resolve }; });
    const timeout = new Promise((resolve) => setTimeout(() => resolve(null), WAIT_MS));
    await send({ method: "textDocument/didOpen",
                 params: { textDocument: { uri, languageId: "flux", version: 1, text } } });
    const diagnostics = await Promise.race([published, timeout]);
    if (diagnostics === null) {
      throw new Error(`${name}: the Flux server published no diagnostics within ${WAIT_MS} ms`);
    }
    await send({ method: "textDocument/didClose", params: { textDocument: { uri } } });
    results[name] = diagnostics.map((d) => ({
      line: d.range.start.line + 1, column: d.range.start.character + 1,
      severity: d.severity, message: d.message }));
  }
  process.stdout.write(JSON.stringify(results));
}

main().then(() => process.exit(0), (error) => {
  process.stderr.write(`flux compiler: ${error.message}\n`);
  process.exit(2);
});
