// A feature model's whole test split through the wasm module, as parity.test.mjs does for
// MNIST: the committed wine models (13 raw features, 3 classes; int8 and f32) give exactly the
// classes, the OutputDigest and the probabilities (bit for bit) of the native runtime, through
// `predictFeatures`. tests/tests/firmware_qemu.rs checks the same models and inputs on the
// Cortex-M firmware in QEMU.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import {
  Crc32c, native, readFeatureRecords, runtime, variantKinds, wasmVariants, wineF32, wineInt8,
  wineTestFeatures,
} from './helpers.mjs';

const blobs = [
  { blob: wineInt8, kind: 'int8' },
  { blob: wineF32, kind: 'f32' },
];

for (const { blob, kind } of blobs) {
  const name = blob.split('/').slice(-2).join('/');
  const expected = JSON.parse(native('digest-features', blob, wineTestFeatures));

  test(`${name} is a ${kind} feature model and some build runs it`, () => {
    assert.equal(expected.kind, kind);
    assert.ok(Object.keys(wasmVariants).some((v) => variantKinds[v].includes(kind)));
    // Most of the split read right: a parity of wrong answers would prove less.
    assert.ok(expected.correct >= 0.9 * expected.count, `${expected.correct} / ${expected.count} correct`);
  });

  const variants = Object.keys(wasmVariants).filter((v) => variantKinds[v].includes(kind));
  for (const variant of variants) {
    test(`${variant} wasm matches the native runtime on ${name} over its test split`, async () => {
      const rt = await runtime(variant);
      rt.load(fs.readFileSync(blob));
      assert.equal(rt.kind, expected.kind);
      assert.equal(rt.input.features, true);
      assert.equal(rt.modelName, expected.name);
      const classNames = Array.from({ length: expected.class_names.length }, (_, i) => rt.className(i));
      assert.deepEqual(classNames, expected.class_names);

      const records = readFeatureRecords(wineTestFeatures, rt.input.length);
      assert.equal(records.length, expected.count);
      const probabilities = new Crc32c();
      const classes = [];
      rt.startDigest();
      for (const { features } of records) {
        const result = rt.predictFeatures(features);
        classes.push(result.class);
        probabilities.update(new Uint8Array(result.probabilities.buffer));
      }
      const digest = rt.finishDigest();
      assert.deepEqual(classes, expected.classes, 'classes differ');
      assert.equal(digest, expected.digest, 'OutputDigest differs');
      assert.equal(probabilities.finish(), expected.probability_crc, 'probabilities differ');
      const correct = classes.filter((c, i) => c === records[i].label).length;
      assert.equal(correct, expected.correct);
    });
  }
}
