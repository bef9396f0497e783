// The drawing-to-MNIST preprocessing: box, anti-aliasing, centre of mass, a round trip
// through MNIST's own digits; strokes drawn at MNIST's stroke width whatever their size; what
// cannot be a digit.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BOX, CENTRE, MAX_INK, MIN_EXTENT, PEN, SIZE, centreOfMass, inkBounds, mnistInput, notADigit, strokesInput,
} from '../preprocess.js';
import { STYLES, handwrite, notDigits } from './handwriting.mjs';
import { mnistImages, readImages } from './helpers.mjs';

function canvas(width, height, paint) {
  const ink = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) ink[y * width + x] = paint(x, y);
  return ink;
}

const sum = (a) => a.reduce((s, v) => s + v, 0);

test('an empty drawing gives no input', () => {
  assert.equal(mnistInput(new Uint8Array(280 * 280), 280, 280), null);
});

test('the longer side is scaled to 20 pixels, the aspect ratio kept', () => {
  // A 60x200 bar: 6x20 after scaling.
  const ink = canvas(280, 280, (x, y) => (x >= 100 && x < 160 && y >= 30 && y < 230 ? 255 : 0));
  const out = mnistInput(ink, 280, 280);
  const bounds = inkBounds(out, SIZE, SIZE);
  assert.equal(bounds.height, BOX);
  assert.equal(bounds.width, 6);
  assert.equal(sum(out), 255 * 6 * 20);
});

test('the centre of mass lands on the centre of the field', () => {
  // An L shape, whose centre of mass is far from its box's centre.
  const ink = canvas(280, 280, (x, y) =>
    (x >= 40 && x < 80 && y >= 40 && y < 240) || (x >= 40 && x < 240 && y >= 200 && y < 240) ? 255 : 0);
  const out = mnistInput(ink, 280, 280);
  const mass = centreOfMass(out, SIZE);
  assert.ok(Math.abs(mass.x - CENTRE) <= 0.5, `x ${mass.x}`);
  assert.ok(Math.abs(mass.y - CENTRE) <= 0.5, `y ${mass.y}`);
});

test('edges that fall between pixels become grey levels, and ink is conserved', () => {
  // 35 px of ink across at 20/105 scale: 6.67 pixels wide, so an edge column is partly inked.
  const ink = canvas(200, 200, (x, y) => (x >= 10 && x < 45 && y >= 10 && y < 115 ? 255 : 0));
  const out = mnistInput(ink, 200, 200);
  const greys = out.filter((v) => v > 0 && v < 255).length;
  assert.ok(greys >= 20, `${greys} grey pixels`);
  const scale = BOX / 105;
  assert.ok(Math.abs(sum(out) - 255 * 35 * 105 * scale * scale) < 20 * 20, 'ink not conserved');
});

test('a tiny drawing is scaled up, a huge one down, to the same input', () => {
  const shape = (s) => canvas(30 * s, 30 * s, (x, y) => {
    const [u, v] = [Math.floor(x / s), Math.floor(y / s)];
    return (u >= 5 && u < 9 && v >= 3 && v < 23) || (v >= 3 && v < 7 && u >= 5 && u < 15) ? 255 : 0;
  });
  const small = mnistInput(shape(1), 30, 30);
  const large = mnistInput(shape(10), 300, 300);
  assert.deepEqual(Array.from(large), Array.from(small));
});

test('MNIST digits drawn 10x larger come back as themselves (up to a 1-pixel shift)', () => {
  const digits = readImages(mnistImages()).slice(0, 200);
  let checked = 0;
  for (const digit of digits) {
    const bounds = inkBounds(digit, SIZE, SIZE);
    if (Math.max(bounds.width, bounds.height) !== BOX) continue;
    const big = canvas(280, 280, (x, y) => digit[Math.floor(y / 10) * SIZE + Math.floor(x / 10)]);
    const out = mnistInput(big, 280, 280);
    const found = inkBounds(out, SIZE, SIZE);
    const [dx, dy] = [found.left - bounds.left, found.top - bounds.top];
    assert.ok(Math.abs(dx) <= 1 && Math.abs(dy) <= 1, `shifted by ${dx}, ${dy}`);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const [sx, sy] = [x - dx, y - dy];
        const original = sx >= 0 && sx < SIZE && sy >= 0 && sy < SIZE ? digit[sy * SIZE + sx] : 0;
        assert.equal(out[y * SIZE + x], original, `pixel ${x}, ${y}`);
      }
    }
    checked++;
  }
  assert.ok(checked > 150, `${checked} digits checked`);
});

/** Strokes moved and scaled: (x, y) to (dx + s x, dy + s y). */
const placed = (strokes, s, dx, dy) => strokes.map((stroke) => stroke.map(([x, y]) => [dx + s * x, dy + s * y]));

test('a digit drawn 40 px tall gives the same input as one drawn 200 px tall', () => {
  for (const [digit, styles] of Object.entries(STYLES)) {
    for (const style of styles.keys()) {
      const strokes = handwrite(Number(digit), style, { height: 40 });
      const small = strokesInput(strokes);
      const large = strokesInput(placed(strokes, 5, -300, -100));
      const differ = small.filter((v, i) => Math.abs(v - large[i]) > 1).length;
      assert.equal(differ, 0, `${digit} (style ${style}): ${differ} pixels differ by more than 1`);
    }
  }
});

test('strokes are drawn PEN pixels wide in the input, whatever the drawing\'s size', () => {
  for (const height of [10, 40, 200, 2000]) {
    // A slanted bar: each row it crosses holds PEN / cos(slant) pixels of ink.
    const out = strokesInput([[[0, 0], [height * 0.2, height]]]);
    const slant = Math.atan(0.2);
    for (let y = 6; y < 22; y++) {
      let ink = 0;
      for (let x = 0; x < SIZE; x++) ink += out[y * SIZE + x] / 255;
      assert.ok(Math.abs(ink - PEN / Math.cos(slant)) < 0.05, `${height} px, row ${y}: ${ink.toFixed(3)} pixels of ink`);
    }
  }
});

test('the strokes\' ink, the pen included, fits the 20-pixel box, aspect ratio kept, centre of mass centred', () => {
  // An L 100 wide and 200 tall: 20 pixels tall with the pen, (100 / 200) * (20 - PEN) + PEN wide.
  const out = strokesInput([[[50, 20], [50, 220], [150, 220]]]);
  const bounds = inkBounds(out, SIZE, SIZE);
  assert.equal(bounds.height, BOX);
  assert.equal(bounds.width, Math.ceil(0.5 * (BOX - PEN) + PEN));
  const mass = centreOfMass(out, SIZE);
  assert.ok(Math.abs(mass.x - CENTRE) <= 0.5 && Math.abs(mass.y - CENTRE) <= 0.5, `${mass.x}, ${mass.y}`);
  assert.equal(strokesInput([]), null);
  assert.equal(strokesInput([[], []]), null);
});

test('a tap is a dot of the pen\'s width', () => {
  const out = strokesInput([[[100, 100]]]);
  const ink = sum(out) / 255;
  assert.ok(Math.abs(ink - Math.PI * (PEN / 2) ** 2) < 0.2, `${ink} pixels of ink`);
  const bounds = inkBounds(out, SIZE, SIZE);
  assert.ok(bounds.width <= Math.ceil(PEN) + 1 && bounds.height <= Math.ceil(PEN) + 1, JSON.stringify(bounds));
});

test('taps, short dashes and scribbles are not digits; handwritten digits may be', () => {
  const verdict = (strokes) => notADigit(strokes, strokesInput(strokes), 280);
  const { tap, dash, scribble } = notDigits(280);
  assert.equal(verdict(tap), 'too small');
  assert.equal(verdict(dash), 'too small');
  assert.equal(verdict([[[100, 100], [100 + MIN_EXTENT * 280 - 1, 100]]]), 'too small');
  assert.equal(verdict(scribble), 'too much ink');
  for (const [digit, styles] of Object.entries(STYLES)) {
    for (const style of styles.keys()) {
      for (const height of [40, 250]) {
        const strokes = handwrite(Number(digit), style, { height });
        assert.equal(verdict(strokes), null, `${digit} (style ${style}) at ${height} px`);
      }
    }
  }
});

test('every MNIST test digit has less ink than MAX_INK', () => {
  const heaviest = Math.max(...readImages(mnistImages()).map((digit) => sum(digit) / 255));
  assert.ok(heaviest < MAX_INK, `an MNIST digit has ${heaviest} pixels of ink`);
  assert.ok(heaviest > MAX_INK - 10, `MAX_INK is ${MAX_INK}, far above MNIST's heaviest digit (${heaviest})`);
});
