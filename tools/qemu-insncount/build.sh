#!/usr/bin/env bash
# Builds the QEMU instruction-count plugin (insncount.c) and prints the path of the shared
# object. Needs only a C compiler (Debian: gcc); rebuilds when the source is newer.
# The output goes to the repository's ignored target/ folder, beside the other builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${CARGO_TARGET_DIR:-$here/../../target}/qemu-insncount
if ! command -v "${CC:-gcc}" >/dev/null; then
    echo "tools/qemu-insncount/build.sh: no C compiler: apt-get install gcc" >&2
    exit 1
fi
mkdir -p "$out"
so=$out/libinsncount.so
if [[ ! -f $so || $here/insncount.c -nt $so ]]; then
    "${CC:-gcc}" -shared -fPIC -O2 -Wall -Werror -o "$so" "$here/insncount.c"
fi
echo "$(cd "$out" && pwd)/libinsncount.so"
