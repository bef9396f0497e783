// preprocess.js: turn a drawing into an MNIST-style 28x28 input, the way MNIST was made.
//
// LeCun et al. describe it: "The original black and white images from NIST were size
// normalized to fit in a 20x20 pixel box while preserving their aspect ratio. The resulting
// images contain grey levels as a result of the anti-aliasing technique used by the
// normalization algorithm. The images were centered in a 28x28 image by computing the
// center of mass of the pixels, and translating the image so as to position this point at
// the center of the 28x28 field."
//
// Two ways in. `mnistInput` takes an ink image (a raster) and does exactly that: the ink's
// bounding box is scaled (same factor on both axes) so its longer side is 20 pixels, by exact
// area averaging (each output pixel is the mean ink over the area it covers: anti-aliased
// grey levels), then shifted by whole pixels so that its centre of mass lands on (14, 14),
// pixel centres counted from 0: where it lies, on average, in the MNIST test set (14.00,
// 13.99 measured over its first 2,000 digits).
//
// `strokesInput` takes the strokes themselves (the pen's path) and is what the page uses. A
// raster scales the pen with the drawing: a 24 px pen is 2.4 px wide once a 200 px digit is
// scaled to 20 pixels, but 7.5 px for a 40 px digit, whose loops then fill in. MNIST's
// writers wrote at one size on a form, so its strokes are about as wide whatever the digit;
// here the path is scaled first and drawn afterwards with a pen of MNIST's width.

/** Side of the box the digit is scaled into. */
export const BOX = 20;
/** Side of the model input. */
export const SIZE = 28;
/** Where the centre of mass goes (x and y, pixel centres counted from 0). */
export const CENTRE = 14;

/**
 * The bounding box of the pixels with ink, or null if there is none.
 * @param {ArrayLike<number>} ink width*height values, 0 = no ink.
 */
export function inkBounds(ink, width, height) {
  let left = width, right = -1, top = height, bottom = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (ink[row + x] > 0) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  return right < 0 ? null : { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Scales the inked box to fit BOX x BOX, preserving the aspect ratio, by area averaging.
 * @returns {Float32Array} BOX*BOX grey levels in 0..255, the digit centred in the box.
 */
export function fitToBox(ink, width, bounds) {
  const scale = BOX / Math.max(bounds.width, bounds.height);
  // Roughly centred at a whole-pixel offset: the centre of mass places it later, and a
  // fractional offset would blur edges that fall on pixel boundaries.
  const offsetX = Math.floor((BOX - bounds.width * scale) / 2);
  const offsetY = Math.floor((BOX - bounds.height * scale) / 2);
  const out = new Float32Array(BOX * BOX);
  for (let sy = 0; sy < bounds.height; sy++) {
    // Source pixel row sy covers [y0, y1) in box coordinates.
    const y0 = offsetY + sy * scale, y1 = y0 + scale;
    const row = (bounds.top + sy) * width + bounds.left;
    for (let sx = 0; sx < bounds.width; sx++) {
      const value = ink[row + sx];
      if (value === 0) continue;
      const x0 = offsetX + sx * scale, x1 = x0 + scale;
      // Spread value over the output pixels the source square overlaps, by overlap area.
      for (let oy = Math.floor(y0); oy < y1 && oy < BOX; oy++) {
        const coverY = Math.min(y1, oy + 1) - Math.max(y0, oy);
        if (coverY <= 0) continue;
        for (let ox = Math.floor(x0); ox < x1 && ox < BOX; ox++) {
          const coverX = Math.min(x1, ox + 1) - Math.max(x0, ox);
          if (coverX > 0) out[oy * BOX + ox] += value * coverX * coverY;
        }
      }
    }
  }
  return out;
}

/** Centre of mass (x, y) of a side*side image, pixel centres counted from 0. */
export function centreOfMass(image, side) {
  let total = 0, sumX = 0, sumY = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = image[y * side + x];
      total += v;
      sumX += v * x;
      sumY += v * y;
    }
  }
  return total > 0 ? { x: sumX / total, y: sumY / total } : { x: (side - 1) / 2, y: (side - 1) / 2 };
}

/**
 * The MNIST-style model input for an ink image.
 * @param {ArrayLike<number>} ink width*height ink levels (0..255, e.g. a canvas's alpha).
 * @returns {Uint8Array | null} SIZE*SIZE grey levels, or null if nothing is drawn.
 */
export function mnistInput(ink, width, height) {
  const bounds = inkBounds(ink, width, height);
  if (!bounds) return null;
  return centreInField(fitToBox(ink, width, bounds));
}

/**
 * Places a BOX x BOX image in the SIZE x SIZE field, shifted by whole pixels so that its
 * centre of mass is as near (CENTRE, CENTRE) as the field allows without losing ink.
 * @param {ArrayLike<number>} box BOX*BOX grey levels (0..255; larger values are clipped).
 * @returns {Uint8Array} SIZE*SIZE grey levels.
 */
export function centreInField(box) {
  const mass = centreOfMass(box, BOX);
  const limit = SIZE - BOX;
  const dx = Math.min(limit, Math.max(0, Math.round(CENTRE - mass.x)));
  const dy = Math.min(limit, Math.max(0, Math.round(CENTRE - mass.y)));
  const out = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < BOX; y++) {
    for (let x = 0; x < BOX; x++) {
      out[(y + dy) * SIZE + x + dx] = Math.min(255, Math.round(box[y * BOX + x]));
    }
  }
  return out;
}

/** Width of the pen, in pixels of the 20x20 box, that draws the strokes once scaled: MNIST's
 *  test digits hold 101 pixels of ink (median), handwritten digits drawn with this pen 103
 *  on average (web/test/measure-handwriting.mjs; README, "How a drawing becomes an input"). */
export const PEN = 2.6;
/** Samples per pixel side when drawing the pen: 16x16 per pixel, 256 grey levels. */
const SAMPLES = 16;

/**
 * The bounding box of the strokes' points (the pen's centre line), or null if none.
 * @param {Array<Array<[number, number]>>} strokes each a list of [x, y] points.
 */
export function strokesBounds(strokes) {
  let left = Infinity, right = -Infinity, top = Infinity, bottom = -Infinity;
  for (const stroke of strokes) {
    for (const [x, y] of stroke) {
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  return right < left ? null : { left, top, width: right - left, height: bottom - top };
}

/**
 * Draws the strokes, scaled (aspect ratio kept) so that their ink, a pen of `pen` pixels
 * included, fits BOX x BOX, centred in it. A lone point draws a dot of the pen's width.
 * @param {Array<Array<[number, number]>>} strokes in any units (a pad's pixels).
 * @param {number} pen the pen's width in pixels of the box (other than PEN: to compare).
 * @returns {Float32Array | null} BOX*BOX grey levels in 0..255, or null if there are no points.
 */
export function strokesToBox(strokes, pen = PEN) {
  const bounds = strokesBounds(strokes);
  if (!bounds) return null;
  const extent = Math.max(bounds.width, bounds.height);
  const scale = extent > 0 ? (BOX - pen) / extent : 0;
  const offsetX = (BOX - bounds.width * scale) / 2 - bounds.left * scale;
  const offsetY = (BOX - bounds.height * scale) / 2 - bounds.top * scale;
  // Coverage is counted on a grid of SAMPLES x SAMPLES points per pixel: a sample is inked if
  // it lies within pen / 2 of a segment (a round pen: round caps and joins).
  const side = BOX * SAMPLES;
  const inked = new Uint8Array(side * side);
  const radius = (pen / 2) * SAMPLES;
  const r2 = radius * radius;
  for (const stroke of strokes) {
    const points = stroke.map(([x, y]) => [(x * scale + offsetX) * SAMPLES, (y * scale + offsetY) * SAMPLES]);
    // A lone point is a segment of length 0: a dot.
    const segments = Math.max(1, points.length - 1);
    for (let i = 0; i < segments; i++) {
      const [ax, ay] = points[i];
      const [bx, by] = points[Math.min(i + 1, points.length - 1)];
      const [dx, dy] = [bx - ax, by - ay];
      const length2 = dx * dx + dy * dy;
      // Sample k sits at k + 0.5: the samples near the segment.
      const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - radius - 0.5));
      const x1 = Math.min(side - 1, Math.ceil(Math.max(ax, bx) + radius - 0.5));
      const y0 = Math.max(0, Math.floor(Math.min(ay, by) - radius - 0.5));
      const y1 = Math.min(side - 1, Math.ceil(Math.max(ay, by) + radius - 0.5));
      for (let sy = y0; sy <= y1; sy++) {
        const py = sy + 0.5 - ay;
        for (let sx = x0; sx <= x1; sx++) {
          const px = sx + 0.5 - ax;
          const t = length2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / length2)) : 0;
          const ex = px - t * dx, ey = py - t * dy;
          if (ex * ex + ey * ey <= r2) inked[sy * side + sx] = 1;
        }
      }
    }
  }
  const box = new Float32Array(BOX * BOX);
  for (let sy = 0; sy < side; sy++) {
    const row = Math.floor(sy / SAMPLES) * BOX;
    for (let sx = 0; sx < side; sx++) {
      if (inked[sy * side + sx]) box[row + Math.floor(sx / SAMPLES)] += 255 / (SAMPLES * SAMPLES);
    }
  }
  return box;
}

/**
 * The MNIST-style model input for a drawing given as strokes: the same input whatever size
 * it was drawn at.
 * @param {Array<Array<[number, number]>>} strokes each a list of [x, y] points.
 * @param {number} pen the pen's width in pixels of the 20x20 box.
 * @returns {Uint8Array | null} SIZE*SIZE grey levels, or null if nothing is drawn.
 */
export function strokesInput(strokes, pen = PEN) {
  const box = strokesToBox(strokes, pen);
  return box && centreInField(box);
}

/** Strokes spanning less than this share of the pad's side are too small to read (a tap, a
 *  short dash): scaled to 20 pixels as MNIST's digits were, a dash would pass for a "1". */
export const MIN_EXTENT = 0.1;
/** More ink than this (the input's grey levels summed, over 255) is more than any digit:
 *  the heaviest of MNIST's 10,000 test digits has 256.5, 99.9 % of them under 233. */
export const MAX_INK = 260;

/**
 * Why a drawing cannot be a digit, whatever the model says, or null if it may be one.
 * @param {Array<Array<[number, number]>>} strokes in pad pixels.
 * @param {Uint8Array} pixels its input (strokesInput).
 * @param {number} padSide the pad's side, in the strokes' units.
 * @returns {'too small' | 'too much ink' | null}
 */
export function notADigit(strokes, pixels, padSide) {
  const bounds = strokesBounds(strokes);
  if (!bounds || Math.max(bounds.width, bounds.height) < MIN_EXTENT * padSide) return 'too small';
  let ink = 0;
  for (const v of pixels) ink += v;
  return ink / 255 > MAX_INK ? 'too much ink' : null;
}
