#!/usr/bin/env bash
# Size report of the release firmware, per board: flash and RAM used, the model and digits
# inside the flash figure, the runtime's own code (no weights), and the peak stack measured
# by painting (the firmware logs it) in QEMU: on the board itself for the QEMU boards, and
# for a real board on the QEMU build of the same target (same compiler flags, so the same
# runtime code; the board's own start-up runs before the stack is painted).
#   scripts/firmware-size.sh [BOARD...]   (default: qemu mps2-an505 nrf52840 rp2040 rp2350)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(qemu mps2-an505 nrf52840 rp2040 rp2350)

for board in "${boards[@]}"; do
    elf=$("$root/scripts/firmware-build.sh" "$board")
    read -r flash ram_static < <(rust-size -A "$elf" | awk '
        $1 == ".vector_table" || $1 == ".boot2" || $1 == ".start_block" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { printf "%d %d\n", flash, ram }')
    symbols=$(rust-nm -S -C "$elf")
    model=$((16#$(awk '/tinymlp_firmware::MODEL_BLOB/ { print $2 }' <<<"$symbols")))
    digits=$((16#$(awk '/tinymlp_firmware::DIGIT_RECORDS/ { print $2 }' <<<"$symbols")))
    runtime=$("$root/scripts/firmware-callgraph.sh" size "$elf")
    echo "== $board ($elf)"
    echo "flash used:            $flash bytes (model blob $model, $((digits / 785)) digits $digits, code and constants $((flash - model - digits)))"
    echo "RAM, static:           $ram_static bytes (.data + .bss + .uninit; defmt buffers included)"
    sed -n 1,2p <<<"$runtime" | sed 's/runtime_named_code_bytes/runtime code (tinymlp symbols):/; s/runtime_reachable_code_bytes/runtime code + what it calls:/'
    case "$board" in
        nrf52840) stack_variant=qemu ;;
        rp2040) stack_variant=qemu-m0plus ;;
        rp2350) stack_variant=mps2-an505 ;;
        *) stack_variant=$board ;;
    esac
    stack_elf=$("$root/scripts/firmware-build.sh" "$stack_variant")
    stack=$(cd "$root/firmware-example" && ./runner.sh "$stack_elf" | grep -o 'stack: peak [0-9]* bytes' | sed 's/stack: peak //' || true)
    where=$([ "$stack_variant" = "$board" ] && echo "this build" || echo "the $stack_variant build, same target, in QEMU")
    echo "RAM, peak stack:       ${stack:-not measured} (inference phase, scratch buffer included; $where)"
done
