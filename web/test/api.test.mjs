// The JS API: metadata, errors worded by the runtime (the same text the native runtime
// prints), and the state after a failed load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { TinyMLPError } from '../tinymlp.js';
import {
  Crc32c, mnistImages, native, outputDir, randomBlob, readImages, rootDir, runtime,
  wasmVariants,
} from './helpers.mjs';

const int8 = fs.readFileSync(randomBlob('int8'));
const f32 = fs.readFileSync(randomBlob('f32'));
const image = readImages(mnistImages())[0];
/** The format version this runtime writes: the varint after the 4-byte magic (< 128). */
const version = int8[4];

/** `blob` with `edit` applied and its CRC-32 made right again: a blob that only validation
 *  (not the checksum) can reject. */
function resealed(blob, edit) {
  const bytes = Buffer.from(blob);
  edit(bytes);
  const crc = new Crc32c();
  crc.update(bytes.subarray(0, bytes.length - 4));
  bytes.writeUInt32LE(crc.finish(), bytes.length - 4);
  return bytes;
}

/** Broken blobs, each a different kind of damage. */
function damaged() {
  const corrupt = Buffer.from(int8);
  corrupt[Math.floor(corrupt.length / 2)] ^= 0x40;
  const future = Buffer.from(int8);
  future[4] = version + 1; // the version varint follows the 4-byte magic
  // The MNIST layout: header (magic, version, u32 length) = 9 bytes; then the input
  // (variant 0, pixels: width, height, channels as one-byte varints, f32 scale, u8 zero
  // point), the classes, no model name, no class names and the layer count (one byte each);
  // then layer 0's inputs (784: varint 0x90 0x06).
  assert.deepEqual([...int8.subarray(9, 13)], [0, 28, 28, 1]);
  assert.deepEqual([...int8.subarray(18, 22)], [10, 0, 0, 2]);
  assert.deepEqual([...int8.subarray(22, 24)], [0x90, 0x06]);
  return {
    corrupt,
    'wrong version': future,
    truncated: int8.subarray(0, 1000),
    'not a model': Buffer.from('<!doctype html><title>404</title>'),
    empty: Buffer.alloc(0),
    'zero-width input': resealed(int8, (b) => { b[10] = 0; }),
    'layer 0 shape': resealed(int8, (b) => { b[22] = 0x91; }),
    'class count': resealed(int8, (b) => { b[18] = 11; }),
    'name option tag': resealed(int8, (b) => { b[19] = 2; }),
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
  assert.deepEqual(rt.input, { width: 28, height: 28, channels: 1, length: 784, features: false });
  assert.equal(rt.modelName, null);
  assert.equal(rt.className(0), null);
  rt.load(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.length));
  assert.equal(rt.kind, 'f32');
});

test('the default builds run int8 models, the f32 build both kinds', async () => {
  for (const variant of ['simd', 'baseline']) {
    const rt = await runtime(variant);
    assert.deepEqual(rt.kinds, ['int8']);
    assert.equal(rt.runs('f32'), false);
    // An f32 model loads (so the caller learns its kind) but does not run, and says why.
    rt.load(f32);
    assert.equal(rt.kind, 'f32');
    assert.throws(() => rt.classify(image), {
      name: 'TinyMLPError',
      message: 'scratch buffer is for int8 models but this model is f32',
    });
  }
  const rt = await runtime('f32');
  assert.deepEqual(rt.kinds, ['f32', 'int8']);
  rt.load(f32);
  assert.equal(rt.classify(image).raw.constructor, Float32Array);
  rt.load(int8);
  assert.equal(rt.classify(image).raw.constructor, Int32Array);
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
  assert.equal(
    messages['wrong version'],
    `unsupported model format version ${version + 1} (this runtime reads versions 2 to ${version})`,
  );
  assert.equal(messages.truncated, 'model blob is truncated');
  assert.equal(messages['not a model'], 'not a tinymlp model (bad magic tag)');
  assert.equal(messages['zero-width input'], 'input: width 0 is outside 1..=4096');
  assert.equal(messages['layer 0 shape'], 'layer 0: takes 785 inputs but the previous stage produces 784');
  assert.equal(messages['class count'], 'model declares 11 classes but its last layer has 10 outputs');
  // The model name's Option tag is 0 or 1.
  assert.equal(messages['name option tag'], 'model blob is malformed (postcard decoding failed)');
});

test('a wrong input length fails with the runtime message', async () => {
  const rt = await runtime();
  rt.load(int8);
  assert.throws(() => rt.classify(new Uint8Array(783)), {
    name: 'TinyMLPError',
    message: 'input has 783 values, the model expects 784',
  });
  assert.throws(() => rt.classify(new Uint8Array(5000)), {
    message: 'input has 5000 values, the model expects 784',
  });
  // The model is still there.
  assert.equal(rt.classify(image).probabilities.length, 10);
});

/** FORMAT.md's feature example (`tiny_features_int8_model`): two raw features, temperature
 *  in °C and pressure in hPa, standardized in the model; named "weather", classes "dry" and
 *  "rain". The fuzz corpus seed holds it after the fuzz target's mode byte. */
const weather = fs.readFileSync(
  path.join(rootDir, 'runtime', 'fuzz', 'corpus', 'loader', 'seed-tiny-features-int8-raw'),
).subarray(1);

test('a feature model takes raw sensor values and names its classes', async () => {
  for (const variant of Object.keys(wasmVariants)) {
    const rt = await runtime(variant);
    rt.load(weather);
    assert.equal(rt.kind, 'int8');
    assert.deepEqual(rt.input, { width: 0, height: 0, channels: 0, length: 2, features: true });
    assert.equal(rt.modelName, 'weather');
    assert.deepEqual([0, 1, 2, -1, 0.5].map((i) => rt.className(i)), ['dry', 'rain', null, null, null]);
    // FORMAT.md §5.1's hand-computed sums.
    const rain = rt.predictFeatures(new Float32Array([24.0, 1012.0]));
    assert.equal(rain.class, 1);
    assert.equal(rt.className(rain.class), 'rain');
    assert.deepEqual(Array.from(rain.raw), [-768, 4736]);
    const dry = rt.predictFeatures([30.0, 990.0]); // a plain array too
    assert.deepEqual({ class: dry.class, raw: Array.from(dry.raw) }, { class: 0, raw: [16320, -14272] });
    assert.ok(Math.abs(dry.probabilities[0] + dry.probabilities[1] - 1) < 1e-6);
    // Every error is the runtime's.
    assert.throws(() => rt.predictFeatures(new Float32Array([24.0, NaN])), {
      name: 'TinyMLPError',
      message: 'feature 1 is NaN or infinite (raw or standardized)',
    });
    assert.throws(() => rt.predictFeatures(new Float32Array(3)), {
      message: 'input has 3 values, the model expects 2',
    });
    assert.throws(() => rt.classify(new Uint8Array(2)), {
      message: 'model takes features: call predict_features',
    });
    // A pixel model refuses features, and has no names.
    rt.load(int8);
    assert.equal(rt.modelName, null);
    assert.throws(() => rt.predictFeatures(new Float32Array(784)), {
      message: 'model takes pixels: call predict',
    });
  }
});

test('every build predicts a feature model with the same bits', async () => {
  fs.mkdirSync(outputDir, { recursive: true });
  const file = path.join(outputDir, 'weather.tmlp');
  fs.writeFileSync(file, weather);
  assert.equal(native('load', file), 'ok');
  // The corpus test compares every feature model of the fuzz corpus bit for bit; here the
  // same blob's digest over many raw inputs, across the clamping range, in every build.
  const rt = await runtime();
  rt.load(weather);
  rt.startDigest();
  const classes = [];
  for (let t = -20; t <= 60; t += 0.5) {
    for (let p = 950; p <= 1050; p += 2.5) classes.push(rt.predictFeatures([t, p]).class);
  }
  const digest = rt.finishDigest();
  assert.ok(classes.includes(0) && classes.includes(1), 'both classes occur');
  for (const variant of Object.keys(wasmVariants)) {
    const other = await runtime(variant);
    other.load(weather);
    other.startDigest();
    for (let t = -20; t <= 60; t += 0.5) {
      for (let p = 950; p <= 1050; p += 2.5) other.predictFeatures([t, p]);
    }
    assert.equal(other.finishDigest(), digest, variant);
  }
});

test('every build of the module exports the same API', async () => {
  const names = async (variant) => Object.keys((await runtime(variant)).wasm).sort();
  const simd = await names('simd');
  for (const variant of Object.keys(wasmVariants)) assert.deepEqual(await names(variant), simd);
});

/** The ids of a wasm module's sections, in order. */
function sectionIds(bytes) {
  const ids = [];
  let at = 8; // magic and version
  while (at < bytes.length) {
    ids.push(bytes[at++]);
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++];
      size |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    at += size;
  }
  return ids;
}

test('no build links formatting code: no function table, no imports', () => {
  // core::fmt reaches the Display impls it formats with only through a function table, and
  // a panic's message is formatted by core::fmt: no table means neither is in the module.
  const TABLE = 4;
  const ELEMENT = 9;
  const IMPORT = 2;
  for (const [variant, file] of Object.entries(wasmVariants)) {
    const ids = sectionIds(fs.readFileSync(file));
    assert.ok(ids.includes(10), `${variant}: no code section found in ${ids}`);
    for (const id of [TABLE, ELEMENT, IMPORT]) assert.ok(!ids.includes(id), `${variant}: section ${id}`);
  }
});
