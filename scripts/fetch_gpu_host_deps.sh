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
# Runtime libraries only (.dev/rtdebs, ~9 MB): enough for binaries built here and carried
# (scripts/carry_binaries.sh; gpu_host.sh with DEBS_DIR=.dev/rtdebs).
mkdir -p ../rtdebs
for p in libopenblas0-openmp libgfortran5 libsentencepiece0 libbrotli1 libpcre2-8-0 \
  libcpp-httplib0.11 libfmt9 libutf8proc2; do cp -f ${p}_*.deb ../rtdebs/; done
# The shared GPT-2 tokenizer for the server e2e tests (the GPU host has no ../shared).
mkdir -p ../shared/data/tokenizers/gpt2
cp -f ../../../shared/data/tokenizers/gpt2/encoder.json ../../../shared/data/tokenizers/gpt2/vocab.bpe \
  ../shared/data/tokenizers/gpt2/
