// tinymlp.js: run tinymlp model blobs (`.tmlp`) in Node and in browsers.
//
// A thin wrapper over the tinymlp WebAssembly module (`tinymlp.wasm`, built from web/wasm),
// which is the Rust runtime itself: the same loader, the same validation, the same kernels,
// the same bits as on a host or a microcontroller. No dependencies, no generated glue.
//
//   import { TinyMLP } from './tinymlp.js';
//   const runtime = await TinyMLP.instantiate(fetch('tinymlp.wasm'));   // or bytes, in Node
//   runtime.load(new Uint8Array(await (await fetch('mnist-int8.tmlp')).arrayBuffer()));
//   const { class: digit, probabilities } = runtime.classify(pixels);  // 784 u8 grey levels
//
// A model of raw sensor values (`runtime.input.features`) takes them as they come, and may
// name its classes:
//
//   const { class: c } = runtime.predictFeatures(new Float32Array([24.0, 1012.0]));
//   runtime.className(c);   // 'rain' (null if the model has no class names)
//
// Errors are `TinyMLPError`s whose message is the runtime's own `Display` text, e.g.
// "model blob is corrupt (CRC-32 mismatch)".
//
// One instance holds one model at a time; `load` replaces it (and, if it fails, leaves no
// model loaded). Create another instance for a second model (each costs ~200 KB of memory).
//
// Two builds of the module: `tinymlp.wasm` runs int8 models (the small one, for the page),
// `tinymlp-f32.wasm` runs f32 models too. `runtime.runs(runtime.kind)` after a `load` tells
// whether the build at hand can classify with the model just loaded.

/** An error reported by the tinymlp runtime; `message` is its `Display` text. */
export class TinyMLPError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TinyMLPError';
  }
}

const KINDS = [null, 'f32', 'int8'];

export class TinyMLP {
  /**
   * Instantiates the wasm module.
   * @param {BufferSource | WebAssembly.Module | Response | Promise<Response>} source
   *   the module's bytes (Node: `fs.readFileSync(path)`), a compiled module, or a fetch.
   * @returns {Promise<TinyMLP>}
   */
  static async instantiate(source) {
    let input = await source;
    if (typeof Response !== 'undefined' && input instanceof Response) {
      if (!input.ok) throw new TinyMLPError(`could not fetch ${input.url} (HTTP ${input.status})`);
      input = await input.arrayBuffer();
    }
    const instance = input instanceof WebAssembly.Module
      ? await WebAssembly.instantiate(input, {})
      : (await WebAssembly.instantiate(input, {})).instance;
    return new TinyMLP(instance.exports);
  }

  /** @param {WebAssembly.Exports} exports the instance's exports. */
  constructor(exports) {
    this.wasm = exports;
    this.decoder = new TextDecoder();
  }

  /**
   * Loads (copies and validates) a model blob, replacing the current model.
   * @param {ArrayBuffer | Uint8Array} blob the `.tmlp` file's bytes.
   * @throws {TinyMLPError} with the runtime's message if the blob is not a valid model.
   */
  load(blob) {
    const bytes = blob instanceof Uint8Array ? blob : new Uint8Array(blob);
    const pointer = this.wasm.tmlp_blob_buffer(bytes.length);
    if (pointer === 0) {
      throw new TinyMLPError(`no memory for a ${bytes.length}-byte model`);
    }
    new Uint8Array(this.wasm.memory.buffer, pointer, bytes.length).set(bytes);
    if (this.wasm.tmlp_load(bytes.length) !== 0) throw this.error();
  }

  /** The module's `ModelInfo`: kinds, kind, classes, layers, width, height, channels,
   *  input length, features (a fresh view: memory may have grown since the last call). */
  info() {
    return new Uint32Array(this.wasm.memory.buffer, this.wasm.tmlp_model(), 9);
  }

  /** The loaded model's parameter kind: 'int8', 'f32', or null without a model. */
  get kind() {
    return KINDS[this.info()[1]] ?? null;
  }

  /** The parameter kinds this build of the module runs: `['int8']` for the default build
   *  (`tinymlp.wasm`), `['f32', 'int8']` for the f32 build (`tinymlp-f32.wasm`). Either build
   *  loads any valid model, so `load` tells the kind even where `classify` cannot run it. */
  get kinds() {
    const bits = this.info()[0];
    return KINDS.filter((kind, code) => kind && (bits >> code) & 1);
  }

  /** Whether this build runs models of `kind` ('int8' or 'f32'). */
  runs(kind) {
    return this.kinds.includes(kind);
  }

  /** Number of classes (0 without a model). */
  get classes() {
    return this.info()[2];
  }

  /** The input the model expects: `length` values, and whether they are raw `f32` features
   *  (`features: true`, for `predictFeatures`; the image sizes are then 0) or `u8` pixels of
   *  a `width` x `height` x `channels` image (for `classify`). */
  get input() {
    const [, , , , width, height, channels, length, features] = this.info();
    return { width, height, channels, length, features: features === 1 };
  }

  /** The model's name, or null if it has none (or no model is loaded). */
  get modelName() {
    return this.name(-1);
  }

  /** The name of class `index`, or null if the model does not name its classes. */
  className(index) {
    return Number.isInteger(index) && index >= 0 ? this.name(index) : null;
  }

  /** A name from the blob (validated UTF-8 there), or null. */
  name(index) {
    const buffer = this.wasm.memory.buffer;
    const [at, length] = new Uint32Array(buffer, this.wasm.tmlp_name(index), 2);
    return length === 0 ? null : this.decoder.decode(new Uint8Array(buffer, at, length));
  }

  /** Number of dense layers (0 without a model). */
  get layers() {
    return this.info()[3];
  }

  /**
   * Classifies one image of raw u8 pixels (row-major, `input.length` values).
   * @param {Uint8Array | Uint8ClampedArray | number[]} pixels
   * @returns {{class: number, probability: number, probabilities: Float32Array,
   *            raw: Int32Array | Float32Array}} the most probable class, its probability,
   *   every class's probability, and the last layer's raw outputs (int32 sums of an int8
   *   model, f32 logits of an f32 model).
   * @throws {TinyMLPError} without a model, or if `pixels` has the wrong length.
   */
  classify(pixels) {
    const w = this.wasm;
    // The runtime checks the length (and words the error); copy what fits its buffer.
    const length = Math.min(pixels.length, w.tmlp_input_capacity());
    new Uint8Array(w.memory.buffer, w.tmlp_input_ptr(), length).set(
      length === pixels.length ? pixels : Array.prototype.slice.call(pixels, 0, length),
    );
    return this.outputs(w.tmlp_predict(pixels.length));
  }

  /**
   * Classifies one vector of raw features (sensor values as they come: the model carries
   * their standardization), for a model whose `input.features` is true.
   * @param {Float32Array | number[]} features `input.length` values.
   * @returns the same as `classify`.
   * @throws {TinyMLPError} without a model, for a pixel model, if `features` has the wrong
   *   length, or if a feature is NaN or infinite (naming it).
   */
  predictFeatures(features) {
    const w = this.wasm;
    const length = Math.min(features.length, w.tmlp_input_capacity());
    new Float32Array(w.memory.buffer, w.tmlp_features_ptr(), length).set(
      length === features.length ? features : Array.prototype.slice.call(features, 0, length),
    );
    return this.outputs(w.tmlp_predict_features(features.length));
  }

  /** The result of a prediction that returned `found` (the class, or -1 on an error). */
  outputs(found) {
    const w = this.wasm;
    if (found < 0) throw this.error();
    const [, kind, classes] = this.info();
    const buffer = w.memory.buffer;
    const probabilities = new Float32Array(buffer, w.tmlp_probabilities_ptr(), classes).slice();
    const RawArray = kind === 2 ? Int32Array : Float32Array;
    const raw = new RawArray(buffer, w.tmlp_raw_ptr(), classes).slice();
    return { class: found, probability: probabilities[found], probabilities, raw };
  }

  /** Starts digesting: every later `classify` adds its raw outputs to the runtime's
   *  `OutputDigest` (a CRC-32C), for bit-exact comparisons with other targets. */
  startDigest() {
    this.wasm.tmlp_digest_start();
  }

  /** The digest since `startDigest` (unsigned 32-bit); stops digesting. */
  finishDigest() {
    return this.wasm.tmlp_digest_finish() >>> 0;
  }

  /** The runtime's last error as a TinyMLPError. The module has no formatting code: it
   *  reports a static template and three numbers, filled in here exactly as the runtime's
   *  `Error::template` documents, which gives the runtime's `Display` text. */
  error() {
    const buffer = this.wasm.memory.buffer;
    const [at, length, ...values] = new Uint32Array(buffer, this.wasm.tmlp_error(), 5);
    const template = this.decoder.decode(new Uint8Array(buffer, at, length));
    let next = 0;
    const message = template.replace(/\{(layer|kind)?\}/g, (_, what) => {
      const value = values[next++];
      if (what === 'layer') return value === 255 ? 'input' : `layer ${value}`;
      if (what === 'kind') return ['f32', 'int8'][value] ?? `kind ${value}`;
      return String(value);
    });
    return new TinyMLPError(message);
  }
}
