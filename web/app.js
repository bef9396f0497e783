// The drawing page: a pad, the MNIST-style input it makes, and what the model reads.
import { TinyMLP } from './tinymlp.js';
import { notADigit, strokesInput } from './preprocess.js';

/** Width of the pen on the 280x280 pad, for the eye only: the model reads the strokes, drawn
 *  again with a pen of MNIST's width once scaled (preprocess.js), whatever their size. */
const PEN_WIDTH = 14;
/** Below this top probability the page says it is not sure rather than name a digit. On
 *  MNIST's test set it holds back 57 of the int8 model's 191 errors and 62 of its 9,809 right
 *  answers; on 2,100 drawings of test/handwriting.mjs, 1 error and 2 right answers. */
const SURE_FROM = 0.6;

const $ = (id) => document.getElementById(id);
const pad = $('pad');
const padContext = pad.getContext('2d');
const inputCanvas = $('input28');
const inputContext = inputCanvas.getContext('2d');

/** The int8 build of the runtime (tinymlp.wasm), which the page starts with. */
let base = null;
/** The build that runs f32 models too (tinymlp-f32.wasm, larger), as a promise: fetched the
 *  first time a user loads an f32 model. */
let withF32 = null;
/** The build that holds the current model (null while one is being loaded). */
let runtime = null;
/** The loaded model, kept so a failed load can fall back to it. */
let current = null;
let scheduled = false;
/** Whether the next update also measures the inference time (when a stroke ends). */
let measure = false;

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setStatus(text) {
  $('model-status').textContent = text;
}

function describe(name, bytes) {
  const { width, height, length, features } = runtime.input;
  const input = features ? `${length} raw features` : `${width}x${height} input`;
  const title = runtime.modelName ? `${runtime.modelName}, from ${name}` : name;
  return `model: ${title} (${runtime.kind}, ${runtime.layers} layers, ${input}, ` +
    `${runtime.classes} classes, ${(bytes.length / 1024).toFixed(0)} KB)`;
}

/** What the page calls class `k`: the model's name for it, or its number. */
function label(k) {
  return runtime?.className(k) ?? String(k);
}

function runtimeWithF32() {
  withF32 ??= TinyMLP.instantiate(fetch('tinymlp-f32.wasm')).catch((error) => {
    withF32 = null;
    throw error;
  });
  return withF32;
}

/** Loads a blob into the build that runs its kind; throws the runtime's error. Every build
 *  loads (validates) every model, so the int8 one tells the kind first. */
async function loadInto(bytes) {
  runtime = null;
  base.load(bytes);
  if (base.runs(base.kind)) return base;
  const other = await runtimeWithF32();
  other.load(bytes);
  return other;
}

/** Loads a blob; on failure shows the runtime's message and keeps the previous model. */
async function loadModel(bytes, name) {
  try {
    runtime = await loadInto(bytes);
  } catch (error) {
    showError(`Could not load ${name}: ${error.message}`);
    if (current) {
      runtime = await loadInto(current.bytes);
      setStatus(`${describe(current.name, current.bytes)}; ${name} was rejected`);
    } else {
      setStatus('no model loaded');
    }
    return false;
  }
  current = { bytes, name };
  measure = true;
  clearError();
  setStatus(describe(name, bytes));
  buildBars(runtime.classes);
  update();
  return true;
}

function buildBars(classes) {
  const list = $('bars');
  list.replaceChildren();
  for (let k = 0; k < classes; k++) {
    const item = document.createElement('li');
    item.dataset.class = String(k);
    item.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span>' +
      '<span class="value">–</span>';
    // A class name is the model's text: set as text, never as markup.
    item.querySelector('.label').textContent = label(k);
    list.append(item);
  }
}

const percent = (p) => `${(p * 100).toFixed(1)} %`;

/**
 * Shows what the model read: a digit, or that the page is not sure (a low top probability,
 * or `problem`, a reason the drawing cannot be a digit), or nothing (result null).
 */
function showResult(result, problem = null) {
  const sure = Boolean(result) && !problem && result.probability >= SURE_FROM;
  const prediction = $('prediction');
  prediction.textContent = sure ? label(result.class) : '?';
  prediction.dataset.class = sure ? String(result.class) : '';
  prediction.dataset.state = !result ? 'empty' : sure ? 'digit' : 'unsure';
  prediction.dataset.reason = !result || sure ? '' : (problem ?? 'low confidence');
  let message = 'draw a digit';
  if (problem === 'too small') message = 'Too small to read as a digit: draw it bigger.';
  else if (problem === 'too much ink') message = 'Too much ink for one digit: clear the pad and draw again.';
  else if (result && !sure) {
    const likeliest = [...result.probabilities.keys()]
      .sort((a, b) => result.probabilities[b] - result.probabilities[a])
      .slice(0, 2)
      .map((k) => `${label(k)} (${percent(result.probabilities[k])})`);
    message = `Not sure: maybe ${likeliest.join(' or ')}.`;
  } else if (result) message = `${percent(result.probability)} sure`;
  $('confidence').textContent = message;
  // A drawing that cannot be a digit gets no bars: what the model says about it means nothing.
  const shown = problem ? null : result;
  const items = $('bars').children;
  for (let k = 0; k < items.length; k++) {
    const p = shown ? shown.probabilities[k] : 0;
    items[k].querySelector('.fill').style.width = `${(p * 100).toFixed(1)}%`;
    items[k].querySelector('.value').textContent = shown ? percent(p) : '–';
    items[k].classList.toggle('top', sure && k === result.class);
    items[k].dataset.probability = String(p);
  }
}

function showInput(pixels) {
  const image = inputContext.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = pixels ? pixels[i] : 0;
    image.data.set([v, v, v, 255], i * 4);
  }
  inputContext.putImageData(image, 0, 0);
}

/** Preprocesses the drawing and classifies it; runs at most once per animation frame. */
function update() {
  scheduled = false;
  const pixels = strokesInput(strokes);
  showInput(pixels);
  if (!pixels || !runtime || !current) {
    showResult(null);
    return;
  }
  const input = runtime.input;
  if (input.features || input.length !== pixels.length) {
    showResult(null);
    const reads = input.features
      ? `${input.length} raw features (predictFeatures in tinymlp.js)`
      : `${input.width}x${input.height}x${input.channels} inputs`;
    showError(`This model reads ${reads}; the pad makes 28x28 grey images.`);
    return;
  }
  try {
    showResult(runtime.classify(pixels), notADigit(strokes, pixels, pad.width));
    if (measure) showLatency(pixels);
  } catch (error) {
    showResult(null);
    showError(error.message);
  }
}

/** Times repeated inferences of the same input for about 5 ms: browsers coarsen
 *  performance.now() (Chromium to 100 µs), far above the time of one inference. */
function showLatency(pixels) {
  measure = false;
  let repetitions = 0;
  let elapsed = 0;
  const start = performance.now();
  do {
    runtime.classify(pixels);
    repetitions++;
    elapsed = performance.now() - start;
  } while (elapsed < 5 && repetitions < 2000);
  $('latency').textContent = `inference ${((elapsed * 1000) / repetitions).toFixed(1)} µs`;
}

function scheduleUpdate() {
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(update);
  }
}

// Drawing: pointer events cover mouse, pen and touch alike.
/** The drawing: strokes of [x, y] points in pad pixels, clipped to the pad. */
let strokes = [];
/** The pointer drawing now: its id, its last point (maybe off the pad) and the stroke it
 *  extends (null while it is off the pad), or null. Only one pointer draws at a time: a
 *  second finger resting on the pad while the first draws adds nothing. */
let pointer = null;

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [((event.clientX - rect.left) * pad.width) / rect.width, ((event.clientY - rect.top) * pad.height) / rect.height];
}

const onPad = ([x, y]) => x >= 0 && y >= 0 && x <= pad.width && y <= pad.height;

/**
 * The part of the segment a-b on the pad (Liang-Barsky), with whether it starts where the
 * segment enters the pad, or null if none of it is on the pad.
 */
function clipToPad(a, b) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  let t0 = 0, t1 = 1;
  const edges = [[-dx, a[0]], [dx, pad.width - a[0]], [-dy, a[1]], [dy, pad.height - a[1]]];
  for (const [p, q] of edges) {
    if (p === 0) {
      if (q < 0) return null;
    } else if (p < 0) t0 = Math.max(t0, q / p);
    else t1 = Math.min(t1, q / p);
  }
  if (t0 > t1) return null;
  const at = (t) => [a[0] + t * dx, a[1] + t * dy];
  return { from: at(t0), to: at(t1), entering: t0 > 0 };
}

function paint(from, to) {
  padContext.fillStyle = padContext.strokeStyle = '#ffffff';
  if (from[0] === to[0] && from[1] === to[1]) {
    // A tap: a dot (a line of length 0 draws nothing).
    padContext.beginPath();
    padContext.arc(from[0], from[1], PEN_WIDTH / 2, 0, 2 * Math.PI);
    padContext.fill();
    return;
  }
  padContext.lineWidth = PEN_WIDTH;
  padContext.lineCap = 'round';
  padContext.beginPath();
  padContext.moveTo(...from);
  padContext.lineTo(...to);
  padContext.stroke();
}

function startDrawing(event) {
  const point = padPoint(event);
  pointer = { id: event.pointerId, last: point, stroke: null };
  if (onPad(point)) {
    pointer.stroke = [point];
    strokes.push(pointer.stroke);
    paint(point, point);
  }
  pad.setPointerCapture(event.pointerId);
  scheduleUpdate();
}

function drawTo(point) {
  const part = clipToPad(pointer.last, point);
  pointer.last = point;
  if (!part) {
    pointer.stroke = null;
    return;
  }
  if (!pointer.stroke || part.entering) {
    pointer.stroke = [part.from];
    strokes.push(pointer.stroke);
  }
  pointer.stroke.push(part.to);
  paint(part.from, part.to);
}

pad.addEventListener('pointerdown', (event) => {
  // The right and middle buttons do not draw, nor does a pointer while another one draws.
  if (pointer || event.button !== 0) return;
  event.preventDefault();
  startDrawing(event);
});
pad.addEventListener('pointermove', (event) => {
  if (!pointer) {
    // A mouse or pen stroke that started off the pad draws from where it enters.
    if (event.pointerType !== 'touch' && event.buttons === 1) startDrawing(event);
    return;
  }
  if (event.pointerId !== pointer.id) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) drawTo(padPoint(e));
  scheduleUpdate();
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, (event) => {
    if (pointer?.id !== event.pointerId) return;
    pointer = null;
    measure = true;
    scheduleUpdate();
  });
}
$('clear').addEventListener('click', () => {
  strokes = [];
  pointer = null;
  padContext.clearRect(0, 0, pad.width, pad.height);
  $('latency').textContent = '';
  update();
});

// Loading a model from a dropped or chosen file.
async function loadFile(file) {
  if (!base) return;
  await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
}

let dragDepth = 0;
document.addEventListener('dragenter', (event) => {
  event.preventDefault();
  dragDepth++;
  $('dropzone').hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('dropzone').hidden = true;
});
document.addEventListener('dragover', (event) => event.preventDefault());
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  $('dropzone').hidden = true;
  const file = event.dataTransfer?.files?.[0];
  if (file) loadFile(file);
});
$('file').addEventListener('change', (event) => {
  const file = event.target.files?.[0];
  if (file) loadFile(file);
  event.target.value = '';
});

async function start() {
  showInput(null);
  try {
    const response = await fetch('tinymlp.wasm');
    if (!response.ok) throw new Error(`could not fetch tinymlp.wasm (HTTP ${response.status})`);
    const wasm = await response.arrayBuffer();
    $('wasm-size').textContent = `${(wasm.byteLength / 1024).toFixed(1)} KB`;
    base = await TinyMLP.instantiate(wasm);
  } catch (error) {
    showError(`Could not start the WebAssembly runtime: ${error.message}`);
    setStatus('no runtime');
    return;
  }
  const url = new URLSearchParams(location.search).get('model') ?? 'models/mnist-int8.tmlp';
  const name = url.split('/').pop();
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await loadModel(new Uint8Array(await response.arrayBuffer()), name);
  } catch (error) {
    showError(`Could not fetch ${url} (${error.message}). Drop a .tmlp model on the page.`);
    setStatus('no model loaded');
  }
}

start().finally(() => {
  document.body.dataset.ready = 'true';
});
