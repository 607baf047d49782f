#!/usr/bin/env bash
# Make Fashion-MNIST available to adcgan.
#
# 1. If the four IDX files are already in $ADCGAN_DATA/fashion-mnist, the user
#    cache (${XDG_CACHE_HOME:-~/.cache}/adcgan/fashion-mnist) or
#    /usr/share/datasets/fashion-mnist: do nothing.
# 2. Else, as root with apt-get: apt-get install -y dataset-fashion-mnist
#    (running apt-get update first only if the install fails).
# 3. Else: python -m adcgan.data fetch fashion-mnist (verified download into
#    the user cache).
# Exits non-zero with a message if all of these fail.
set -u

FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
CACHE="${XDG_CACHE_HOME:-${HOME:-}/.cache}/adcgan/fashion-mnist"
SYSTEM=/usr/share/datasets/fashion-mnist

has_files() {  # has_files DIR: all four files there, gzip'd or raw
    local f
    for f in $FILES; do
        [ -f "$1/$f.gz" ] || [ -f "$1/$f" ] || return 1
    done
}

find_existing() {
    local d
    for d in ${ADCGAN_DATA:+"$ADCGAN_DATA/fashion-mnist"} "$CACHE" "$SYSTEM"; do
        if has_files "$d"; then echo "$d"; return 0; fi
    done
    return 1
}

if found="$(find_existing)"; then
    echo "Fashion-MNIST already present in $found"
    exit 0
fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing the Debian package dataset-fashion-mnist ..."
    if apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }; then
        if has_files "$SYSTEM"; then echo "Fashion-MNIST installed in $SYSTEM"; exit 0; fi
    fi
    echo "apt-get could not install dataset-fashion-mnist; trying a direct download" >&2
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY=python3; fi
fi
if PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m adcgan.data fetch fashion-mnist; then
    exit 0
fi

cat >&2 <<MSG
Could not obtain Fashion-MNIST.
Put the four files ($FILES, .gz) into one of:
  ${ADCGAN_DATA:-\$ADCGAN_DATA}/fashion-mnist
  $CACHE
  $SYSTEM   (sudo apt-get install dataset-fashion-mnist)
MSG
exit 1
