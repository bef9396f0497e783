//! Picks the memory map of the board chosen by a cargo feature, and puts the model blob and
//! as many test digits as that board's flash holds into OUT_DIR for `include_bytes!`; with
//! the `tabular` feature, the two feature models and their test inputs instead.
//!
//! The files come from `../models/` unless `TINYMLP_MODEL` / `TINYMLP_DIGITS` (or, for
//! `tabular`, `TINYMLP_TABULAR_INT8` / `TINYMLP_TABULAR_F32` / `TINYMLP_TABULAR_INPUTS`)
//! name other files (your own trained model, see README.md).

use std::env;
use std::fs;
use std::path::PathBuf;

/// One digit record: label byte, then 28 x 28 pixels.
const RECORD: usize = 1 + 784;
/// Flash kept free for code and constants besides the blob and the digits (the firmware
/// needs about 30 KiB; the rest is headroom for your changes).
const CODE_RESERVE: usize = 64 * 1024;
/// Never embed more digits than the committed set holds.
const MAX_DIGITS: usize = 1000;

struct Board {
    /// The cargo feature, as cargo spells it in `CARGO_FEATURE_*`.
    feature: &'static str,
    /// The feature as the user types it.
    name: &'static str,
    what: &'static str,
    memory_map: &'static str,
    flash: usize,
    /// Targets this board's code runs on; the first is the one to use.
    targets: &'static [&'static str],
}

const BOARDS: [Board; 6] = [
    Board {
        feature: "QEMU",
        name: "qemu",
        what: "QEMU mps2-an386, Cortex-M4F",
        memory_map: "qemu.x",
        flash: 4 << 20,
        // thumbv7em-none-eabi: the portable kernel on the same core (the instruction-count
        // baseline); thumbv6m-none-eabi: the Cortex-M0+ build, counted in QEMU (ARMv6-M is a
        // subset of the M4's ARMv7E-M and no QEMU board has an M0+ with room for the model).
        targets: &[
            "thumbv7em-none-eabihf",
            "thumbv7em-none-eabi",
            "thumbv6m-none-eabi",
        ],
    },
    Board {
        feature: "MPS2_AN500",
        name: "mps2-an500",
        what: "QEMU mps2-an500, Cortex-M7",
        memory_map: "mps2-an500.x",
        flash: 4 << 20,
        targets: &["thumbv7em-none-eabihf"],
    },
    Board {
        feature: "MPS2_AN505",
        name: "mps2-an505",
        what: "QEMU mps2-an505, Cortex-M33",
        memory_map: "mps2-an505.x",
        flash: 4 << 20,
        targets: &["thumbv8m.main-none-eabihf"],
    },
    Board {
        feature: "NRF52840",
        name: "nrf52840",
        what: "nRF52840-DK, Cortex-M4F",
        memory_map: "nrf52840.x",
        flash: 1 << 20,
        targets: &["thumbv7em-none-eabihf"],
    },
    Board {
        feature: "RP2040",
        name: "rp2040",
        what: "Raspberry Pi Pico (RP2040), Cortex-M0+",
        memory_map: "rp2040.x",
        flash: (2 << 20) - 0x100,
        targets: &["thumbv6m-none-eabi"],
    },
    Board {
        feature: "RP2350",
        name: "rp2350",
        what: "Raspberry Pi Pico 2 (RP2350), Cortex-M33",
        memory_map: "rp2350.x",
        flash: 4 << 20,
        targets: &["thumbv8m.main-none-eabihf"],
    },
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    let chosen: Vec<&Board> = BOARDS
        .iter()
        .filter(|b| env::var_os(format!("CARGO_FEATURE_{}", b.feature)).is_some())
        .collect();
    let board = match chosen.as_slice() {
        [board] => *board,
        _ => refuse(&format!(
            "choose exactly one board feature: {} (e.g. `cargo run --release --features qemu`)",
            BOARDS.map(|b| b.name).join(", ")
        )),
    };
    // A board built for another core links and flashes, then faults at the first
    // instruction the core lacks: refuse it here, naming the command that works.
    let target = env::var("TARGET").expect("set by cargo");
    if !board.targets.contains(&target.as_str()) {
        let right = board.targets[0];
        let default = right == "thumbv7em-none-eabihf";
        refuse(&format!(
            "the `{name}` board ({what}) does not run code built for {target}.\n\
             Build it with:\n\n    cargo run --release --features {name}{flag}\n\n\
             (first time: `rustup target add {right}`)",
            name = board.name,
            what = board.what,
            flag = if default {
                String::new()
            } else {
                format!(" --target {right}")
            },
        ));
    }

    let map = manifest.join("memory").join(board.memory_map);
    fs::copy(&map, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", map.display());

    if env::var_os("CARGO_FEATURE_TABULAR").is_some() {
        copy_tabular(&manifest, &out, board);
        return;
    }
    let model_path = input_path(&manifest, "TINYMLP_MODEL", "mnist-int8.tmlp");
    let digits_path = input_path(&manifest, "TINYMLP_DIGITS", "mnist-test-digits.bin");
    let model = read(&model_path, "TINYMLP_MODEL");
    let digits = read(&digits_path, "TINYMLP_DIGITS");

    let available = digits.len() / RECORD;
    let budget = board.flash.saturating_sub(model.len() + CODE_RESERVE) / RECORD;
    let count = available.min(budget).min(MAX_DIGITS);
    assert!(
        count > 0,
        "no room in flash for a single digit next to the model"
    );
    fs::write(out.join("model.tmlp"), &model).expect("write model");
    fs::write(out.join("digits.bin"), &digits[..count * RECORD]).expect("write digits");
}

/// The `tabular` build: an int8 and an f32 feature model and their test inputs (records of
/// `[label u8][f32 LE x features]`), all of them: they are small.
fn copy_tabular(manifest: &std::path::Path, out: &std::path::Path, board: &Board) {
    let files = [
        (
            "TINYMLP_TABULAR_INT8",
            "wine-int8.tmlp",
            "tabular-int8.tmlp",
        ),
        ("TINYMLP_TABULAR_F32", "wine-f32.tmlp", "tabular-f32.tmlp"),
        (
            "TINYMLP_TABULAR_INPUTS",
            "wine-test-features.bin",
            "tabular-inputs.bin",
        ),
    ];
    let mut total = 0;
    for (var, default, name) in files {
        let bytes = read(&input_path(manifest, var, default), var);
        total += bytes.len();
        fs::write(out.join(name), &bytes).expect("write a tabular file");
    }
    if total + CODE_RESERVE > board.flash {
        refuse(&format!(
            "the tabular models and inputs ({total} bytes) leave no room for the code in the \
             {}'s {} bytes of flash",
            board.name, board.flash
        ));
    }
}

/// Stops the build with `message` alone (a panic would bury it under a backtrace).
fn refuse(message: &str) -> ! {
    eprintln!("\n{message}\n");
    std::process::exit(1)
}

fn input_path(manifest: &std::path::Path, var: &str, file: &str) -> PathBuf {
    println!("cargo:rerun-if-env-changed={var}");
    let path = env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("..").join("models").join(file));
    println!("cargo:rerun-if-changed={}", path.display());
    path
}

fn read(path: &std::path::Path, var: &str) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): train and export a model first (see README.md), \
             or point {var} at a file",
            path.display()
        )
    })
}
