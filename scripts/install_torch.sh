#!/usr/bin/env bash
# Install a CPU build of PyTorch into the environment of the given pip, never a CUDA build.
#   scripts/install_torch.sh .venv/bin/pip
# - already importable: nothing to do;
# - a local CPU wheel directory (/opt/wheels, or $TORCH_WHEEL_DIR) holding torch-*+cpu: that version;
# - otherwise: the CPU wheel index of download.pytorch.org.
# GPU users: install the torch build for your CUDA first; this script then leaves it alone.
set -eu
PIP="${1:-pip}"
PY="$(dirname "$PIP")/python"
[ -x "$PY" ] || PY=python3
if "$PY" -c "import torch" 2>/dev/null; then
    echo "torch already installed: $("$PY" -c 'import torch; print(torch.__version__)')"
    exit 0
fi
DIR="${TORCH_WHEEL_DIR:-/opt/wheels}"
WHEEL="$(ls "$DIR"/torch-*+cpu-*.whl 2>/dev/null | head -n 1 || true)"
if [ -n "$WHEEL" ]; then
    VERSION="$(basename "$WHEEL" | cut -d- -f2 | cut -d+ -f1)"
    echo "Installing CPU torch $VERSION from $DIR"
    "$PIP" install --find-links "$DIR" "torch==$VERSION"
else
    echo "Installing CPU torch from https://download.pytorch.org/whl/cpu"
    "$PIP" install torch --index-url https://download.pytorch.org/whl/cpu
fi
