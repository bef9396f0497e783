// The runtime's int8 kernels as compiled for wasm SIMD128 (runtime/src/kernels/wasm.rs, and
// the portable requantization vectorized by LLVM), checked inside the module against its
// reference kernels, bit for bit, over random shapes (1-150 inputs, 1-80 outputs: every group
// size and tail, narrow layers included, whole layers and blocks of outputs) and values.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { webDir } from './helpers.mjs';

const file = path.join(webDir, 'target', 'wasm', 'tinymlp-kernel-check.wasm');

test('int8 kernels compiled for wasm SIMD agree with the reference kernels bit for bit', async () => {
  assert.ok(fs.existsSync(file), `${file} is missing: run scripts/web-build.sh first`);
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(file));
  const cases = 500;
  for (const seed of [1, 2, 3, 4]) {
    assert.equal(instance.exports.tmlp_check_kernels(seed, cases), 0, `seed ${seed}`);
  }
});
