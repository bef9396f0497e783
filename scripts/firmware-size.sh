#!/usr/bin/env bash
# Size report of the release firmware, per board: flash and RAM used, the model and digits
# inside the flash figure, the runtime's own code (no weights), and the peak stack measured
# by painting (the firmware logs it) in QEMU: on the board itself for the QEMU boards, and
# for a real board on the QEMU build of the same target (same compiler flags, so the same
# runtime code; the board's own start-up runs before the stack is painted).
#   scripts/firmware-size.sh [BOARD...]   (default: qemu mps2-an505 nrf52840 rp2040 rp2350;
#                                          also qemu-tabular, the wine feature build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(qemu mps2-an505 nrf52840 rp2040 rp2350)

# The bytes of the symbols (`nm -S` lines on stdin) whose names match the regex $1.
symbol_bytes() {
    local size total=0
    for size in $(awk -v pattern="$1" '$0 ~ pattern { print $2 }'); do
        total=$((total + 16#$size))
    done
    echo "$total"
}

for board in "${boards[@]}"; do
    elf=$("$root/scripts/firmware-build.sh" "$board")
    read -r flash ram_static < <(rust-size -A "$elf" | awk '
        $1 == ".vector_table" || $1 == ".boot2" || $1 == ".start_block" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { printf "%d %d\n", flash, ram }')
    symbols=$(rust-nm -S -C "$elf")
    # The MNIST build embeds one blob and its digits; the tabular build (qemu-tabular) an
    # int8 and an f32 wine blob and their test inputs.
    model=$(symbol_bytes 'tinymlp_firmware::(MODEL_BLOB|tabular::(INT8|F32)_BLOB)' <<<"$symbols")
    inputs=$(symbol_bytes 'tinymlp_firmware::(DIGIT_RECORDS|tabular::INPUT_RECORDS)' <<<"$symbols")
    if [ "$board" = qemu-tabular ]; then
        what="int8 + f32 blobs $model, test inputs $inputs"
    else
        what="model blob $model, $((inputs / 785)) digits $inputs"
    fi
    runtime=$("$root/scripts/firmware-callgraph.sh" size "$elf")
    echo "== $board ($elf)"
    echo "flash used:            $flash bytes ($what, code and constants $((flash - model - inputs)))"
    echo "RAM, static:           $ram_static bytes (.data + .bss + .uninit; defmt buffers included)"
    sed -n 1,2p <<<"$runtime" | sed 's/runtime_named_code_bytes/runtime code (tinymlp symbols):/; s/runtime_reachable_code_bytes/runtime code + what it calls:/'
    case "$board" in
        nrf52840) stack_variant=qemu ;;
        rp2040) stack_variant=qemu-m0plus ;;
        rp2350) stack_variant=mps2-an505 ;;
        *) stack_variant=$board ;;
    esac
    stack_elf=$("$root/scripts/firmware-build.sh" "$stack_variant")
    stack=$(cd "$root/firmware-example" && ./runner.sh "$stack_elf" | grep -o 'stack: peak [0-9]*' | sed 's/stack: peak //' | paste -sd/ - || true)
    where=$([ "$stack_variant" = "$board" ] && echo "this build" || echo "the $stack_variant build, same target, in QEMU")
    stack=${stack:+$stack bytes}
    echo "RAM, peak stack:       ${stack:-not measured} (inference phase, scratch buffer included; $where)"
done
