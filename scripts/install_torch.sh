#!/usr/bin/env bash
# Install a CPU build of PyTorch into the environment of the given pip, never a CUDA build, and only a
# release inside the range the test suite has passed on (pyproject.toml's torch requirement, e.g. >=2.13,<2.15).
#   scripts/install_torch.sh .venv/bin/pip
# - already importable: nothing to do (a line warns when its version is outside the range);
# - a local CPU wheel directory (/opt/wheels, or $TORCH_WHEEL_DIR) holding torch-*+cpu wheels inside the
#   range: the newest of those;
# - otherwise: the CPU wheel index of download.pytorch.org, asked for the range.
# GPU users: install the torch build for your CUDA first; this script then leaves it alone.
set -eu
PIP="${1:-pip}"
PY="$(dirname "$PIP")/python"
[ -x "$PY" ] || PY=python3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SPEC="$(grep -o '"torch[<>=!~][^"]*"' "$ROOT/pyproject.toml" | head -n 1 | tr -d '"')"   # torch>=2.13,<2.15
LOW="$(printf '%s\n' "$SPEC" | sed -n 's/.*>=\([0-9.]*\).*/\1/p')"
HIGH="$(printf '%s\n' "$SPEC" | sed -n 's/.*<\([0-9.]*\).*/\1/p')"
if [ -z "$LOW" ] || [ -z "$HIGH" ]; then
    echo "install_torch.sh: no 'torch>=A,<B' requirement found in $ROOT/pyproject.toml" >&2
    exit 1
fi

# in_range VERSION: LOW <= VERSION < HIGH (local build tags such as +cpu ignored; 2.15.0a0 is not < 2.15)
in_range() {
    local v="${1%%+*}"
    [ "$(printf '%s\n' "$LOW" "$v" | sort -V | head -n 1)" = "$LOW" ] || return 1
    [ "$v" != "$HIGH" ] && [ "$(printf '%s\n' "$v" "$HIGH" | sort -V | head -n 1)" = "$v" ]
}

if "$PY" -c "import torch" 2>/dev/null; then
    INSTALLED="$("$PY" -c 'import torch; print(torch.__version__)')"
    echo "torch already installed: $INSTALLED"
    if ! in_range "$INSTALLED"; then
        echo "WARNING: torch $INSTALLED is outside the tested range $SPEC: adcgan's fast paths switch off where" \
             "a torch internal they read is missing; to get a tested release: $PIP install '$SPEC'" >&2
    fi
    exit 0
fi
DIR="${TORCH_WHEEL_DIR:-/opt/wheels}"
VERSION="$(for WHEEL in "$DIR"/torch-*+cpu-*.whl; do   # the newest wheel inside the range, or none
    [ -e "$WHEEL" ] || continue
    V="$(basename "$WHEEL" | cut -d- -f2 | cut -d+ -f1)"
    if in_range "$V"; then echo "$V"; fi
done | sort -V | tail -n 1)"
if [ -n "$VERSION" ]; then
    echo "Installing CPU torch $VERSION from $DIR"
    "$PIP" install --find-links "$DIR" "torch==$VERSION"
else
    echo "Installing CPU torch ($SPEC) from https://download.pytorch.org/whl/cpu"
    "$PIP" install "$SPEC" --index-url https://download.pytorch.org/whl/cpu
fi
