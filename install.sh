#!/usr/bin/env bash
# Installs textrl into ./.venv (Python >= 3.11), plus, when apt is available, the two system pieces of
# the fast mlx CPU path: Debian's OpenBLAS (mlx[cpu]'s bundled reference BLAS is 5-14x slower on
# matmul-bound work) and g++ (mlx compiles its fused kernels with it; textrl adds vector flags). textrl
# uses both automatically when present; results do not change (TEXTRL_FAST_BLAS=0 / TEXTRL_FAST_JIT=0).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
EXTRAS=${TEXTRL_EXTRAS:-test,tinker}

PACKAGES=()
ls /usr/lib/*-linux-gnu/openblas-pthread/libblas.so.3 >/dev/null 2>&1 || PACKAGES+=(libopenblas0-pthread)
command -v g++ >/dev/null 2>&1 || PACKAGES+=(g++)
if [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1 && [ ${#PACKAGES[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q "${PACKAGES[@]}" >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${PACKAGES[@]}" >/dev/null; } \
    || echo "install.sh: could not install ${PACKAGES[*]}; mlx will run slower on CPU" >&2
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "install.sh: textrl needs Python >= 3.11 (found $("$PYTHON" --version)); set PYTHON=python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
echo "install.sh: textrl installed in $(pwd)/.venv"
