// Digits written as a person writes them: a few styles of each digit as pen paths (lines,
// arcs, Bezier curves in a box one unit tall), then each drawing with its own slant,
// rotation, width and a smooth wobble of the hand, at a given height and place on the pad.
// Also what is not a digit: a tap, a short dash, a scribble. Deterministic (seeded).

/** A small seeded PRNG (mulberry32): the same drawings on every run. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Path commands, y pointing down: ['M', x, y] starts at a point, ['L', x, y] a line,
// ['C', x1, y1, x2, y2, x, y] a cubic Bezier, ['A', cx, cy, rx, ry, from, to] an elliptical
// arc between two angles in degrees (0 = right, 90 = down; from > to runs anticlockwise on
// screen), joined to the current point by a line.

/** Two or three ways of writing each digit; each style is a list of strokes. */
export const STYLES = {
  0: [
    [[['A', 0.3, 0.5, 0.28, 0.5, -90, 275]]],
    [[['A', 0.3, 0.5, 0.26, 0.5, -60, -430]]],
    [[['A', 0.25, 0.5, 0.2, 0.5, -100, 250]]],
  ],
  1: [
    [[['M', 0.32, 0], ['L', 0.3, 1]]],
    [[['M', 0.22, 0.12], ['L', 0.34, 0], ['L', 0.34, 1]]],
    [[['M', 0.3, 0], ['C', 0.31, 0.4, 0.27, 0.7, 0.24, 1]]],
  ],
  2: [
    [[['A', 0.3, 0.27, 0.27, 0.25, 200, 380], ['L', 0.02, 1], ['L', 0.62, 1]]],
    [[['A', 0.3, 0.27, 0.27, 0.25, 195, 385], ['C', 0.4, 0.6, 0.15, 0.8, 0.06, 0.96],
      ['C', 0.04, 1.02, 0.2, 1.04, 0.24, 0.92], ['C', 0.3, 0.86, 0.45, 1.0, 0.64, 0.98]]],
    [[['M', 0.04, 0.12], ['C', 0.2, -0.06, 0.58, -0.04, 0.56, 0.22], ['C', 0.54, 0.45, 0.2, 0.7, 0.03, 1],
      ['L', 0.6, 0.98]]],
  ],
  3: [
    [[['A', 0.3, 0.25, 0.25, 0.24, 200, 450], ['A', 0.3, 0.74, 0.28, 0.26, -90, 160]]],
    [[['M', 0.05, 0], ['L', 0.55, 0], ['L', 0.26, 0.4], ['A', 0.3, 0.7, 0.28, 0.3, -90, 150]]],
    [[['A', 0.3, 0.25, 0.26, 0.24, 210, 440], ['L', 0.2, 0.5]], [['A', 0.3, 0.75, 0.29, 0.25, -100, 150]]],
  ],
  4: [
    [[['M', 0.3, 0], ['L', 0.02, 0.62], ['L', 0.62, 0.62]], [['M', 0.48, 0.2], ['L', 0.46, 1]]],
    [[['M', 0.05, 0], ['L', 0.03, 0.55], ['L', 0.6, 0.55]], [['M', 0.5, 0], ['L', 0.5, 1]]],
    [[['M', 0.45, 1], ['L', 0.45, 0], ['L', 0, 0.65], ['L', 0.65, 0.65]]],
  ],
  5: [
    [[['M', 0.1, 0], ['L', 0.06, 0.45], ['A', 0.3, 0.68, 0.28, 0.27, -125, 150]], [['M', 0.1, 0], ['L', 0.58, 0]]],
    [[['M', 0.6, 0], ['L', 0.1, 0], ['L', 0.06, 0.45], ['A', 0.3, 0.68, 0.28, 0.27, -125, 150]]],
    [[['M', 0.58, 0.02], ['L', 0.14, 0], ['L', 0.1, 0.42], ['C', 0.3, 0.32, 0.62, 0.42, 0.6, 0.7],
      ['C', 0.58, 0.98, 0.2, 1.05, 0.02, 0.88]]],
  ],
  6: [
    [[['M', 0.5, 0], ['C', 0.2, 0.2, 0.02, 0.5, 0.05, 0.72], ['A', 0.3, 0.72, 0.25, 0.26, 180, -160]]],
    [[['M', 0.45, 0], ['L', 0.08, 0.62], ['A', 0.3, 0.74, 0.24, 0.25, 200, -150]]],
    [[['M', 0.55, 0.05], ['C', 0.25, 0.1, 0, 0.4, 0.05, 0.7], ['A', 0.32, 0.68, 0.28, 0.3, 175, -170]]],
  ],
  7: [
    [[['M', 0.02, 0], ['L', 0.62, 0], ['L', 0.25, 1]]],
    [[['M', 0.02, 0], ['L', 0.62, 0], ['L', 0.25, 1]], [['M', 0.22, 0.5], ['L', 0.6, 0.5]]],
    [[['M', 0.02, 0.05], ['L', 0.6, 0], ['C', 0.45, 0.3, 0.32, 0.6, 0.3, 1]]],
  ],
  8: [
    [[['A', 0.3, 0.25, 0.22, 0.24, 90, 450]], [['A', 0.3, 0.73, 0.27, 0.26, -90, 270]]],
    [[['M', 0.52, 0.12], ['C', 0.4, -0.05, 0.05, -0.02, 0.08, 0.2], ['C', 0.1, 0.4, 0.55, 0.55, 0.56, 0.75],
      ['C', 0.57, 1, 0.05, 1.02, 0.05, 0.76], ['C', 0.05, 0.55, 0.52, 0.4, 0.52, 0.12]]],
    [[['A', 0.3, 0.24, 0.18, 0.21, 90, 450], ['A', 0.3, 0.72, 0.27, 0.27, -90, 270]]],
  ],
  9: [
    [[['A', 0.3, 0.27, 0.27, 0.26, 0, -360], ['L', 0.52, 1]]],
    [[['A', 0.3, 0.27, 0.26, 0.26, -20, -380], ['C', 0.56, 0.55, 0.5, 0.8, 0.35, 1]]],
    [[['A', 0.28, 0.25, 0.25, 0.24, 10, -350]], [['M', 0.54, 0.05], ['L', 0.5, 1]]],
  ],
};

/** Points along a stroke's commands, about `step` units apart. */
function trace(commands, step) {
  const points = [];
  const lineTo = (x, y) => {
    const last = points[points.length - 1];
    if (!last) {
      points.push([x, y]);
      return;
    }
    const n = Math.max(1, Math.ceil(Math.hypot(x - last[0], y - last[1]) / step));
    for (let i = 1; i <= n; i++) points.push([last[0] + ((x - last[0]) * i) / n, last[1] + ((y - last[1]) * i) / n]);
  };
  for (const [op, ...a] of commands) {
    if (op === 'M' || op === 'L') lineTo(a[0], a[1]);
    else if (op === 'C') {
      const [x0, y0] = points[points.length - 1];
      const at = (t) => {
        const u = 1 - t;
        return [
          u * u * u * x0 + 3 * u * u * t * a[0] + 3 * u * t * t * a[2] + t * t * t * a[4],
          u * u * u * y0 + 3 * u * u * t * a[1] + 3 * u * t * t * a[3] + t * t * t * a[5],
        ];
      };
      const n = 200;
      for (let i = 1; i <= n; i++) lineTo(...at(i / n));
    } else if (op === 'A') {
      const [cx, cy, rx, ry, from, to] = a;
      const n = Math.ceil(Math.abs(to - from) / 2);
      for (let i = 0; i <= n; i++) {
        const angle = ((from + ((to - from) * i) / n) * Math.PI) / 180;
        lineTo(cx + rx * Math.cos(angle), cy + ry * Math.sin(angle));
      }
    } else throw new Error(`unknown path command ${op}`);
  }
  // Keep only points about `step` apart (curves were traced finely).
  const kept = [points[0]];
  for (const p of points.slice(1)) {
    const last = kept[kept.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= step * 0.999) kept.push(p);
  }
  const end = points[points.length - 1];
  if (kept[kept.length - 1] !== end) kept.push(end);
  return kept;
}

/** Slant, rotation, width and a smooth wobble along the path, per drawing. */
function handOf(next) {
  const between = (lo, hi) => lo + (hi - lo) * next();
  return {
    slant: between(-0.12, 0.22),
    rotation: (between(-7, 7) * Math.PI) / 180,
    widthScale: between(0.85, 1.15),
    // Two slow waves per axis, amplitudes in units of the digit's height.
    waves: Array.from({ length: 4 }, () => ({
      amplitude: between(0.006, 0.014),
      length: between(0.25, 0.8),
      phase: between(0, 2 * Math.PI),
    })),
  };
}

/**
 * Strokes of a digit as a person draws them, in pad pixels.
 * @param {number} digit 0-9.
 * @param {number} style index into STYLES[digit].
 * @param {{height: number, pad?: number, seed?: number}} options height of the drawing in
 *   pad pixels; pad side (280); seed for the hand and the place on the pad.
 * @returns {Array<Array<[number, number]>>} strokes, points a person's pointer would report.
 */
export function handwrite(digit, style, { height, pad = 280, seed = 1 }) {
  const next = random(seed * 7919 + digit * 131 + style * 17 + Math.round(height));
  const hand = handOf(next);
  // Fine points along the template, then the hand's transform and wobble.
  let strokes = STYLES[digit][style].map((commands) => trace(commands, 0.004));
  let travelled = 0;
  strokes = strokes.map((stroke) =>
    stroke.map(([x, y], i) => {
      if (i > 0) travelled += Math.hypot(x - stroke[i - 1][0], y - stroke[i - 1][1]);
      const wave = (k) => {
        const { amplitude, length, phase } = hand.waves[k];
        return amplitude * Math.sin((2 * Math.PI * travelled) / length + phase);
      };
      const sx = (x - 0.3) * hand.widthScale + hand.slant * (0.5 - y) + wave(0) + wave(1);
      const sy = y - 0.5 + wave(2) + wave(3);
      const c = Math.cos(hand.rotation), s = Math.sin(hand.rotation);
      return [c * sx - s * sy, s * sx + c * sy];
    }));
  // Scaled to the height asked for, somewhere on the pad with room for the pen.
  const ys = strokes.flat().map((p) => p[1]);
  const xs = strokes.flat().map((p) => p[0]);
  const [top, bottom, left, right] = [Math.min(...ys), Math.max(...ys), Math.min(...xs), Math.max(...xs)];
  const scale = height / (bottom - top);
  const width = (right - left) * scale;
  const margin = 14;
  const x0 = margin + next() * Math.max(0, pad - 2 * margin - width) - left * scale;
  const y0 = margin + next() * Math.max(0, pad - 2 * margin - height) - top * scale;
  // A pointer reports about every 1.5 px on a small digit, more apart on a large, fast one.
  const spacing = Math.max(1.5, height / 35);
  return strokes.map((stroke) => resample(stroke.map(([x, y]) => [x0 + x * scale, y0 + y * scale]), spacing));
}

function resample(stroke, spacing) {
  const out = [stroke[0]];
  for (const p of stroke.slice(1)) {
    const last = out[out.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= spacing) out.push(p);
  }
  out.push(stroke[stroke.length - 1]);
  return out;
}

/** Not digits: a tap, a short dash, a scribble over most of the pad. */
export function notDigits(pad = 280) {
  const next = random(4242);
  const scribble = [];
  // Back and forth, wandering down the pad, the way one crosses something out.
  for (let i = 0; i <= 24; i++) {
    const y = 40 + (i * (pad - 80)) / 24 + (next() - 0.5) * 12;
    scribble.push([i % 2 ? pad - 40 + next() * 10 : 40 - next() * 10, y]);
  }
  return {
    tap: [[[150, 130]]],
    dash: [trace([['M', 120, 140], ['L', 140, 141]], 1.5)],
    scribble: [resample(scribble.flatMap((p, i) => (i ? trace([['M', ...scribble[i - 1]], ['L', ...p]], 4) : [p])), 4)],
  };
}
