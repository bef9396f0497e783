// The runtime's fuzz corpus (runtime/fuzz/corpus/loader: damaged blobs, and small models of
// odd shapes the fuzzer found, of pixels and of raw features, format versions 2 and 3)
// through every wasm build: the same load errors as the native runtime, word for word, and
// for each model that loads the same names, and the same class, raw outputs and
// probabilities, bit for bit (or the same prediction error). Never a trap: a panic in the
// module would abort the call.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { TinyMLPError } from '../tinymlp.js';
import { native, rootDir, runtime, variantKinds, wasmVariants } from './helpers.mjs';

const corpusDir = path.join(rootDir, 'runtime', 'fuzz', 'corpus', 'loader');

/** Int32 values as they are, f32 values as their bits (NaN then compares equal). */
function bits(values) {
  return values instanceof Float32Array
    ? Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length))
    : Array.from(values);
}

test('the fuzz corpus gives the native answers in every wasm build', async () => {
  const entries = JSON.parse(native('corpus', corpusDir));
  const models = entries.filter((entry) => entry.load === 'ok');
  // The corpus holds both kinds of model, small ones (1-3 layers, 2-12 inputs, 2-4 classes).
  assert.ok(entries.length > 700, `${entries.length} corpus inputs`);
  assert.ok(models.length > 40, `${models.length} of them load`);
  for (const variant of Object.keys(wasmVariants)) {
    const rt = await runtime(variant);
    let predicted = 0;
    let features = 0;
    const versions = new Set();
    for (const entry of entries) {
      const where = `${variant}: ${entry.file}`;
      const blob = Buffer.from(entry.blob, 'hex');
      if (entry.load !== 'ok') {
        assert.throws(() => rt.load(blob), (error) => error instanceof TinyMLPError
          && error.message === entry.load, where);
        continue;
      }
      rt.load(blob);
      assert.equal(rt.modelName, entry.name, where);
      const classNames = Array.from({ length: rt.classes }, (_, i) => rt.className(i));
      assert.deepEqual(classNames.filter((n) => n !== null), entry.class_names, where);
      assert.equal(rt.input.features, entry.features !== undefined, where);
      if (!variantKinds[variant].includes(rt.kind)) continue;
      const predict = () => (entry.features
        ? rt.predictFeatures(new Float32Array(new Uint32Array(entry.features).buffer))
        : rt.classify(Buffer.from(entry.pixels, 'hex')));
      if (entry.predict !== undefined) {
        assert.throws(predict, (error) => error instanceof TinyMLPError
          && error.message === entry.predict, where);
        continue;
      }
      const got = predict();
      features += entry.features ? 1 : 0;
      versions.add(blob[4]);
      assert.deepEqual(
        { class: got.class, raw: bits(got.raw), probabilities: bits(got.probabilities) },
        { class: entry.class, raw: entry.raw, probabilities: entry.probabilities },
        where,
      );
      predicted += 1;
    }
    assert.ok(predicted > 20, `${variant}: ${predicted} models predicted`);
    assert.ok(features >= 4, `${variant}: ${features} feature models predicted`);
    assert.deepEqual([...versions].sort(), [2, 3], `${variant}: format versions predicted`);
  }
});
