#!/usr/bin/env bash
# Installs what the web build and tests need; safe to run again (each step checks first).
#   - Rust target wasm32-unknown-unknown        (rustup)
#   - Chromium (Debian's chromium; tests drive it through npm's playwright-core, never a
#     browser download of its own)
#   - web/node_modules from web/package-lock.json (npm ci): playwright-core, and binaryen,
#     whose wasm-opt (a wasm build run by Node) shrinks the module
# Node >= 20 with npm must already be there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

missing=()
command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if ((node_major < 20)); then
  echo "web-setup: Node >= 20 is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install.
marker="$root/web/node_modules/.web-setup-lock"
if ! cmp -s "$root/web/package-lock.json" "$marker"; then
  (cd "$root/web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  cp "$root/web/package-lock.json" "$marker"
fi
