#!/usr/bin/env bash
# tinymlp against scikit-learn's MLPClassifier of the same size on datasets/ (wine, breast
# cancer, 8x8 digits): one table of test accuracies, medians over 5 seeds. Run from anywhere:
#   bench/tabular.sh                       (expects .venv with numpy and scikit-learn)
#   PY=python3 bench/tabular.sh --datasets wine --seeds 1 2 3
# Options: bench/tabular.py --help.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
exec "$PY" bench/tabular.py "$@"
