// The drawing page: a pad, the MNIST-style input it makes, and what the model reads.
import { TinyMLP } from './tinymlp.js';
import { alphaChannel, mnistInput } from './preprocess.js';

/** Pen width on the 280x280 pad: about 2.4 pixels once a digit is scaled to 20x20, like
 *  MNIST strokes (all ten test shapes read right from 14 to 32). */
const PEN_WIDTH = 24;

const $ = (id) => document.getElementById(id);
const pad = $('pad');
const padContext = pad.getContext('2d', { willReadFrequently: true });
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
  const { width, height } = runtime.input;
  return `model: ${name} (${runtime.kind}, ${runtime.layers} layers, ${width}x${height} input, ` +
    `${runtime.classes} classes, ${(bytes.length / 1024).toFixed(0)} KB)`;
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
    item.innerHTML = `<span class="label">${k}</span><span class="track"><span class="fill"></span></span>` +
      '<span class="value">–</span>';
    list.append(item);
  }
}

function showResult(result) {
  $('prediction').textContent = result ? String(result.class) : '?';
  $('prediction').dataset.class = result ? String(result.class) : '';
  $('confidence').textContent = result
    ? `${(result.probability * 100).toFixed(1)} % sure`
    : 'draw a digit';
  const items = $('bars').children;
  for (let k = 0; k < items.length; k++) {
    const p = result ? result.probabilities[k] : 0;
    items[k].querySelector('.fill').style.width = `${(p * 100).toFixed(1)}%`;
    items[k].querySelector('.value').textContent = result ? `${(p * 100).toFixed(1)} %` : '–';
    items[k].classList.toggle('top', Boolean(result) && k === result.class);
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
  const { width, height } = pad;
  const pixels = mnistInput(alphaChannel(padContext.getImageData(0, 0, width, height).data), width, height);
  showInput(pixels);
  if (!pixels || !runtime || !current) {
    showResult(null);
    return;
  }
  const input = runtime.input;
  if (input.length !== pixels.length) {
    showResult(null);
    showError(`This model reads ${input.width}x${input.height}x${input.channels} inputs; ` +
      'the pad makes 28x28 grey images.');
    return;
  }
  try {
    showResult(runtime.classify(pixels));
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
let last = null;

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) * pad.width) / rect.width,
    y: ((event.clientY - rect.top) * pad.height) / rect.height,
  };
}

function strokeTo(point) {
  padContext.lineWidth = PEN_WIDTH;
  padContext.lineCap = 'round';
  padContext.lineJoin = 'round';
  padContext.strokeStyle = '#ffffff';
  padContext.beginPath();
  padContext.moveTo(last.x, last.y);
  padContext.lineTo(point.x, point.y);
  padContext.stroke();
  last = point;
}

pad.addEventListener('pointerdown', (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  last = padPoint(event);
  strokeTo(last);
  scheduleUpdate();
});
pad.addEventListener('pointermove', (event) => {
  if (!last) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) strokeTo(padPoint(e));
  scheduleUpdate();
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    if (last) {
      measure = true;
      scheduleUpdate();
    }
    last = null;
  });
}
$('clear').addEventListener('click', () => {
  padContext.clearRect(0, 0, pad.width, pad.height);
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
