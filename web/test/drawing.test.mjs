// The page reads what people draw: handwritten digits (handwriting.mjs: three styles of each
// digit, each drawing with its own slant, rotation and wobble) at heights from 40 px to the
// whole pad, drawn with the mouse and with one finger, and with a second finger resting on
// the pad; and it says it is unsure of a tap, a dash and a scribble. Accuracy tables are
// printed as test diagnostics; screenshots go to web/test-output/.
//
// TINYMLP_WEB_DIST=<folder> runs the same drawings against another build of the page (an
// older commit's web/dist, say) to compare; its assertions may then fail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { STYLES, handwrite, notDigits } from './handwriting.mjs';
import { distDir, outputDir, trainedInt8 } from './helpers.mjs';
import { CHROMIUM, serve } from './server.mjs';

const dist = process.env.TINYMLP_WEB_DIST ?? distDir;
const needsTrained = !fs.existsSync(trainedInt8) && 'models/mnist-int8.tmlp not committed yet';
/** Heights of the drawings (their pen path), in pixels of the 280 px pad. */
const HEIGHTS = [40, 55, 70, 90, 130, 180, 250];
/** Read right from this height up: at least REQUIRED of the drawings. */
const FROM = 55;
const REQUIRED = 0.95;
const PAD = 280;
const SHAPES = Object.entries(STYLES)
  .flatMap(([digit, styles]) => styles.map((_, style) => ({ digit: Number(digit), style })));

let server;
let browser;

before(async () => {
  assert.ok(fs.existsSync(path.join(dist, 'index.html')), `${dist} has no page: run scripts/web-build.sh first`);
  fs.mkdirSync(outputDir, { recursive: true });
  // Screenshots of misread drawings from an earlier run would mislead.
  for (const file of fs.readdirSync(outputDir)) if (file.startsWith('drawing-')) fs.rmSync(path.join(outputDir, file));
  server = await serve({ '/': dist });
  browser = await chromium.launch(CHROMIUM);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page on a desktop viewport (mouse) or a phone's (touch), with its problems collected. */
async function open(device) {
  const context = await browser.newContext(device === 'touch'
    ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true }
    : { viewport: { width: 900, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  // Counts the pointers lifted, so that a readout waits for the whole drawing to arrive:
  // Chromium answers an input event before the page has handled it.
  await page.addInitScript(() => {
    window.pointers = { up: 0, cancel: 0 };
    for (const type of ['up', 'cancel']) document.addEventListener(`pointer${type}`, () => window.pointers[type]++, true);
  });
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]');
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#pad').boundingBox();
  const cdp = await context.newCDPSession(page);
  return { page, context, problems, box, cdp, lifted: 0 };
}

const toPage = (box, [x, y]) => [box.x + (x * box.width) / PAD, box.y + (y * box.height) / PAD];

/**
 * Sends input events in order without waiting for each to be handled, as a device sends them:
 * Chromium acknowledges pointer moves once a frame, so awaiting each one would draw at a
 * few points a second; moves that arrive within a frame reach the page coalesced.
 */
async function send(cdp, events) {
  // Presses and lifts wait for the events before them; the moves between them do not.
  let moves = [];
  for (const [method, params] of events) {
    if (params.type === 'mouseMoved' || params.type === 'touchMove') {
      moves.push(cdp.send(method, params));
      continue;
    }
    await Promise.all(moves);
    moves = [];
    await cdp.send(method, params);
  }
  await Promise.all(moves);
}

/** Draws with the mouse: one press per stroke, at whole pixels as a mouse reports them. */
async function drawWithMouse(session, strokes) {
  const { cdp, box } = session;
  const mouse = (type, [x, y], extra = {}) => ['Input.dispatchMouseEvent', { type, x, y, ...extra }];
  const events = [];
  for (const stroke of strokes) {
    const points = stroke.map((p) => toPage(box, p).map(Math.round));
    const pressed = { button: 'left', buttons: 1, clickCount: 1 };
    events.push(mouse('mouseMoved', points[0]), mouse('mousePressed', points[0], pressed));
    for (const point of points.slice(1)) events.push(mouse('mouseMoved', point, { button: 'left', buttons: 1 }));
    events.push(mouse('mouseReleased', points[points.length - 1], pressed));
  }
  await send(cdp, events);
  session.lifted += strokes.length;
}

/**
 * Draws with a finger, one touch per stroke. `resting`: a second finger put down on the pad at
 * this point a third of the way through the first stroke, held still until the drawing ends.
 * Each event names the touch points that change (Chromium's protocol: a touchEnd lifts those
 * it names, a point left out of a touchMove stays where it is).
 */
async function drawWithTouch(session, strokes, resting = null) {
  const { cdp, box } = session;
  const touch = (type, [x, y], id) =>
    ['Input.dispatchTouchEvent', { type, touchPoints: [{ x, y, id, radiusX: 6, radiusY: 6, force: 1 }] }];
  const second = resting && toPage(box, resting);
  let secondDown = false;
  const events = [];
  for (const [s, stroke] of strokes.entries()) {
    const points = stroke.map((p) => toPage(box, p));
    events.push(touch('touchStart', points[0], 1));
    for (const [i, point] of points.slice(1).entries()) {
      if (second && !secondDown && s === 0 && i >= points.length / 3) {
        secondDown = true;
        events.push(touch('touchStart', second, 2));
      }
      events.push(touch('touchMove', point, 1));
    }
    events.push(touch('touchEnd', points[points.length - 1], 1));
  }
  if (secondDown) events.push(touch('touchEnd', second, 2));
  await send(cdp, events);
  session.lifted += strokes.length + (secondDown ? 1 : 0);
}

/** What the page shows once it has the whole drawing and has drawn the frame after it. */
async function readout({ page, lifted }) {
  await page.waitForFunction((lifted) => window.pointers.up + window.pointers.cancel >= lifted, lifted);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  return page.evaluate(() => {
    const prediction = document.getElementById('prediction');
    const input = document.getElementById('input28').getContext('2d').getImageData(0, 0, 28, 28).data;
    const pixels = Array.from({ length: 784 }, (_, i) => input[i * 4]);
    // An older page has no data-state: a class shown is a digit.
    const state = prediction.dataset.state ?? (prediction.dataset.class ? 'digit' : 'empty');
    return {
      state,
      digit: state === 'digit' ? prediction.dataset.class : null,
      reason: prediction.dataset.reason ?? '',
      message: document.getElementById('confidence').textContent,
      pixels,
    };
  });
}

async function clear(page) {
  await page.evaluate(() => document.getElementById('clear').click());
  await page.waitForFunction(() => document.getElementById('prediction').textContent === '?');
}

/** Draws every shape at every height; returns right / drawn per height and what was misread. */
async function accuracy(session, draw, device) {
  const byHeight = new Map(HEIGHTS.map((h) => [h, { right: 0, drawn: 0, wrong: [] }]));
  for (const height of HEIGHTS) {
    for (const { digit, style } of SHAPES) {
      const strokes = handwrite(digit, style, { height, pad: PAD });
      await draw(session, strokes);
      const shown = await readout(session);
      const row = byHeight.get(height);
      row.drawn++;
      if (shown.digit === String(digit)) row.right++;
      else row.wrong.push(`${digit} (style ${style}) as ${shown.digit ?? `unsure, ${shown.reason || shown.state}`}`);
      if ((digit === 3 && style === 0) || shown.digit !== String(digit)) {
        const name = shown.digit === String(digit) ? '' : `-misread-${digit}-style-${style}`;
        await session.page.screenshot({ path: path.join(outputDir, `drawing-${device}-${height}px${name}.png`) });
      }
      await clear(session.page);
    }
  }
  return byHeight;
}

function report(t, device, byHeight) {
  for (const [height, { right, drawn, wrong }] of byHeight) {
    const misread = wrong.length ? `; misread: ${wrong.join(', ')}` : '';
    t.diagnostic(`${device} ${height} px: ${right}/${drawn} read right${misread}`);
  }
  const counted = [...byHeight].filter(([height]) => height >= FROM);
  const right = counted.reduce((sum, [, row]) => sum + row.right, 0);
  const drawn = counted.reduce((sum, [, row]) => sum + row.drawn, 0);
  t.diagnostic(`${device} ${FROM} px and up: ${right}/${drawn} (${((100 * right) / drawn).toFixed(1)} %)`);
  return right / drawn;
}

for (const device of ['mouse', 'touch']) {
  const options = { skip: needsTrained, timeout: 600_000 };
  test(`handwritten digits drawn with the ${device} are read right from ${FROM} px up`, options, async (t) => {
    const session = await open(device);
    const byHeight = await accuracy(session, device === 'mouse' ? drawWithMouse : drawWithTouch, device);
    const share = report(t, device, byHeight);
    assert.ok(share >= REQUIRED, `${(share * 100).toFixed(1)} % read right from ${FROM} px up, under ${REQUIRED * 100} %`);
    assert.deepEqual(session.problems, []);
    assert.equal(await session.page.evaluate(() => window.pointers.cancel), 0, 'pointers cancelled');
    await session.context.close();
  });
}

test('a second finger resting on the pad changes nothing', { skip: needsTrained, timeout: 600_000 }, async (t) => {
  const session = await open('touch');
  let same = 0;
  let right = 0;
  const different = [];
  for (const height of [70, 180]) {
    for (const { digit, style } of SHAPES) {
      const strokes = handwrite(digit, style, { height, pad: PAD, seed: 2 });
      await drawWithTouch(session, strokes);
      const alone = await readout(session);
      await clear(session.page);
      // The second finger rests beside the digit, in a corner of the pad away from it.
      const xs = strokes.flat().map((p) => p[0]);
      const resting = [Math.min(...xs) > PAD / 2 ? 20 : PAD - 20, PAD - 20];
      await drawWithTouch(session, strokes, resting);
      const withSecond = await readout(session);
      if (withSecond.digit === String(digit)) right++;
      if (digit === 1 && style === 0) {
        await session.page.screenshot({ path: path.join(outputDir, `drawing-two-fingers-${height}px.png`) });
      }
      await clear(session.page);
      const changed = withSecond.pixels.filter((v, i) => v !== alone.pixels[i]).length;
      if (changed === 0 && withSecond.state === alone.state && withSecond.digit === alone.digit) {
        same++;
      } else {
        different.push(`${digit} (style ${style}) at ${height} px: ${changed} input pixels changed, ` +
          `read ${withSecond.digit} instead of ${alone.digit}`);
      }
    }
  }
  t.diagnostic(`two fingers: ${same}/${2 * SHAPES.length} drawings identical to one finger's, ${right} read right`);
  assert.deepEqual(different, []);
  assert.deepEqual(session.problems, []);
  assert.equal(await session.page.evaluate(() => window.pointers.cancel), 0, 'pointers cancelled');
  await session.context.close();
});

for (const device of ['mouse', 'touch']) {
  test(`a tap, a short dash and a scribble (${device}) make the page say it is unsure`, { skip: needsTrained }, async () => {
    const session = await open(device);
    const expected = { tap: 'too small', dash: 'too small', scribble: 'too much ink' };
    for (const [name, strokes] of Object.entries(notDigits(PAD))) {
      await (device === 'mouse' ? drawWithMouse : drawWithTouch)(session, strokes);
      const shown = await readout(session);
      await session.page.screenshot({ path: path.join(outputDir, `drawing-${device}-${name}.png`) });
      assert.equal(shown.state, 'unsure', `${name}: ${JSON.stringify(shown.message)}`);
      assert.equal(shown.reason, expected[name], name);
      assert.match(shown.message, name === 'scribble' ? /^Too much ink/ : /^Too small/);
      // What was drawn is on the pad and in the input all the same: a tap leaves a dot.
      assert.ok(shown.pixels.some((v) => v > 0), `${name}: no ink in the input`);
      const [x, y] = strokes[0][0];
      const inked = await session.page.evaluate(([x, y]) =>
        document.getElementById('pad').getContext('2d').getImageData(x, y, 1, 1).data[3], [Math.round(x), Math.round(y)]);
      assert.ok(inked > 0, `${name}: no ink on the pad where it was drawn`);
      await clear(session.page);
    }
    assert.deepEqual(session.problems, []);
    assert.equal(await session.page.evaluate(() => window.pointers.cancel), 0, 'pointers cancelled');
    await session.context.close();
  });
}
