// Per-inference latency of the MNIST int8 model: native runtime, wasm in Node and wasm in
// Chromium, back to back on the same inputs, with the ratios to native.
//
//   node web/bench/bench.mjs [--count 1000] [--rounds 30] [--model models/mnist-int8.tmlp]
//
// Prints a Markdown table and writes web/test-output/bench.json. Run scripts/web-build.sh
// first. The figures are the best round (least disturbed by other work on the machine);
// medians are in the JSON.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { TinyMLP } from '../tinymlp.js';
import {
  mnistDir, mnistImages, native, outputDir, readImages, rootDir, trainedInt8, wasmVariants, webDir,
} from '../test/helpers.mjs';
import { CHROMIUM, serve } from '../test/server.mjs';
import { timeInference } from './run.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '30' },
    model: { type: 'string', default: trainedInt8 },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);
const model = path.resolve(values.model);
const images = readImages(mnistImages()).slice(0, count);

const rows = [];
const nativeResult = JSON.parse(native('bench', model, mnistImages(), String(count), String(rounds)));
rows.push({ where: 'native (x86-64, opt-level 3)', variant: '-', api: nativeResult, core: nativeResult });
// On a CPU with AVX-512 VNNI the native row above uses it; wasm has nothing like it, so the
// row at AVX2 (what most x86-64 CPUs run) is the other yardstick.
const avx2 = JSON.parse(native('bench', model, mnistImages(), String(count), String(rounds), 'avx2'));
rows.push({ where: 'native (x86-64, AVX2 kernels)', variant: '-', api: avx2, core: avx2 });

for (const [variant, file] of Object.entries(wasmVariants)) {
  const rt = await TinyMLP.instantiate(fs.readFileSync(file));
  rt.load(fs.readFileSync(model));
  if (!rt.runs(rt.kind)) continue; // an int8-only build and an f32 model
  const timed = timeInference(rt, images, rounds, () => performance.now());
  rows.push({ where: `Node ${process.version}`, variant, ...timed });
}

const server = await serve({ '/': webDir, '/mnist/': mnistDir, '/model/': path.dirname(model) });
const browser = await chromium.launch(CHROMIUM);
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/bench/bench.html`);
  for (const variant of Object.keys(wasmVariants)) {
    const timed = await page.evaluate(async ({ variant, modelName, count, rounds }) => {
      const { TinyMLP } = await import('/tinymlp.js');
      const { timeInference } = await import('/bench/run.js');
      const rt = await TinyMLP.instantiate(fetch(`/target/wasm/tinymlp-${variant}.wasm`));
      rt.load(new Uint8Array(await (await fetch(`/model/${modelName}`)).arrayBuffer()));
      if (!rt.runs(rt.kind)) return null;
      const file = new Uint8Array(await (await fetch('/mnist/t10k-images-idx3-ubyte')).arrayBuffer());
      const images = Array.from({ length: count }, (_, i) => file.subarray(16 + i * 784, 16 + (i + 1) * 784));
      return timeInference(rt, images, rounds, () => performance.now());
    }, { variant, modelName: path.basename(model), count, rounds });
    if (timed) rows.push({ where: `Chromium ${browser.version()}`, variant, ...timed });
  }
} finally {
  await browser.close();
  await server.close();
}

const base = nativeResult.best_ns;
const us = (ns) => (ns / 1000).toFixed(2);
console.log(`model ${path.relative(rootDir, model)}, ${count} MNIST test digits, best of ${rounds} rounds\n`);
console.log('| where | wasm build | µs / inference (API) | µs (core) | core / native | core / native AVX2 |');
console.log('|---|---|---:|---:|---:|---:|');
for (const row of rows) {
  const ratio = (ns) => `${(row.core.best_ns / ns).toFixed(2)}x`;
  console.log(`| ${row.where} | ${row.variant} | ${us(row.api.best_ns)} | ${us(row.core.best_ns)} | ${ratio(base)} | ${ratio(avx2.best_ns)} |`);
}
const sizes = Object.fromEntries(Object.entries(wasmVariants).map(([v, f]) => [v, fs.statSync(f).size]));
console.log(`\nwasm module bytes: ${Object.entries(sizes).map(([v, s]) => `${v} ${s}`).join(', ')}`);
fs.mkdirSync(outputDir, { recursive: true });
fs.writeFileSync(path.join(outputDir, 'bench.json'), JSON.stringify({ model, count, rounds, sizes, rows }, null, 2));
