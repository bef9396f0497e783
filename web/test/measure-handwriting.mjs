// Figures behind the page's preprocessing and its "not sure" threshold (web/README.md, "How a
// drawing becomes an input"), in Node, no browser: the pen width against MNIST's ink and the
// model's reads of handwritten digits, and what a top-probability threshold holds back.
//   node test/measure-handwriting.mjs        (in web/, after scripts/web-build.sh)
import fs from 'node:fs';

import { PEN, strokesInput } from '../preprocess.js';
import { STYLES, handwrite } from './handwriting.mjs';
import { mnistImages, mnistLabels, readImages, readLabels, runtime, trainedInt8 } from './helpers.mjs';

const model = await runtime();
model.load(fs.readFileSync(trainedInt8));
const shapes = Object.entries(STYLES).flatMap(([digit, styles]) => styles.map((_, style) => [Number(digit), style]));
/** Drawings at whole pixels, as a mouse reports them. */
const drawings = (heights, seeds) => heights.flatMap((height) => seeds.flatMap((seed) => shapes.map(([digit, style]) => ({
  digit,
  strokes: handwrite(digit, style, { height, seed }).map((s) => s.map(([x, y]) => [Math.round(x), Math.round(y)])),
}))));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const inkOf = (pixels) => pixels.reduce((sum, v) => sum + v, 0) / 255;

const images = readImages(mnistImages());
const labels = readLabels(mnistLabels());
const inks = images.map(inkOf).sort((a, b) => a - b);
const [median, heaviest] = [inks[inks.length >> 1], inks[inks.length - 1]];
console.log(`MNIST test digits: ink median ${median.toFixed(1)}, heaviest ${heaviest.toFixed(1)} pixels`);

const sweep = drawings([40, 70, 130, 250], range(10, 19));
for (const pen of [1.8, 2.2, PEN, 3.0, 3.4, 4.0]) {
  let right = 0, ink = 0;
  for (const { digit, strokes } of sweep) {
    const pixels = strokesInput(strokes, pen);
    ink += inkOf(pixels);
    if (model.classify(pixels).class === digit) right++;
  }
  const mean = (ink / sweep.length).toFixed(1);
  console.log(`pen ${pen} px: ${right}/${sweep.length} read right, ink ${mean} pixels on average`);
}

const SURE_FROM = 0.6;
const held = (results) => {
  const right = results.filter((r) => r.right);
  const wrong = results.filter((r) => !r.right);
  return `${right.length} right (${right.filter((r) => r.p < SURE_FROM).length} under ${SURE_FROM}), ` +
    `${wrong.length} wrong (${wrong.filter((r) => r.p < SURE_FROM).length} under ${SURE_FROM})`;
};
const mnist = images.map((image, i) => {
  const r = model.classify(image);
  return { right: r.class === labels[i], p: r.probability };
});
console.log(`MNIST test set: ${held(mnist)}`);
const all = drawings([40, 55, 70, 90, 130, 180, 250], range(1, 10)).map(({ digit, strokes }) => {
  const r = model.classify(strokesInput(strokes));
  return { right: r.class === digit, p: r.probability };
});
console.log(`handwriting, 7 heights x 10 seeds: ${held(all)}`);
