//! The CPU backend's arithmetic on slices: the sparse first layer's forward product and
//! weight gradient, and the small dense products around the second layer.
//!
//! Each kernel is compiled for AVX-512, AVX2 and plain x86-64 (or whatever the target has)
//! and picks the best at run time. Where the CPU has FMA, multiply-adds are fused (one
//! rounding); elsewhere they are a multiply then an add. Either way every output element
//! is summed in the same order whatever the block sizes or threads, so a run gives the same
//! bits with any thread count.
//!
//! The sparse kernels keep a block of up to 256 outputs (16 AVX-512 registers) in local
//! arrays that the compiler holds in registers across all non-zero inputs, so each
//! non-zero input costs one pass over its weight row and no loads or stores of the
//! outputs. Rows should start on 64-byte boundaries ([`Aligned`]): unaligned 64-byte loads
//! straddle two cache lines and measured about 1.7 times slower here.

use multiversion::multiversion;
use multiversion::target::target_cfg_f;

use crate::data::PIXEL_SCALE;

/// A stored input value of the first layer: a `u8` pixel (read as `p * PIXEL_SCALE`) or an
/// `f32` feature already holding the model's value.
pub trait InputValue: Copy + Send + Sync + 'static {
    /// The value the model reads.
    fn real(self) -> f32;
}

impl InputValue for u8 {
    #[inline(always)]
    fn real(self) -> f32 {
        f32::from(self) * PIXEL_SCALE
    }
}

impl InputValue for f32 {
    #[inline(always)]
    fn real(self) -> f32 {
        self
    }
}

/// Floats per 64-byte cache line; row strides are multiples of it.
pub const LANES: usize = 16;

/// A float buffer whose first element sits on a 64-byte boundary (plain `Vec<f32>` only
/// promises 4 or 16 bytes).
#[derive(Debug, Clone, Default)]
pub struct Aligned {
    data: Vec<f32>,
    offset: usize,
    len: usize,
}

impl Aligned {
    /// `len` copies of `value`.
    pub fn filled(len: usize, value: f32) -> Aligned {
        let data = vec![value; len + LANES];
        let offset = data.as_ptr().align_offset(64).min(LANES);
        Aligned { data, offset, len }
    }

    /// The buffer.
    pub fn as_slice(&self) -> &[f32] {
        &self.data[self.offset..self.offset + self.len]
    }

    /// The buffer, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data[self.offset..self.offset + self.len]
    }

    /// Number of floats.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// `a * b + c`, fused where the selected target has FMA.
macro_rules! madd {
    ($a:expr, $b:expr, $c:expr) => {
        if target_cfg_f!(target_feature = "fma") {
            f32::mul_add($a, $b, $c)
        } else {
            $c + $a * $b
        }
    };
}

/// Calls `$kernel::<B>(column, ...)` over `0..$width` in blocks of 256 (with AVX-512's 32
/// registers; else at most 64, so the block's sums still fit in registers), 128, 64, 32 and
/// 16 columns, then once with a generic width for what is left (only when `$width` is not
/// a multiple of 16). The block sizes change how the work is cut, not the arithmetic.
macro_rules! by_blocks {
    ($width:expr, $kernel:ident, $generic:ident, ($($arg:expr),*)) => {
        by_blocks!($width, $kernel::<>, $generic, ($($arg),*))
    };
    ($width:expr, $kernel:ident::<$($types:ty),*>, $generic:ident, ($($arg:expr),*)) => {{
        let width = $width;
        let widest = widest_block();
        let mut column = 0;
        while column < width {
            let left = width - column;
            column += if left >= 256 && widest >= 256 {
                $kernel::<$($types,)* 256>(column, $($arg),*)
            } else if left >= 128 && widest >= 128 {
                $kernel::<$($types,)* 128>(column, $($arg),*)
            } else if left >= 64 {
                $kernel::<$($types,)* 64>(column, $($arg),*)
            } else if left >= 32 {
                $kernel::<$($types,)* 32>(column, $($arg),*)
            } else if left >= 16 {
                $kernel::<$($types,)* 16>(column, $($arg),*)
            } else {
                $generic(column, left, $($arg),*)
            };
        }
    }};
}

/// The widest block of outputs whose sums the CPU can hold in registers.
fn widest_block() -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return 256;
    }
    64
}

/// One sample through the sparse first layer: `out = act(bias + Σ x_j W[j, :])` over the
/// sample's non-zero pixels (`indices`, `values`), with `W` input-major of row stride
/// `out.len()`. `act` is ReLU when `relu`, else the identity.
pub fn sparse_forward<V: InputValue>(
    out: &mut [f32],
    bias: &[f32],
    indices: &[u16],
    values: &[V],
    weights: &[f32],
    relu: bool,
) {
    let stride = out.len();
    by_blocks!(
        stride,
        forward_block::<V>,
        forward_columns,
        (out, bias, indices, values, weights, relu)
    );
}

#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn forward_block<V: InputValue, const B: usize>(
    column: usize,
    out: &mut [f32],
    bias: &[f32],
    indices: &[u16],
    values: &[V],
    weights: &[f32],
    relu: bool,
) -> usize {
    let stride = out.len();
    let mut acc = [0.0f32; B];
    acc.copy_from_slice(&bias[column..column + B]);
    for (&j, &v) in indices.iter().zip(values) {
        let x = v.real();
        let start = j as usize * stride + column;
        let row: &[f32; B] = match weights
            .get(start..start + B)
            .and_then(|r| r.try_into().ok())
        {
            Some(row) => row,
            None => continue,
        };
        for k in 0..B {
            acc[k] = madd!(x, row[k], acc[k]);
        }
    }
    let out = &mut out[column..column + B];
    if relu {
        for (o, a) in out.iter_mut().zip(acc) {
            *o = a.max(0.0);
        }
    } else {
        out.copy_from_slice(&acc);
    }
    B
}

#[allow(clippy::too_many_arguments)]
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn forward_columns<V: InputValue>(
    column: usize,
    width: usize,
    out: &mut [f32],
    bias: &[f32],
    indices: &[u16],
    values: &[V],
    weights: &[f32],
    relu: bool,
) -> usize {
    let stride = out.len();
    let out = &mut out[column..column + width];
    out.copy_from_slice(&bias[column..column + width]);
    for (&j, &v) in indices.iter().zip(values) {
        let x = v.real();
        let row = &weights[j as usize * stride + column..][..width];
        for (o, &w) in out.iter_mut().zip(row) {
            *o = madd!(x, w, *o);
        }
    }
    if relu {
        out.iter_mut().for_each(|o| *o = o.max(0.0));
    }
    width
}

/// The batch samples whose input `j` is non-zero, in pieces: positions in the batch
/// (ascending over all pieces) and the values the model reads ([`InputValue::real`]).
pub type Columns<'a> = [(&'a [u16], &'a [f32])];

/// One row of the sparse first layer's weight gradient: `out = Σ x_r delta[r, :]` over
/// `columns`, `delta` with row stride `out.len()`.
pub fn sparse_gradient(out: &mut [f32], columns: &Columns<'_>, delta: &[f32]) {
    let stride = out.len();
    by_blocks!(
        stride,
        gradient_block,
        gradient_columns,
        (out, columns, delta)
    );
}

#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn gradient_block<const B: usize>(
    column: usize,
    out: &mut [f32],
    columns: &Columns<'_>,
    delta: &[f32],
) -> usize {
    let stride = out.len();
    let mut acc = [0.0f32; B];
    for &(rows, values) in columns {
        for (&r, &x) in rows.iter().zip(values) {
            let start = r as usize * stride + column;
            let row: &[f32; B] = match delta.get(start..start + B).and_then(|r| r.try_into().ok()) {
                Some(row) => row,
                None => continue,
            };
            for k in 0..B {
                acc[k] = madd!(x, row[k], acc[k]);
            }
        }
    }
    out[column..column + B].copy_from_slice(&acc);
    B
}

#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn gradient_columns(
    column: usize,
    width: usize,
    out: &mut [f32],
    columns: &Columns<'_>,
    delta: &[f32],
) -> usize {
    let stride = out.len();
    let out = &mut out[column..column + width];
    out.fill(0.0);
    for &(rows, values) in columns {
        for (&r, &x) in rows.iter().zip(values) {
            let row = &delta[r as usize * stride + column..][..width];
            for (o, &d) in out.iter_mut().zip(row) {
                *o = madd!(x, d, *o);
            }
        }
    }
    width
}

/// `y += a * x`.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = madd!(a, x, *y);
    }
}

/// `Σ a[i] * b[i]` summed in 16 lanes (element `i` into lane `i % 16`), then the lanes
/// added pairwise: a fixed order for a given length.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut a_blocks = a.chunks_exact(LANES);
    let mut b_blocks = b.chunks_exact(LANES);
    for (a, b) in (&mut a_blocks).zip(&mut b_blocks) {
        for l in 0..LANES {
            lanes[l] = madd!(a[l], b[l], lanes[l]);
        }
    }
    for (l, (&a, &b)) in a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .enumerate()
    {
        lanes[l] = madd!(a, b, lanes[l]);
    }
    let mut half = LANES / 2;
    while half > 0 {
        for l in 0..half {
            lanes[l] += lanes[l + half];
        }
        half /= 2;
    }
    lanes[0]
}

/// Zeroes `delta` where `activation` is not positive (ReLU's derivative).
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
pub fn relu_mask(delta: &mut [f32], activation: &[f32]) {
    for (d, &a) in delta.iter_mut().zip(activation) {
        *d = if a > 0.0 { *d } else { 0.0 };
    }
}

/// `out += row` element by element.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
pub fn add_assign(out: &mut [f32], row: &[f32]) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same sums in plain sequential f64, to compare within a tolerance.
    fn reference_forward(bias: &[f32], indices: &[u16], values: &[u8], w: &[f32]) -> Vec<f64> {
        let n = bias.len();
        let mut out: Vec<f64> = bias.iter().map(|&b| f64::from(b)).collect();
        for (&j, &v) in indices.iter().zip(values) {
            let x = f64::from(f32::from(v) * PIXEL_SCALE);
            for k in 0..n {
                out[k] += x * f64::from(w[j as usize * n + k]);
            }
        }
        out
    }

    #[test]
    fn sparse_kernels_match_plain_sums_for_every_block_width() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for width in [1, 5, 16, 17, 48, 112, 256, 272, 300, 512, 531] {
            let inputs = 40;
            let weights = Aligned::filled(inputs * width, 0.0);
            let mut weights = weights;
            for w in weights.as_mut_slice() {
                *w = (next() % 2001) as f32 / 1000.0 - 1.0;
            }
            let bias: Vec<f32> = (0..width)
                .map(|_| (next() % 101) as f32 / 100.0 - 0.5)
                .collect();
            let indices: Vec<u16> = (0..inputs as u16).filter(|_| next() % 3 == 0).collect();
            let values: Vec<u8> = indices.iter().map(|_| (next() % 255 + 1) as u8).collect();
            let want = reference_forward(&bias, &indices, &values, weights.as_slice());
            let reals: Vec<f32> = values.iter().map(|&v| v.real()).collect();
            // Features (f32 values) through the same kernel give the same sums.
            let mut from_features = vec![f32::NAN; width];
            sparse_forward(
                &mut from_features,
                &bias,
                &indices,
                &reals,
                weights.as_slice(),
                false,
            );
            for relu in [false, true] {
                let mut out = vec![f32::NAN; width];
                sparse_forward(&mut out, &bias, &indices, &values, weights.as_slice(), relu);
                if !relu {
                    assert_eq!(out, from_features, "width {width}: u8 and f32 inputs");
                }
                for (got, want) in out.iter().zip(&want) {
                    let want = if relu { want.max(0.0) } else { *want };
                    assert!(
                        (f64::from(*got) - want).abs() < 1e-5,
                        "width {width}: {got} vs {want}"
                    );
                }
            }
            // The gradient kernel is the same sum with rows for pixels and no bias.
            // Split in two pieces, as two threads hand them over.
            let mut out = vec![f32::NAN; width];
            let half = indices.len() / 2;
            let columns = [
                (&indices[..half], &reals[..half]),
                (&indices[half..], &reals[half..]),
            ];
            sparse_gradient(&mut out, &columns, weights.as_slice());
            let zero = vec![0.0; width];
            let want = reference_forward(&zero, &indices, &values, weights.as_slice());
            for (got, want) in out.iter().zip(&want) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "width {width}");
            }
        }
    }

    #[test]
    fn dot_and_aligned_buffers() {
        for n in [0, 1, 15, 16, 17, 100, 128] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.01).collect();
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            assert!((f64::from(dot(&a, &b)) - want).abs() < 1e-3 * want.abs().max(1.0));
        }
        for len in [0, 1, 100] {
            let buffer = Aligned::filled(len, 2.0);
            assert_eq!(buffer.as_slice().as_ptr() as usize % 64, 0);
            assert_eq!(buffer.len(), len);
            assert!(buffer.as_slice().iter().all(|&v| v == 2.0));
        }
    }
}
