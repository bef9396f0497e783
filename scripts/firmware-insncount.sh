#!/usr/bin/env bash
# Instructions per inference in QEMU, counted by the project's instruction-count plugin
# (tools/qemu-insncount; deterministic: instructions, not cycles), for:
#   qemu           Cortex-M4F, DSP kernel (thumbv7em-none-eabihf; the nRF52840's code)
#   qemu-portable  the portable kernel on the same core (thumbv7em-none-eabi): the baseline
#   qemu-m0plus    the Cortex-M0+ code (thumbv6m-none-eabi, the Pico's), on the M4 board
#   mps2-an505     Cortex-M33, DSP kernel (thumbv8m.main-none-eabihf, the Pico 2's code)
#
# The whole inference is the function tinymlp_predict_digit and every function it reaches
# (static call graph); one QEMU run counts each function's address range. Functions that
# other code calls too (memcpy, ...) are counted whole and listed as "shared": the sum is
# then an upper bound. The firmware's own SysTick figure under -icount is printed beside it
# as a cross-check.
#   scripts/firmware-insncount.sh [VARIANT...]   (default: all four)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=$("$root/tools/qemu-insncount/build.sh")
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(qemu qemu-portable qemu-m0plus mps2-an505)
runner="$root/firmware-example/runner.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for variant in "${variants[@]}"; do
    elf=$("$root/scripts/firmware-build.sh" "$variant")
    # "lo hi shared name..." per function; the plugin gets "lo hi index" (names have spaces).
    "$root/scripts/firmware-callgraph.sh" ranges "$elf" tinymlp_predict_digit >"$work/functions"
    awk '{ print $1, $2, NR }' "$work/functions" >"$work/ranges"
    log=$(QEMU_EXTRA="-plugin $plugin,ranges=$work/ranges" "$runner" "$elf" 2>"$work/counts")
    digits=$(grep -o 'digits: [0-9]*' <<<"$log" | awk '{ print $2 }')
    macs=$(grep -o '[0-9]* MACs' <<<"$log" | awk '{ print $1 }')
    kernel=$(grep -o 'kernel=.*' <<<"$log" | head -n1)
    [ -n "$digits" ] || { echo "$variant: no digit count in the log:" >&2; cat "$work/counts" >&2; exit 1; }
    echo "== $variant ($kernel): $digits inferences"
    awk -v d="$digits" -v m="$macs" '
        FNR == NR { shared[FNR] = $3; $1 = $2 = $3 = ""; name[FNR] = substr($0, 4); next }
        $1 == "insns:" { whole = $2 }
        $1 == "range:" && $2 > 0 {
            total += $2
            if (shared[$3]) s += $2
            printf "  %12d  %s%s\n", $2, name[$3], shared[$3] ? "  (shared)" : ""
        }
        END {
            printf "instructions per inference: %.0f (%.0f in shared functions); per MAC (%d MACs): %.3f\n",
                total / d, s / d, m, total / d / m
            printf "whole program: %d instructions\n", whole
        }' "$work/functions" "$work/counts"
    echo "firmware's own figure: $(grep -o 'cost per inference: mean [0-9]*' <<<"$log" | awk '{ print $5 }') (SysTick under -icount, one tick = 40 or 50 instructions)"
done
