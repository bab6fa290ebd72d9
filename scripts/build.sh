#!/usr/bin/env bash
# Configures and builds kiln into build/ (CPU backend). KILN_CUDA=ON scripts/build.sh adds CUDA
# (compile for CMAKE_CUDA_ARCHITECTURES, default 90) into build-cuda/.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
if [ "${KILN_CUDA:-OFF}" = "ON" ]; then
  BUILD_DIR=${BUILD_DIR:-build-cuda}
  cmake -S . -B "$BUILD_DIR" -G Ninja -DKILN_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" ${CMAKE_ARGS:-} >/dev/null
else
  BUILD_DIR=${BUILD_DIR:-build}
  cmake -S . -B "$BUILD_DIR" -G Ninja ${CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
