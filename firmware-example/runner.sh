#!/usr/bin/env bash
# Cargo runner: runs the firmware ELF on the board it was built for and decodes its defmt log.
#   mps2-an386 / mps2-an500 / mps2-an505: QEMU, defmt over semihosting, exit status through
#   semihosting.
#   nrf52840 / rp2040 / rp2350: probe-rs (flashes the board, defmt over RTT).
# Extra QEMU arguments (e.g. an instruction-counting plugin) can be given in QEMU_EXTRA.
set -euo pipefail

elf=$1
board=$(grep -a -o -E 'tinymlp-board=(mps2-an386|mps2-an500|mps2-an505|nrf52840|rp2040|rp2350)' "$elf" | head -n1 | cut -d= -f2 || true)

decode() {
    if command -v defmt-print >/dev/null; then
        defmt-print -e "$elf"
    else
        echo "runner.sh: defmt-print not found: run scripts/firmware-setup.sh" >&2
        cat >/dev/null
        return 1
    fi
}

qemu() {
    # -icount shift=0: one instruction per virtual nanosecond, so SysTick counts instructions
    # deterministically (QEMU's DWT cycle counter reads 0).
    # shellcheck disable=SC2086
    qemu-system-arm -machine "$1" -cpu "$2" -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 \
        ${QEMU_EXTRA:-} -kernel "$elf"
}

case "$board" in
    mps2-an386) qemu mps2-an386 cortex-m4 | decode ;;
    mps2-an500) qemu mps2-an500 cortex-m7 | decode ;;
    mps2-an505) qemu mps2-an505 cortex-m33 | decode ;;
    # --allow-erase-all: a board whose debug port is locked (a rev-3 nRF52840 that ran
    # firmware not opening it, such as the DK's factory demo) is unlocked by erasing the
    # whole chip, flash and UICR; this firmware then keeps it open (src/board/nrf52840.rs).
    nrf52840) exec probe-rs run --chip nRF52840_xxAA --allow-erase-all "$elf" ;;
    rp2040) exec probe-rs run --chip RP2040 "$elf" ;;
    rp2350) exec probe-rs run --chip RP235x "$elf" ;;
    *) echo "runner.sh: no tinymlp-board tag in $elf" >&2; exit 2 ;;
esac
