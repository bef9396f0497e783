#!/usr/bin/env bash
# Builds the release firmware for one board and prints the ELF's path.
#   scripts/firmware-build.sh [qemu|mps2-an500|mps2-an505|nrf52840|rp2040|rp2350|
#                              qemu-portable|qemu-m0plus|qemu-tabular]
# qemu-portable: the mps2-an386 firmware built for thumbv7em-none-eabi (soft-float ABI),
# where tinymlp picks its portable int8 kernel instead of the DSP one: the baseline for
# the instruction counts.
# qemu-m0plus: the mps2-an386 firmware built for thumbv6m-none-eabi, the Pico's target: the
# M0+ code (the runtime as the rp2040 build compiles it), run and counted in QEMU.
# qemu-tabular: the mps2-an386 firmware's `tabular` build (the wine feature models through
# predict_features instead of the digits).
# The model and digits come from models/ unless TINYMLP_MODEL / TINYMLP_DIGITS say otherwise.
set -euo pipefail
board=${1:-qemu}
case "$board" in
    qemu | mps2-an500 | nrf52840) feature=$board target=thumbv7em-none-eabihf ;;
    qemu-portable) feature=qemu target=thumbv7em-none-eabi ;;
    qemu-m0plus) feature=qemu target=thumbv6m-none-eabi ;;
    qemu-tabular) feature=qemu,tabular target=thumbv7em-none-eabihf ;;
    rp2040) feature=rp2040 target=thumbv6m-none-eabi ;;
    mps2-an505 | rp2350) feature=$board target=thumbv8m.main-none-eabihf ;;
    *) echo "unknown board $board" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/firmware-example"
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
    cargo build --release --locked --quiet --features "$feature" --target "$target" >&2
echo "${CARGO_TARGET_DIR:-$root/target/firmware}/$target/release/tinymlp-firmware"
