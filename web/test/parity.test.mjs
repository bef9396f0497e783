// All 10,000 MNIST test digits through the wasm module give exactly the classes, the
// OutputDigest and the probabilities (bit for bit) of the native runtime.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import {
  Crc32c, mnistImages, mnistLabels, native, randomBlob, readImages, readLabels, runtime,
  trainedF32, trainedInt8, variantKinds, wasmVariants,
} from './helpers.mjs';

const images = readImages(mnistImages());
const labels = readLabels(mnistLabels());

/** Every model to compare: the trained ones once committed, and random-weights ones. */
const blobs = [
  ...[trainedInt8, trainedF32].filter((f) => fs.existsSync(f)),
  randomBlob('int8'),
  randomBlob('f32'),
];

test('the test set has 10,000 digits', () => {
  assert.equal(images.length, 10_000);
  assert.equal(labels.length, 10_000);
});

for (const blob of blobs) {
  const expected = JSON.parse(native('digest', blob, mnistImages(), mnistLabels()));

  const variants = Object.keys(wasmVariants).filter((v) => variantKinds[v].includes(expected.kind));
  test(`some build runs ${blob.split('/').pop()} (${expected.kind})`, () => assert.ok(variants.length > 0));
  for (const variant of variants) {
    test(`${variant} wasm matches the native runtime on ${blob.split('/').slice(-2).join('/')}`, async () => {
      const rt = await runtime(variant);
      rt.load(fs.readFileSync(blob));
      assert.equal(rt.kind, expected.kind);
      const probabilities = new Crc32c();
      const classes = [];
      rt.startDigest();
      for (const image of images) {
        const result = rt.classify(image);
        classes.push(result.class);
        probabilities.update(new Uint8Array(result.probabilities.buffer));
      }
      const digest = rt.finishDigest();
      assert.equal(classes.length, expected.count);
      assert.deepEqual(classes, expected.classes, 'classes differ');
      assert.equal(digest, expected.digest, 'OutputDigest differs');
      assert.equal(probabilities.finish(), expected.probability_crc, 'probabilities differ');
      const correct = classes.filter((c, i) => c === labels[i]).length;
      assert.equal(correct, expected.correct);
    });
  }
}

test('the trained int8 model reads the test set as well as trained', { skip: !fs.existsSync(trainedInt8) && 'models/mnist-int8.tmlp not committed yet' }, async () => {
  const rt = await runtime();
  rt.load(fs.readFileSync(trainedInt8));
  const correct = images.filter((image, i) => rt.classify(image).class === labels[i]).length;
  assert.ok(correct >= 9_700, `${correct} / 10000 correct`);
});

test('a digest covers every prediction since startDigest', async () => {
  const rt = await runtime();
  rt.load(fs.readFileSync(randomBlob('int8')));
  rt.startDigest();
  rt.classify(images[0]);
  const one = rt.finishDigest();
  rt.startDigest();
  rt.classify(images[0]);
  rt.classify(images[1]);
  const two = rt.finishDigest();
  assert.notEqual(one, two);
  // Raw outputs of images[0] alone, as the runtime digests them: CRC-32C of the LE bytes.
  const crc = new Crc32c();
  crc.update(new Uint8Array(rt.classify(images[0]).raw.buffer));
  assert.equal(one, crc.finish());
});
