#!/usr/bin/env bash
# Installs textrl into ./.venv (Python >= 3.11), plus Debian's OpenBLAS when apt is available:
# mlx[cpu]'s bundled reference BLAS is 5-14x slower on matmul-bound work, and textrl uses OpenBLAS
# automatically when it is present (results are identical; TEXTRL_FAST_BLAS=0 turns it off).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
EXTRAS=${TEXTRL_EXTRAS:-test,tinker}

if [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1 \
   && ! ls /usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3 >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q libopenblas0-pthread >/dev/null; } \
    || echo "install.sh: could not install libopenblas0-pthread; mlx will use its slower bundled BLAS" >&2
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "install.sh: textrl needs Python >= 3.11 (found $("$PYTHON" --version)); set PYTHON=python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
echo "install.sh: textrl installed in $(pwd)/.venv"
