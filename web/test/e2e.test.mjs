// The page in headless Chromium: draw digits with the mouse, read what the page shows,
// drop broken and valid blobs on it. Screenshots go to web/test-output/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { distDir, native, outputDir, randomBlob, rootDir, trainedInt8 } from './helpers.mjs';
import { CHROMIUM, serve } from './server.mjs';

const trained = fs.existsSync(trainedInt8);
const needsTrained = !trained && 'models/mnist-int8.tmlp not committed yet';
let server;
let browser;

before(async () => {
  assert.ok(fs.existsSync(path.join(distDir, 'index.html')), 'run scripts/web-build.sh first');
  if (trained) {
    const served = path.join(distDir, 'models', 'mnist-int8.tmlp');
    assert.ok(
      fs.existsSync(served) && fs.readFileSync(served).equals(fs.readFileSync(trainedInt8)),
      'web/dist has a stale model: run scripts/web-build.sh',
    );
  }
  randomBlob('int8');
  randomBlob('f32');
  fs.mkdirSync(outputDir, { recursive: true });
  server = await serve({ '/': distDir, '/test-models/': outputDir });
  browser = await chromium.launch(CHROMIUM);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A fresh page with the trained model, or the random one where the test allows it. */
async function open(query = trained ? '' : '?model=/test-models/random-int8.tmlp') {
  const page = await browser.newPage({ viewport: { width: 900, height: 760 } });
  page.setDefaultTimeout(15_000);
  const problems = [];
  /** Paths the page requested, from the start. */
  const fetched = [];
  page.on('request', (request) => fetched.push(new URL(request.url()).pathname));
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(`${server.url}/${query}`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems, fetched };
}

/** Draws strokes given in pad coordinates (0..280), one mouse-down per stroke. */
async function draw(page, strokes) {
  const box = await page.locator('#pad').boundingBox();
  const at = ([x, y]) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280];
  for (const [first, ...rest] of strokes) {
    await page.mouse.move(...at(first));
    await page.mouse.down();
    for (const point of rest) await page.mouse.move(...at(point), { steps: 12 });
    await page.mouse.up();
  }
}

async function shown(page) {
  await page.waitForFunction(() => document.getElementById('prediction').dataset.state !== 'empty');
  return page.evaluate(() => {
    const input = document.getElementById('input28').getContext('2d').getImageData(0, 0, 28, 28).data;
    let inked = 0;
    for (let i = 0; i < input.length; i += 4) if (input[i] > 0) inked++;
    const bars = [...document.querySelectorAll('#bars li')];
    return {
      state: document.getElementById('prediction').dataset.state,
      digit: document.getElementById('prediction').textContent,
      message: document.getElementById('confidence').textContent,
      inked,
      probabilities: bars.map((li) => Number(li.dataset.probability)),
      top: bars.filter((li) => li.classList.contains('top')).map((li) => li.dataset.class),
      error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    };
  });
}

/** Drops a file on the page the way a user's drag and drop delivers it. */
async function drop(page, name, bytes) {
  await page.evaluate(async ({ name, data }) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(data)], name));
    for (const type of ['dragenter', 'dragover', 'drop']) {
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
  }, { name, data: Array.from(bytes) });
}

async function errorText(page) {
  await page.waitForSelector('#error:not([hidden])');
  return page.locator('#error').textContent();
}

/** The model read the drawing: a digit, or unsure of it (a random-weights model mostly is). */
function assertAnswered(result) {
  assert.ok(['digit', 'unsure'].includes(result.state), result.state);
  assert.match(result.digit, result.state === 'digit' ? /^[0-9]$/ : /^\?$/);
  assert.match(result.message, result.state === 'digit'
    ? /^[0-9.]+ % sure$/
    : /^Not sure: maybe [0-9] \([0-9.]+ %\) or [0-9] \([0-9.]+ %\)\.$/);
  const total = result.probabilities.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-4, `bars sum to ${total}`);
}

/** Points along an ellipse, in pad coordinates. */
const arc = (cx, cy, rx, ry, from = 0, to = 2 * Math.PI, n = 16) =>
  Array.from({ length: n + 1 }, (_, i) => {
    const a = from + ((to - from) * i) / n;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)];
  });
const PI = Math.PI;

/** One plain way to write each digit, as strokes. */
const DIGITS = {
  0: [arc(140, 140, 60, 95, 0, 2 * PI, 24)],
  1: [[[150, 40], [138, 245]]],
  2: [[...arc(140, 95, 55, 50, PI, 2.1 * PI, 12), [80, 240], [210, 240]]],
  3: [[...arc(135, 90, 50, 45, -PI * 0.9, PI * 0.5, 12), ...arc(135, 185, 55, 50, -PI * 0.5, PI * 0.9, 12)]],
  4: [[[170, 40], [70, 180], [220, 180]], [[170, 90], [170, 250]]],
  5: [[[200, 45], [90, 45], [85, 125], ...arc(135, 180, 60, 55, -PI * 0.8, PI * 0.8, 14)]],
  6: [[[180, 40], [110, 120], ...arc(140, 185, 55, 55, PI, 3 * PI, 20)]],
  7: [[[70, 55], [215, 55], [185, 110], [150, 175], [125, 245]]],
  8: [arc(140, 90, 45, 45, PI / 2, 2.5 * PI), arc(140, 185, 55, 50, -PI / 2, 1.5 * PI)],
  9: [[...arc(140, 95, 55, 50, 0, 2 * PI), [195, 95], [180, 245]]],
};
const ONE = DIGITS[1];
const SEVEN = DIGITS[7];

for (const [digit, strokes] of Object.entries(DIGITS)) {
  test(`drawing a ${digit} shows ${digit}`, { skip: needsTrained }, async () => {
    const { page, problems } = await open();
    await draw(page, strokes);
    const result = await shown(page);
    await page.screenshot({ path: path.join(outputDir, `draw-${digit}.png`) });
    assert.equal(result.digit, digit, JSON.stringify(result.probabilities));
    assert.deepEqual(result.top, [digit]);
    assert.ok(result.inked > 20, `${result.inked} inked input pixels`);
    const total = result.probabilities.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-4, `bars sum to ${total}`);
    assert.equal(result.error, null);
    assert.deepEqual(problems, []);
    await page.close();
  });
}

test('the prediction updates while the user is still drawing', async () => {
  const { page, problems } = await open();
  assert.equal(await page.locator('#prediction').textContent(), '?');
  const box = await page.locator('#pad').boundingBox();
  await page.mouse.move(box.x + 140, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + 140, box.y + 200, { steps: 10 });
  const during = await shown(page);
  assert.match(during.digit, /^[0-9]$/);
  assert.ok(during.inked > 10);
  await page.mouse.up();
  await page.click('#clear');
  await page.waitForFunction(() => document.getElementById('prediction').textContent === '?');
  assert.deepEqual(problems, []);
  await page.close();
});

/** What every readout shows with nothing drawn. */
async function blank(page) {
  return page.evaluate(() => {
    const input = document.getElementById('input28').getContext('2d').getImageData(0, 0, 28, 28).data;
    const pad = document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data;
    return {
      prediction: document.getElementById('prediction').textContent,
      state: document.getElementById('prediction').dataset.state,
      confidence: document.getElementById('confidence').textContent,
      latency: document.getElementById('latency').textContent,
      values: [...document.querySelectorAll('#bars .value')].map((v) => v.textContent).join(''),
      top: document.querySelectorAll('#bars li.top').length,
      inputInk: input.filter((v, i) => i % 4 === 0 && v > 0).length,
      padInk: pad.filter((v, i) => i % 4 === 3 && v > 0).length,
    };
  });
}
const BLANK = {
  prediction: '?', state: 'empty', confidence: 'draw a digit', latency: '',
  values: '–'.repeat(10), top: 0, inputInk: 0, padInk: 0,
};

test('Clear resets every readout, the inference time included', { skip: needsTrained }, async () => {
  const { page, problems } = await open();
  assert.deepEqual(await blank(page), BLANK);
  await draw(page, SEVEN);
  assert.equal((await shown(page)).digit, '7');
  await page.waitForFunction(() => /^inference [0-9.]+ µs$/.test(document.getElementById('latency').textContent));
  await page.click('#clear');
  await page.waitForFunction(() => document.getElementById('prediction').dataset.state === 'empty');
  assert.deepEqual(await blank(page), BLANK);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the right button draws nothing; a stroke that enters the pad draws from there', { skip: needsTrained }, async () => {
  const { page, problems } = await open();
  const box = await page.locator('#pad').boundingBox();
  await page.mouse.move(box.x + 140, box.y + 40);
  await page.mouse.down({ button: 'right' });
  await page.mouse.move(box.x + 140, box.y + 240, { steps: 10 });
  await page.mouse.up({ button: 'right' });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  assert.deepEqual(await blank(page), BLANK);
  // A "1" whose stroke starts 40 px above the pad.
  await page.mouse.move(box.x + 150, box.y - 40);
  await page.mouse.down();
  await page.mouse.move(box.x + 140, box.y + 240, { steps: 20 });
  await page.mouse.up();
  const result = await shown(page);
  assert.equal(result.digit, '1', JSON.stringify(result.probabilities));
  // Its ink starts at the pad's edge.
  const top = await page.evaluate(() => document.getElementById('pad').getContext('2d').getImageData(143, 1, 10, 1).data);
  assert.ok([...top].some((v, i) => i % 4 === 3 && v > 0), 'no ink at the top edge of the pad');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a corrupt blob dropped on the page shows the runtime error and keeps the model', async () => {
  const { page, problems } = await open();
  const good = fs.readFileSync(randomBlob('int8'));
  const corrupt = Buffer.from(good);
  corrupt[200_000] ^= 0x01;
  const corruptFile = path.join(outputDir, 'dropped-corrupt.tmlp');
  fs.writeFileSync(corruptFile, corrupt);
  const message = native('load', corruptFile);
  assert.equal(message, 'model blob is corrupt (CRC-32 mismatch)');

  await drop(page, 'corrupt.tmlp', corrupt);
  assert.equal(await errorText(page), `Could not load corrupt.tmlp: ${message}`);
  assert.match(await page.locator('#model-status').textContent(), /corrupt\.tmlp was rejected/);
  // The previous model still answers.
  await draw(page, ONE);
  const result = await shown(page);
  assert.match(result.digit, /^[0-9]$/);
  await page.screenshot({ path: path.join(outputDir, 'error-corrupt.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a wrong-version blob chosen with the file button shows the runtime error', async () => {
  const { page } = await open();
  const future = Buffer.from(fs.readFileSync(randomBlob('int8')));
  const version = future[4]; // the varint after the magic: the version this runtime writes
  future[4] = version + 1;
  await page.locator('#file').setInputFiles({ name: 'future.tmlp', mimeType: 'application/octet-stream', buffer: future });
  assert.equal(
    await errorText(page),
    `Could not load future.tmlp: unsupported model format version ${version + 1} (this runtime reads versions 2 to ${version})`,
  );
  await page.close();
});

test('a valid blob dropped on the page replaces the model and clears the error', async () => {
  const { page, problems, fetched } = await open();
  await drop(page, 'broken.tmlp', Buffer.from('not a model at all'));
  assert.equal(await errorText(page), 'Could not load broken.tmlp: not a tinymlp model (bad magic tag)');
  // The int8 page has not fetched the f32 build of the runtime; an f32 model makes it.
  assert.deepEqual(fetched.filter((p) => p.endsWith('.wasm')), ['/tinymlp.wasm']);
  await drop(page, 'random-f32.tmlp', fs.readFileSync(randomBlob('f32')));
  await page.waitForFunction(() => document.getElementById('model-status').textContent.includes('random-f32.tmlp (f32'));
  assert.deepEqual(fetched.filter((p) => p.endsWith('.wasm')), ['/tinymlp.wasm', '/tinymlp-f32.wasm']);
  assert.equal(await page.locator('#error').isHidden(), true);
  await draw(page, SEVEN);
  assertAnswered(await shown(page));
  // A rejected blob after it keeps the f32 model.
  await drop(page, 'broken.tmlp', Buffer.from('not a model at all'));
  await page.waitForFunction(() => /random-f32\.tmlp \(f32.*broken\.tmlp was rejected/
    .test(document.getElementById('model-status').textContent));
  await page.click('#clear');
  await draw(page, ONE);
  assertAnswered(await shown(page));
  assert.deepEqual(problems, []);
  await page.close();
});

test('the page names the classes of a model that has class names', async () => {
  const { page, problems } = await open();
  const named = path.join(outputDir, 'named-int8.tmlp');
  const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
  native('named-blob', randomBlob('int8'), named, 'digits', ...names);
  await drop(page, 'named-int8.tmlp', fs.readFileSync(named));
  await page.waitForFunction(() => document.getElementById('model-status').textContent
    .startsWith('model: digits, from named-int8.tmlp (int8'));
  const labels = await page.locator('#bars .label').allTextContents();
  assert.deepEqual(labels, names);
  await draw(page, SEVEN);
  const answer = await shown(page);
  // Sure or not, the page speaks of classes by name (random weights: any class may win).
  if (answer.state === 'digit') assert.ok(names.includes(answer.digit), answer.digit);
  else assert.match(answer.message, /^(Not sure: maybe [a-z]+ \(.*\) or [a-z]+ \(|Too )/);
  // A feature model loads, and the page says the pad cannot feed it.
  const weather = fs.readFileSync(
    path.join(rootDir, 'runtime', 'fuzz', 'corpus', 'loader', 'seed-tiny-features-int8-raw'),
  ).subarray(1);
  await drop(page, 'weather.tmlp', weather);
  await page.waitForFunction(() => document.getElementById('model-status').textContent
    .startsWith('model: weather, from weather.tmlp (int8, 2 layers, 2 raw features'));
  assert.deepEqual(await page.locator('#bars .label').allTextContents(), ['dry', 'rain']);
  await draw(page, ONE);
  assert.match(await errorText(page), /^This model reads 2 raw features/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a missing default model is reported on the page', async () => {
  const { page } = await open('?model=/test-models/missing.tmlp');
  assert.match(await errorText(page), /^Could not fetch \/test-models\/missing\.tmlp \(HTTP 404\)/);
  assert.equal(await page.locator('#model-status').textContent(), 'no model loaded');
  await page.close();
});
