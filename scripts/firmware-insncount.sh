#!/usr/bin/env bash
# Instructions per inference on the Cortex-M4 (QEMU mps2-an386), counted by the
# qemu-insncount plugin (deterministic; instructions, not cycles), for the SMLAD kernel
# (thumbv7em-none-eabihf) and the portable kernel (same core, thumbv7em-none-eabi).
#
# The whole inference is the function tinymlp_predict_digit and every function it reaches
# (static call graph): each one's address range is counted in its own QEMU run. Functions
# that other code calls too (memcpy, ...) are counted whole and listed as "shared": the
# sum is then an upper bound. The firmware's own SysTick figure under -icount is printed
# beside it as a cross-check.
#   scripts/firmware-insncount.sh [qemu qemu-portable]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=$("$root/../shared/tools/qemu-insncount/build.sh" 2>/dev/null || "$root/shared/tools/qemu-insncount/build.sh")
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(qemu qemu-portable)
runner="$root/firmware-example/runner.sh"

count() { # ELF [lo hi] -> instructions
    local range=""
    [ $# -lt 3 ] || range=",lo=$2,hi=$3"
    QEMU_EXTRA="-plugin $plugin$range" "$runner" "$1" 2>&1 >/dev/null | awk '/^insns:/ { print $2 }'
}

for variant in "${variants[@]}"; do
    elf=$("$root/scripts/firmware-build.sh" "$variant")
    log=$("$runner" "$elf")
    digits=$(grep -o 'digits: [0-9]*' <<<"$log" | awk '{ print $2 }')
    macs=$(grep -o '[0-9]* MACs' <<<"$log" | awk '{ print $1 }')
    kernel=$(grep -o 'kernel=.*' <<<"$log" | head -n1)
    total=0 shared=0
    echo "== $variant ($kernel): $digits inferences"
    while read -r lo hi is_shared name; do
        n=$(count "$elf" "$lo" "$hi")
        [ "$n" -gt 0 ] || continue
        total=$((total + n))
        if [ "$is_shared" = 1 ]; then shared=$((shared + n)); fi
        printf '  %12d  %s%s\n' "$n" "$name" "$([ "$is_shared" = 1 ] && echo "  (shared)")"
    done < <("$root/scripts/firmware-callgraph.sh" ranges "$elf" tinymlp_predict_digit)
    awk -v t="$total" -v s="$shared" -v d="$digits" -v m="$macs" 'BEGIN {
        printf "instructions per inference: %.0f (%.0f in shared functions); per MAC (%d MACs): %.3f\n",
            t / d, s / d, m, t / d / m }'
    echo "firmware's own figure: $(grep -o 'cost per inference: mean [0-9]*' <<<"$log" | awk '{ print $5 }') (SysTick under -icount, +-40)"
    echo "whole program: $(count "$elf") instructions"
done
