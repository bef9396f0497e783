// The JS API: metadata, errors worded by the runtime (the same text the native runtime
// prints), and the state after a failed load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { TinyMLPError } from '../tinymlp.js';
import { mnistImages, native, outputDir, randomBlob, readImages, runtime } from './helpers.mjs';

const int8 = fs.readFileSync(randomBlob('int8'));
const f32 = fs.readFileSync(randomBlob('f32'));
const image = readImages(mnistImages())[0];

/** Broken blobs, each a different kind of damage. */
function damaged() {
  const corrupt = Buffer.from(int8);
  corrupt[Math.floor(corrupt.length / 2)] ^= 0x40;
  const future = Buffer.from(int8);
  future[4] = 2; // the version varint follows the 4-byte magic
  return {
    corrupt,
    'wrong version': future,
    truncated: int8.subarray(0, 1000),
    'not a model': Buffer.from('<!doctype html><title>404</title>'),
    empty: Buffer.alloc(0),
  };
}

test('metadata of a loaded model', async () => {
  const rt = await runtime();
  assert.equal(rt.kind, null);
  assert.equal(rt.classes, 0);
  rt.load(int8);
  assert.equal(rt.kind, 'int8');
  assert.equal(rt.classes, 10);
  assert.equal(rt.layers, 2);
  assert.deepEqual(rt.input, { width: 28, height: 28, channels: 1, length: 784 });
  rt.load(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.length));
  assert.equal(rt.kind, 'f32');
});

test('classify returns the class, its probability and all probabilities', async () => {
  const rt = await runtime();
  rt.load(int8);
  const result = rt.classify(image);
  assert.equal(result.probabilities.length, 10);
  assert.equal(result.raw.constructor, Int32Array);
  const best = result.probabilities.indexOf(Math.max(...result.probabilities));
  assert.equal(result.class, best);
  assert.equal(result.probability, result.probabilities[best]);
  const sum = result.probabilities.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to ${sum}`);
  // Plain arrays and clamped arrays work too, and the result does not change.
  assert.deepEqual(rt.classify(Array.from(image)), result);
  assert.deepEqual(rt.classify(new Uint8ClampedArray(image)), result);
});

for (const [name, bytes] of Object.entries(damaged())) {
  test(`a ${name} blob fails with the runtime's own message`, async () => {
    fs.mkdirSync(outputDir, { recursive: true });
    const file = path.join(outputDir, `${name.replaceAll(' ', '-')}.tmlp`);
    fs.writeFileSync(file, bytes);
    const expected = native('load', file);
    assert.notEqual(expected, 'ok');
    const rt = await runtime();
    rt.load(int8);
    assert.throws(() => rt.load(bytes), (error) => {
      assert.ok(error instanceof TinyMLPError);
      assert.equal(error.message, expected);
      return true;
    });
    // A failed load leaves no model behind.
    assert.equal(rt.kind, null);
    assert.throws(() => rt.classify(image), { message: 'no model loaded' });
  });
}

test('the messages name the damage', async () => {
  const rt = await runtime();
  const messages = Object.fromEntries(Object.entries(damaged()).map(([name, bytes]) => {
    try {
      rt.load(bytes);
      return [name, 'loaded'];
    } catch (error) {
      return [name, error.message];
    }
  }));
  assert.equal(messages.corrupt, 'model blob is corrupt (CRC-32 mismatch)');
  assert.equal(messages['wrong version'], 'unsupported model format version 2 (this runtime reads version 1)');
  assert.equal(messages.truncated, 'model blob is truncated');
  assert.equal(messages['not a model'], 'not a tinymlp model (bad magic tag)');
});

test('a wrong input length fails with the runtime message', async () => {
  const rt = await runtime();
  rt.load(int8);
  assert.throws(() => rt.classify(new Uint8Array(783)), {
    name: 'TinyMLPError',
    message: 'input has 783 pixels, the model expects 784',
  });
  assert.throws(() => rt.classify(new Uint8Array(5000)), {
    message: 'input has 5000 pixels, the model expects 784',
  });
  // The model is still there.
  assert.equal(rt.classify(image).probabilities.length, 10);
});

test('both builds of the module export the same API', async () => {
  const names = async (variant) => Object.keys((await runtime(variant)).wasm).sort();
  assert.deepEqual(await names('simd'), await names('baseline'));
});
