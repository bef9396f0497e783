//! Picks the memory map of the board chosen by a cargo feature, and puts the model blob and
//! as many test digits as that board's flash holds into OUT_DIR for `include_bytes!`.
//!
//! The blob and digits come from `../models/` unless `TINYMLP_MODEL` / `TINYMLP_DIGITS`
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
    feature: &'static str,
    memory_map: &'static str,
    flash: usize,
}

const BOARDS: [Board; 4] = [
    Board {
        feature: "QEMU",
        memory_map: "qemu.x",
        flash: 4 << 20,
    },
    Board {
        feature: "MPS2_AN500",
        memory_map: "mps2-an500.x",
        flash: 4 << 20,
    },
    Board {
        feature: "NRF52840",
        memory_map: "nrf52840.x",
        flash: 1 << 20,
    },
    Board {
        feature: "RP2040",
        memory_map: "rp2040.x",
        flash: (2 << 20) - 0x100,
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
        _ => panic!(
            "choose exactly one board feature: qemu, mps2-an500, nrf52840 or rp2040 \
             (e.g. `cargo run --release --features qemu`)"
        ),
    };

    let map = manifest.join("memory").join(board.memory_map);
    fs::copy(&map, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", map.display());

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
