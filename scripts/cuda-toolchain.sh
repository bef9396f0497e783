#!/usr/bin/env bash
# Installs what the CUDA kernel tests need on a machine without a GPU: NVRTC (the library
# cudarc loads) 12.x and 13.x (a GPU machine may have either: the kernels must compile to a
# CUBIN with both) and ptxas 12.x (to assemble the PTX), all from NVIDIA's PyPI wheels, into a
# venv at .venv/cuda (tests/cuda_kernels.rs); and g++ for the kernel emulation test
# (tests/cuda_kernel_emulation.rs). Idempotent: a second run only prints the variables.
#
# Usage:
#   scripts/cuda-toolchain.sh            # install if needed, print `export ...` lines
#   eval "$(scripts/cuda-toolchain.sh)"  # install if needed and set the variables
#
# Progress goes to stderr so that stdout holds only the export lines.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TINYMLP_CUDA_VENV:-$root/.venv/cuda}"
python="${PYTHON:-python3}"

find_site() {
    "$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

have_toolchain() {
    [ -x "$venv/bin/python" ] || return 1
    local site
    site="$(find_site)"
    compgen -G "$site/nvidia/cuda_nvrtc/lib/libnvrtc.so*" >/dev/null &&
        [ -f "$site/nvidia/cu13/lib/libnvrtc.so.13" ] &&
        [ -x "$site/nvidia/cuda_nvcc/bin/ptxas" ]
}

if ! have_toolchain; then
    echo "cuda-toolchain: installing NVRTC and ptxas wheels into $venv" >&2
    if [ ! -x "$venv/bin/python" ]; then
        if ! "$python" -m venv "$venv" >&2; then
            # Debian's python3 ships venv separately.
            if command -v apt-get >/dev/null; then
                echo "cuda-toolchain: installing python3-venv" >&2
                apt-get install -y -q python3-venv >&2 || { apt-get update -q >&2 && apt-get install -y -q python3-venv >&2; }
                rm -rf "$venv"
                "$python" -m venv "$venv" >&2
            else
                exit 1
            fi
        fi
    fi
    # The CUDA 12 wheels install under nvidia/cuda_nvrtc and nvidia/cuda_nvcc, the CUDA 13
    # NVRTC under nvidia/cu13: they do not collide.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "nvidia-cuda-nvrtc-cu12>=12.8,<13" "nvidia-cuda-nvcc-cu12>=12.8,<13" \
        "nvidia-cuda-nvrtc>=13,<14" >&2
fi

# The kernel emulation test (tests/cuda_kernel_emulation.rs) compiles the kernels as C++20.
if ! command -v "${CXX:-g++}" >/dev/null; then
    echo "cuda-toolchain: installing g++ for the kernel emulation test" >&2
    apt-get install -y -q g++ >&2 || { apt-get update -q >&2 && apt-get install -y -q g++ >&2; }
fi

site="$(find_site)"
nvrtc_dir="$site/nvidia/cuda_nvrtc/lib"
nvrtc13_dir="$site/nvidia/cu13/lib"
ptxas="$site/nvidia/cuda_nvcc/bin/ptxas"
if ! have_toolchain; then
    echo "cuda-toolchain: NVRTC ($nvrtc_dir, $nvrtc13_dir) or ptxas ($ptxas) missing after install" >&2
    exit 1
fi
# cudarc's dynamic loader opens `libnvrtc.so` and versioned names; the wheel ships only the
# versioned file (libnvrtc.so.12), which the loader also tries, so nothing needs linking.
echo "cuda-toolchain: ready ($("$ptxas" --version | tail -1))" >&2
echo "export TINYMLP_NVRTC_LIB_DIR='$nvrtc_dir'"
echo "export TINYMLP_NVRTC13_LIB_DIR='$nvrtc13_dir'"
echo "export TINYMLP_PTXAS='$ptxas'"
echo "export LD_LIBRARY_PATH='$nvrtc_dir'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
