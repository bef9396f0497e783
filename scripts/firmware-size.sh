#!/usr/bin/env bash
# Size report of the release firmware, per board: flash and RAM used, the model and digits
# inside the flash figure, the runtime's own code (no weights), and, for the QEMU boards,
# the peak stack measured by painting (the firmware logs it).
#   scripts/firmware-size.sh [BOARD...]      (default: qemu nrf52840 rp2040)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(qemu nrf52840 rp2040)

for board in "${boards[@]}"; do
    elf=$("$root/scripts/firmware-build.sh" "$board")
    read -r flash ram_static < <(rust-size -A "$elf" | awk '
        $1 == ".vector_table" || $1 == ".boot2" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
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
        qemu | mps2-an500)
            stack=$(cd "$root/firmware-example" && ./runner.sh "$elf" | grep -o 'stack: peak [0-9]* bytes' || true)
            echo "RAM, peak stack:       ${stack:-not measured} (inference phase, scratch buffer included)" ;;
        *) echo "RAM, peak stack:       same code as the QEMU build: see its figure" ;;
    esac
done
