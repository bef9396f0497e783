// Shared by the web tests and the benchmark: paths, the native helper, MNIST files, CRC-32C.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TinyMLP } from '../tinymlp.js';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const rootDir = path.resolve(webDir, '..');
export const distDir = path.join(webDir, 'dist');
export const outputDir = path.join(webDir, 'test-output');
export const nativeBin = path.join(webDir, 'target', 'native', 'tinymlp-web-native');
export const mnistDir = path.join(rootDir, 'data', 'mnist');
export const trainedInt8 = path.join(rootDir, 'models', 'mnist-int8.tmlp');
export const trainedF32 = path.join(rootDir, 'models', 'mnist-f32.tmlp');
/** A feature model (13 raw features of a wine, 3 classes) and its test split, as the
 *  firmware's `tabular` build runs them. */
export const wineInt8 = path.join(rootDir, 'models', 'wine-int8.tmlp');
export const wineF32 = path.join(rootDir, 'models', 'wine-f32.tmlp');
export const wineTestFeatures = path.join(rootDir, 'models', 'wine-test-features.bin');

/** The builds of the module: `simd` ships (as dist/tinymlp.wasm), `baseline` runs without
 *  wasm SIMD; both run int8 models only. `f32` (dist/tinymlp-f32.wasm) runs f32 models too. */
export const wasmVariants = {
  simd: path.join(webDir, 'target', 'wasm', 'tinymlp-simd.wasm'),
  baseline: path.join(webDir, 'target', 'wasm', 'tinymlp-baseline.wasm'),
  f32: path.join(webDir, 'target', 'wasm', 'tinymlp-f32.wasm'),
};

/** The kinds of model each build runs. */
export const variantKinds = { simd: ['int8'], baseline: ['int8'], f32: ['f32', 'int8'] };

function need(file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return file;
}

export function native(...args) {
  need(nativeBin, 'run scripts/web-build.sh first');
  return execFileSync(nativeBin, args, { encoding: 'utf8', maxBuffer: 64 << 20 }).trim();
}

export async function runtime(variant = 'simd') {
  const file = need(wasmVariants[variant], 'run scripts/web-build.sh first');
  return TinyMLP.instantiate(fs.readFileSync(file));
}

/** Deterministic random-weights models (written by the native helper) for tests that do not
 *  need a trained one: any valid blob must give the same bits in wasm as natively. */
export function randomBlob(kind) {
  fs.mkdirSync(outputDir, { recursive: true });
  const file = path.join(outputDir, `random-${kind}.tmlp`);
  // Made again whenever the native helper was rebuilt (the format may have changed), through a
  // rename so that test files running in parallel never read half a blob.
  const stale = !fs.existsSync(file) || fs.statSync(file).mtimeMs < fs.statSync(nativeBin).mtimeMs;
  if (stale) {
    const partial = `${file}.${process.pid}`;
    native('random-blob', partial, kind, kind === 'int8' ? '1' : '2');
    fs.renameSync(partial, file);
  }
  return file;
}

export const mnistImages = () =>
  need(path.join(mnistDir, 't10k-images-idx3-ubyte'), 'fetch MNIST into data/mnist first');
export const mnistLabels = () =>
  need(path.join(mnistDir, 't10k-labels-idx1-ubyte'), 'fetch MNIST into data/mnist first');

/** The images of an IDX3 u8 file as subarrays of `rows * columns` pixels. */
export function readImages(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.readUInt32BE(0) !== 0x0803) throw new Error(`${file}: not an IDX3 u8 file`);
  const [count, rows, columns] = [4, 8, 12].map((at) => bytes.readUInt32BE(at));
  const size = rows * columns;
  return Array.from({ length: count }, (_, i) => bytes.subarray(16 + i * size, 16 + (i + 1) * size));
}

export function readLabels(file) {
  return fs.readFileSync(file).subarray(8);
}

/** The records of a feature model's inputs file (`datasets/features_bin.py`: for each input,
 *  `[label u8][f32 LE x features]`) as `{ label, features }`, `features` a Float32Array. */
export function readFeatureRecords(file, features) {
  const bytes = fs.readFileSync(file);
  const size = 1 + 4 * features;
  if (bytes.length === 0 || bytes.length % size !== 0) {
    throw new Error(`${file}: ${bytes.length} bytes are not whole records of 1 + 4 x ${features} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / size }, (_, i) => ({
    label: bytes[i * size],
    features: Float32Array.from({ length: features }, (_, f) => view.getFloat32(i * size + 1 + 4 * f, true)),
  }));
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (iSCSI), the runtime's checksum, over many byte arrays in turn. */
export class Crc32c {
  constructor() {
    this.value = 0xffffffff;
  }

  update(bytes) {
    let c = this.value;
    for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    this.value = c >>> 0;
  }

  finish() {
    return (this.value ^ 0xffffffff) >>> 0;
  }
}
