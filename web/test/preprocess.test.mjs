// The drawing-to-MNIST preprocessing: box, anti-aliasing, centre of mass, and a round trip
// through MNIST's own digits.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BOX, CENTRE, SIZE, centreOfMass, inkBounds, mnistInput } from '../preprocess.js';
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
