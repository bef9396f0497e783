//! Classifies MNIST digits with the tinymlp runtime on a Cortex-M and logs, over defmt:
//! each misclassified digit, every prediction, the accuracy, a digest of all raw outputs
//! (compared bit for bit with the host by `tests/tests/firmware_qemu.rs`), the cost per
//! inference and the peak stack. With the `tabular` feature it classifies tabular test
//! inputs (raw f32 features) with an int8 and an f32 feature model instead (`tabular.rs`).
//!
//! The model blob and the digits are `include_bytes!` statics: they stay in flash and the
//! runtime borrows the weights from there (zero-copy). Choose the board with a cargo feature
//! (`qemu`, `mps2-an500`, `mps2-an505`, `nrf52840`, `rp2040`, `rp2350`); see README.md.
#![no_std]
#![no_main]

mod board;
mod kernel_check;
mod stack;
#[cfg(feature = "tabular")]
mod tabular;
mod tally;

use cortex_m_rt::entry;
use panic_probe as _;
#[cfg(not(feature = "tabular"))]
use tally::Tally;
use tinymlp::Model;
#[cfg(not(feature = "tabular"))]
use tinymlp::{Int8Scratch, Prediction};

/// The int8 model, in flash (named so the size report finds it).
#[cfg(not(feature = "tabular"))]
static MODEL_BLOB: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/model.tmlp")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/model.tmlp"));
/// Test digits, in flash: records of [label u8][784 pixels u8], as many as flash allows.
#[cfg(not(feature = "tabular"))]
static DIGIT_RECORDS: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/digits.bin")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/digits.bin"));
#[cfg(not(feature = "tabular"))]
static MODEL: &[u8] = &MODEL_BLOB;
#[cfg(not(feature = "tabular"))]
static DIGITS: &[u8] = &DIGIT_RECORDS;
#[cfg(not(feature = "tabular"))]
const RECORD: usize = 1 + 784;

/// Hidden width and classes of the MNIST model (`check_scratch` rejects a bigger model),
/// summing 256 hidden outputs at a time: 2,128 bytes instead of 3,152 with one block. Each
/// block reads the 784 pixels again to skip the zeros: with 128 outputs a block (1,616
/// bytes) the M4 runs 0.809 instructions per MAC against 0.725 with 256, and the peak stack
/// stays under 4 KiB with 256 (4,044 bytes in inference, 2,672 while loading; BENCHMARKS.md).
#[cfg(not(feature = "tabular"))]
type Scratch = Int8Scratch<512, 10, 256>;

/// Which int8 kernel `tinymlp` runs on this target.
const KERNEL: &str = if cfg!(target_abi = "eabihf") {
    "cortex_m (DSP)"
} else {
    "portable"
};

#[entry]
fn main() -> ! {
    let ok = run();
    board::exit(ok)
}

fn run() -> bool {
    board::init();
    defmt::println!("{=str} kernel={=str}", board::TAG, KERNEL);
    if !kernel_check::run() {
        return false;
    }
    classify()
}

#[cfg(feature = "tabular")]
fn classify() -> bool {
    tabular::run()
}

#[cfg(not(feature = "tabular"))]
fn classify() -> bool {
    // Measure the stack that loading and inference need, not the kernel check's buffers.
    stack::paint();
    let model = match tinymlp_load_model(MODEL) {
        Ok(model) => model,
        Err(error) => {
            defmt::error!("model: {}", error);
            return false;
        }
    };
    if let Err(error) = model.check_scratch::<Scratch>() {
        defmt::error!("scratch: {}", error);
        return false;
    }
    let load_stack = stack::peak();
    stack::paint();
    classify_all(&model, load_stack)
}

/// Out of line: its frame, which holds the scratch buffer, is not on the stack while the
/// model loads.
#[cfg(not(feature = "tabular"))]
#[inline(never)]
fn classify_all(model: &Model<'_>, load_stack: usize) -> bool {
    let count = DIGITS.len() / RECORD;
    defmt::println!(
        "model: {=usize} bytes at {=usize:#x}, {=u64} MACs; digits: {=usize}",
        MODEL.len(),
        MODEL.as_ptr() as usize,
        model.macs(),
        count
    );

    let mut scratch = Scratch::new();
    let mut tally = Tally::new(model, count);
    let mut counter = board::CostCounter::start();
    for (index, record) in DIGITS.chunks_exact(RECORD).enumerate() {
        let Some((&label, pixels)) = record.split_first() else {
            return false;
        };
        let before = counter.now();
        let prediction = tinymlp_predict_digit(model, pixels, &mut scratch);
        let cost = counter.since(before);
        match prediction {
            Ok(prediction) => tally.record(index, label, &prediction, cost),
            Err(error) => {
                defmt::error!("digit {=usize}: {}", index, error);
                return false;
            }
        }
    }
    tally.finish(load_stack);
    true
}

/// Validates the blob in flash; the weights stay there (zero-copy). Out of line and
/// unmangled so the panic-path check and the instruction counter find it.
#[inline(never)]
#[no_mangle]
pub fn tinymlp_load_model(blob: &'static [u8]) -> tinymlp::Result<Model<'static>> {
    Model::from_bytes(blob)
}

/// One whole inference, out of line and unmangled for the same reason.
#[cfg(not(feature = "tabular"))]
#[inline(never)]
#[no_mangle]
pub fn tinymlp_predict_digit<'s>(
    model: &Model<'_>,
    pixels: &[u8],
    scratch: &'s mut Scratch,
) -> tinymlp::Result<Prediction<'s>> {
    model.predict(pixels, scratch)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc {=u32:#x}", frame.pc());
    board::exit(false)
}
