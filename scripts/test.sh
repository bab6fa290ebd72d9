#!/usr/bin/env bash
# README command 2: installs dependencies, builds, runs every test (GPU tests skip without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build && ctest --output-on-failure -j "${JOBS:-$(nproc)}"
