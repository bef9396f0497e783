#!/usr/bin/env bash
# Builds the page and serves it at http://127.0.0.1:${PORT:-8000}/ (Ctrl-C to stop).
# WEB_MODEL=path/to/model.tmlp serves another default model.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/web-build.sh"
port="${PORT:-8000}"
echo "serving $root/web/dist at http://127.0.0.1:$port/"
exec python3 -m http.server --directory "$root/web/dist" --bind 127.0.0.1 "$port"
