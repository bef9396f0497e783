//! Int8 dense kernel for Arm cores with the DSP extension (Cortex-M4, M7, M33 with DSP):
//! weights widened four at a time with `SXTB16`, 16-bit multiply-accumulates (`SMLAxy`)
//! into sums held in registers.
//!
//! The weights are input-major, so the contiguous direction is the outputs. The kernel
//! pairs up the non-zero inputs (zero inputs are skipped, as in the portable kernel) and
//! gathers up to `CHUNK` pairs. Then, for each group of four outputs, it keeps the four
//! sums in registers while it runs through the gathered pairs: it loads four weights of
//! each row of a pair as one word, widens them to 16-bit lanes with `SXTB16`, and adds
//! `x0·w0 + x1·w1` to each sum with two of `SMLABB`/`SMLABT`/`SMLATB`/`SMLATT` (one
//! 16-bit lane of each operand): eight multiply-accumulates in eighteen instructions with
//! the loop, and the sums are read and written once per chunk instead of once per pair.
//! `SMLAD` does two products per instruction but needs the two rows' lanes paired with
//! `PKHBT`/`PKHTB` first: as many instructions, and one more register than the loop has.
//! The kernel it replaced (per pair of rows: every sum loaded, `PKH` and `SMLAD`, stored)
//! ran 0.922 instructions per MAC of the MNIST model (BENCHMARKS.md).
//!
//! The products and sums wrap modulo 2^32 like the reference kernel's `wrapping_add`, and
//! integer addition in that ring does not depend on the order of the terms, so the results
//! are bit-exact against [`super::reference::dense_int8`]. The firmware example checks that
//! in QEMU over random shapes and values.
//!
//! Rust has no stable intrinsic for these instructions (`core::arch::arm`'s DSP intrinsics
//! are unstable). The loop over the gathered pairs is one block of inline assembly: it
//! needs twelve registers at once, all the general registers inline assembly may use, and
//! written in Rust around one-instruction `asm!` helpers LLVM spilled the loop's bound.
#![allow(unsafe_code)]

use core::arch::asm;

/// Pairs of non-zero inputs gathered before the outputs are updated: 16 pairs are 192
/// bytes of stack, and the sums are read and written once per 32 inputs.
const CHUNK: usize = 16;

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with int8 weights, input-major, and int32
/// little-endian bias. `input` yields the raw activations (pixels `0..=255` or int8
/// `-128..=127`; any value in `-255..=255` is handled).
///
/// Same contract and results as [`super::portable::dense_int8`].
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len();
    let rows = super::column_window(weights, outputs, 0..outputs);
    dense_int8_rows(input, rows, bias, out);
}

/// [`dense_int8`] over the rows `rows` yields (see [`super::portable::dense_int8_rows`]).
#[inline]
pub fn dense_int8_rows<'w, I, R>(input: I, rows: R, bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    super::start_from_bias(out, bias);
    let mut chunk = Chunk::new();
    let mut pending: Option<(i16, &[u8])> = None;
    for (x, row) in input.zip(rows) {
        if x == 0 {
            continue;
        }
        match pending.take() {
            None => pending = Some((x, row)),
            Some((x0, row0)) => chunk.push(x0, row0, x, row, out),
        }
    }
    // An odd input left over: pair it with a zero input on the same row.
    if let Some((x0, row0)) = pending {
        chunk.push(x0, row0, 0, row0, out);
    }
    chunk.flush(out);
}

/// Two non-zero inputs and where their rows start. The assembly loop reads the fields at
/// these offsets.
#[derive(Clone, Copy)]
#[repr(C)]
struct RowPair {
    row0: *const u8,
    row1: *const u8,
    /// `x0` in the bottom 16-bit lane, `x1` in the top one: the `SMLAxy` operand order.
    x: u32,
}

/// Pairs whose rows and the output share `width` columns, waiting to be added.
struct Chunk {
    pairs: [RowPair; CHUNK],
    len: usize,
    width: usize,
}

impl Chunk {
    fn new() -> Self {
        let empty = RowPair {
            row0: core::ptr::null(),
            row1: core::ptr::null(),
            x: 0,
        };
        Chunk {
            pairs: [empty; CHUNK],
            len: 0,
            width: 0,
        }
    }

    /// Adds `x0 · row0 + x1 · row1` to `out`, now or at a later [`Chunk::flush`]; over the
    /// columns the two rows and `out` share (the portable kernel's common prefix).
    #[inline(always)]
    fn push(&mut self, x0: i16, row0: &[u8], x1: i16, row1: &[u8], out: &mut [i32]) {
        let width = out.len().min(row0.len()).min(row1.len());
        if width == 0 {
            return;
        }
        // Every pair of a chunk has the same width (the rows of a layer have), so a chunk
        // is checked against its rows' ends once.
        if self.len == CHUNK || (self.len > 0 && width != self.width) {
            self.flush(out);
        }
        self.width = width;
        if let Some(slot) = self.pairs.get_mut(self.len) {
            *slot = RowPair {
                row0: row0.as_ptr(),
                row1: row1.as_ptr(),
                x: u32::from(x0 as u16) | (u32::from(x1 as u16) << 16),
            };
            self.len += 1;
        }
    }

    /// Adds the gathered pairs to `out` and empties the chunk. Out of line, so the loop that
    /// gathers them keeps its few registers.
    #[inline(never)]
    fn flush(&mut self, out: &mut [i32]) {
        let pairs = self.pairs.get(..self.len).unwrap_or_default();
        self.len = 0;
        let out = out.get_mut(..self.width).unwrap_or_default();
        let (groups, rest) = out.as_chunks_mut::<4>();
        // SAFETY: every row of `pairs` holds at least `self.width` bytes (`push`), and the
        // groups end at out.len() <= self.width.
        unsafe { add_groups(pairs, groups) };
        let done = 4 * groups.len();
        for pair in pairs {
            let (x0, x1) = (pair.x as u16 as i16, (pair.x >> 16) as u16 as i16);
            for (column, sum) in (done..).zip(rest.iter_mut()) {
                // SAFETY: column < self.width, which both rows hold (`push`).
                let (w0, w1) = unsafe { (*pair.row0.add(column), *pair.row1.add(column)) };
                *sum = sum
                    .wrapping_add(i32::from(x0) * i32::from(w0 as i8))
                    .wrapping_add(i32::from(x1) * i32::from(w1 as i8));
            }
        }
    }
}

/// Where [`add_groups`]'s assembly keeps what it needs only between groups, on the stack:
/// its twelve registers go to the loop over the pairs.
#[repr(C)]
struct GroupLoop {
    /// The next four sums.
    sums: *mut [i32; 4],
    /// One past the last four sums.
    sums_end: *mut [i32; 4],
    pairs: *const RowPair,
}

/// `sums[g][i] += x0 · row0[4g + i] + x1 · row1[4g + i]` for every group of four sums `g`,
/// `i` in `0..4`, and every pair.
///
/// # Safety
/// Both rows of every pair must hold at least `4 · sums.len()` bytes.
#[inline(always)]
unsafe fn add_groups(pairs: &[RowPair], sums: &mut [[i32; 4]]) {
    if pairs.is_empty() || sums.is_empty() {
        return;
    }
    let range = sums.as_mut_ptr_range();
    let mut state = GroupLoop {
        sums: range.start,
        sums_end: range.end,
        pairs: pairs.as_ptr(),
    };
    // SAFETY (of the block): for each group of four sums (at least one) it loads them, runs
    // through the pairs (at least one: 12 bytes each, row0, row1, x as `RowPair` lays them
    // out) reading four bytes at `row + column` of each row, which the caller guarantees
    // are inside the row, and stores the sums back, inside `sums`. Unaligned word loads are
    // allowed on the cores this module is compiled for. Between groups it keeps a pointer
    // to `state` in 8 bytes it pushes below the stack pointer and pops before it ends.
    // Lanes of a weight word w after SXTB16: (w[0], w[2]); after "ror #8": (w[1], w[3]).
    asm!(
        "str {x}, [sp, #-8]!",
        "3:",
        "ldr {x}, [sp]",
        "ldr {w1}, [{x}]",
        "ldr {pair}, [{x}, #8]",
        "ldrd {s0}, {s1}, [{w1}]",
        "ldrd {s2}, {s3}, [{w1}, #8]",
        "2:",
        "ldrd {w0}, {w1}, [{pair}], #12",
        "ldr {x}, [{pair}, #-4]",
        "ldr {w0}, [{w0}, {column}]",
        "ldr {w1}, [{w1}, {column}]",
        "sxtb16 {odd0}, {w0}, ror #8",
        "sxtb16 {w0}, {w0}",
        "sxtb16 {odd1}, {w1}, ror #8",
        "sxtb16 {w1}, {w1}",
        "smlabb {s0}, {w0}, {x}, {s0}",
        "smlabt {s0}, {w1}, {x}, {s0}",
        "smlatb {s2}, {w0}, {x}, {s2}",
        "smlatt {s2}, {w1}, {x}, {s2}",
        "smlabb {s1}, {odd0}, {x}, {s1}",
        "smlabt {s1}, {odd1}, {x}, {s1}",
        "smlatb {s3}, {odd0}, {x}, {s3}",
        "smlatt {s3}, {odd1}, {x}, {s3}",
        "cmp {pair}, {end}",
        "bne 2b",
        "ldr {x}, [sp]",
        "ldr {w1}, [{x}]",
        "strd {s0}, {s1}, [{w1}], #16",
        "strd {s2}, {s3}, [{w1}, #-8]",
        "str {w1}, [{x}]",
        "ldr {w0}, [{x}, #4]",
        "add {column}, {column}, #4",
        "cmp {w1}, {w0}",
        "bne 3b",
        "add sp, sp, #8",
        x = inout(reg) &raw mut state => _,
        end = in(reg) pairs.as_ptr_range().end,
        column = inout(reg) 0usize => _,
        pair = out(reg) _,
        w0 = out(reg) _,
        w1 = out(reg) _,
        odd0 = out(reg) _,
        odd1 = out(reg) _,
        s0 = out(reg) _,
        s1 = out(reg) _,
        s2 = out(reg) _,
        s3 = out(reg) _,
    );
}
