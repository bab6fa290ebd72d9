#!/usr/bin/env bash
# Installs kiln's build and test dependencies from Debian and PyPI (nothing else is downloaded).
# Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
DEBS=(build-essential cmake ninja-build ccache pkg-config python3 python3-pip
      libopenblas-openmp-dev nlohmann-json3-dev libfmt-dev libcli11-dev libpcre2-dev libutf8proc-dev
      libgtest-dev libcpp-httplib-dev libsentencepiece-dev)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Test-only Python packages: pytest, HF tokenizers as the tokenizer parity reference, and
# sentencepiece + PyYAML (tools/convert_nemo.py, tests/e2e/test_convert_nemo.py).
PY=${PYTHON:-python3}
if ! $PY -c "import pytest, tokenizers, sentencepiece, yaml" 2>/dev/null; then
  $PY -m pip install -q pytest tokenizers sentencepiece pyyaml || $PY -m pip install -q --break-system-packages pytest tokenizers sentencepiece pyyaml
fi
