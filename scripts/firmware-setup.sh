#!/usr/bin/env bash
# Installs what the firmware checks need, idempotently: QEMU, gcc (the instruction-count
# plugin), the Cortex-M rustup targets (M4F/M7, M0+, M33),
# llvm-tools, defmt-print (decodes the firmware's log) and cargo-binutils (rust-nm,
# rust-objdump, rust-size). Safe to run on every CI start; does nothing when all is there.
set -euo pipefail

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v gcc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    sudo_if_needed apt-get update -qq
    sudo_if_needed apt-get install -y -qq "${missing[@]}"
fi

installed_targets=$(rustup target list --installed)
for target in thumbv7em-none-eabihf thumbv7em-none-eabi thumbv6m-none-eabi thumbv8m.main-none-eabihf; do
    grep -qx "$target" <<<"$installed_targets" || rustup target add "$target"
done
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools

command -v defmt-print >/dev/null || cargo install --locked defmt-print --version 1.2.0
command -v rust-nm >/dev/null || cargo install --locked cargo-binutils --version 0.4.0
