//! Row-major matrix products on cuBLAS, which is column-major.
//!
//! A row-major `r × c` matrix is, read column-major, its `c × r` transpose. So the row-major
//! `C = op(A) · op(B)` is computed as the column-major `Cᵀ = op(B)ᵀ · op(A)ᵀ`: the operands
//! swap places, the output dimensions swap, and each stored matrix keeps its own transpose
//! flag. [`gemm_config`] does this mapping; the test checks it against a plain column-major
//! SGEMM written from cuBLAS's definition.

use cudarc::cublas::sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{DevicePtr, DevicePtrMut};

use super::GpuResult;
use crate::error::{Error, Result};

/// A row-major product `c[rows × cols] = op(a)[rows × inner] · op(b)[inner × cols]`, where
/// `op` transposes the stored matrix when its flag is set (`a` is then stored
/// `inner × rows`, `b` stored `cols × inner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulShape {
    /// Rows of `c`.
    pub rows: usize,
    /// The summed dimension.
    pub inner: usize,
    /// Columns of `c`.
    pub cols: usize,
    /// `a` is stored transposed.
    pub a_transposed: bool,
    /// `b` is stored transposed.
    pub b_transposed: bool,
}

/// The cuBLAS SGEMM arguments for `shape`, to be called with the operands swapped
/// (cuBLAS's A is our `b`, its B our `a`), `alpha = 1`, `beta = 0`.
pub fn gemm_config(shape: MatmulShape) -> Result<GemmConfig<f32>> {
    let MatmulShape {
        rows,
        inner,
        cols,
        a_transposed,
        b_transposed,
    } = shape;
    let int = |v: usize| {
        i32::try_from(v).map_err(|_| Error::Config(format!("matrix dimension {v} too large")))
    };
    Ok(GemmConfig {
        transa: if b_transposed {
            CUBLAS_OP_T
        } else {
            CUBLAS_OP_N
        },
        transb: if a_transposed {
            CUBLAS_OP_T
        } else {
            CUBLAS_OP_N
        },
        m: int(cols)?,
        n: int(rows)?,
        k: int(inner)?,
        alpha: 1.0,
        // Leading dimension = the stored row length of each row-major operand.
        lda: int(if b_transposed { inner } else { cols })?,
        ldb: int(if a_transposed { rows } else { inner })?,
        beta: 0.0,
        ldc: int(cols)?,
    })
}

/// Queues `c = op(a) · op(b)` (row-major, see [`MatmulShape`]) on the handle's stream.
pub fn matmul<A: DevicePtr<f32>, B: DevicePtr<f32>, C: DevicePtrMut<f32>>(
    blas: &CudaBlas,
    shape: MatmulShape,
    a: &A,
    b: &B,
    c: &mut C,
) -> Result<()> {
    let config = gemm_config(shape)?;
    // SAFETY: every caller passes buffers holding at least the stated matrices
    // (rows * inner, inner * cols and rows * cols floats).
    unsafe { blas.gemm(config, b, a, c) }.gpu("cublasSgemm")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cudarc::cublas::sys::cublasOperation_t;

    /// cuBLAS's SGEMM by its definition: column-major, element (i, j) of X at
    /// `x[i + j * ldx]`, `C = op(A) · op(B)` with `op(A)` m × k and `op(B)` k × n.
    fn column_major_sgemm(config: &GemmConfig<f32>, a: &[f32], b: &[f32], c: &mut [f32]) {
        let (m, n, k) = (config.m as usize, config.n as usize, config.k as usize);
        let (lda, ldb, ldc) = (
            config.lda as usize,
            config.ldb as usize,
            config.ldc as usize,
        );
        let at = |i: usize, p: usize| match config.transa {
            cublasOperation_t::CUBLAS_OP_N => a[i + p * lda],
            _ => a[p + i * lda],
        };
        let bt = |p: usize, j: usize| match config.transb {
            cublasOperation_t::CUBLAS_OP_N => b[p + j * ldb],
            _ => b[j + p * ldb],
        };
        for j in 0..n {
            for i in 0..m {
                let sum: f32 = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
                // With beta = 0 cuBLAS does not read C (it may hold garbage, NaN here).
                let previous = if config.beta == 0.0 {
                    0.0
                } else {
                    config.beta * c[i + j * ldc]
                };
                c[i + j * ldc] = config.alpha * sum + previous;
            }
        }
    }

    /// Row-major `op(x)[r][c]` of a stored matrix.
    fn element(x: &[f32], transposed: bool, r: usize, c: usize, rows: usize, cols: usize) -> f32 {
        if transposed {
            x[c * rows + r]
        } else {
            x[r * cols + c]
        }
    }

    #[test]
    fn swapped_operands_give_the_row_major_product() {
        // The backend's three uses: forward (x · W), weight gradient (xᵀ · δ) and input
        // gradient (δ · Wᵀ), at odd sizes so that any swapped dimension shows.
        let shapes = [
            (5, 7, 3, false, false),
            (7, 5, 3, true, false),
            (5, 3, 7, false, true),
            (4, 6, 2, true, true),
        ];
        for (rows, inner, cols, a_transposed, b_transposed) in shapes {
            let shape = MatmulShape {
                rows,
                inner,
                cols,
                a_transposed,
                b_transposed,
            };
            let a: Vec<f32> = (0..rows * inner).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..inner * cols).map(|i| (i as f32 * 0.71).cos()).collect();
            let mut c = vec![f32::NAN; rows * cols];
            let config = gemm_config(shape).expect("config");
            // As `matmul` calls cuBLAS: its A is our b, its B our a.
            column_major_sgemm(&config, &b, &a, &mut c);
            for r in 0..rows {
                for k in 0..cols {
                    let expected: f32 = (0..inner)
                        .map(|p| {
                            element(&a, a_transposed, r, p, rows, inner)
                                * element(&b, b_transposed, p, k, inner, cols)
                        })
                        .sum();
                    let got = c[r * cols + k];
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "{shape:?}: c[{r}][{k}] = {got}, expected {expected}"
                    );
                }
            }
        }
    }
}
