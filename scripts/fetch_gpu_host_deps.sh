#!/usr/bin/env bash
# Run HERE (a Debian machine with apt): downloads the .debs the GPU host lacks into .dev/debs
# (git-ignored). The device call carries .dev and scripts/gpu_host.sh unpacks them there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .dev/debs
cd .dev/debs
apt-get download libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0 \
  libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2 \
  libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev libgfortran5 libgtest-dev googletest \
  pkgconf pkgconf-bin libpkgconf3 libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libbrotli-dev \
  libbrotli1 zlib1g-dev libsentencepiece-dev libsentencepiece0
# The shared GPT-2 tokenizer for the server e2e tests (the GPU host has no ../shared).
mkdir -p ../shared/data/tokenizers/gpt2
cp -f ../../../shared/data/tokenizers/gpt2/encoder.json ../../../shared/data/tokenizers/gpt2/vocab.bpe \
  ../shared/data/tokenizers/gpt2/
