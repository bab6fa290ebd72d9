#!/usr/bin/env bash
# The one command for the GPU host (no package access there): unpacks the carried .debs
# (scripts/fetch_gpu_host_deps.sh, run beforehand on a Debian machine) into a private prefix,
# builds kiln with CUDA using every core, runs the GPU tests and the benchmarks, and writes the
# results under $OUT (or ./gpu-results). STAGES selects what runs: "build test serve fuzz bench load llama peer encdec".
#   device call: carry [".dev"], command: bash scripts/gpu_host.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT"
STAGES=${STAGES:-"build test bench peer"}
DEPS=/tmp/kiln-deps
ARCH=x86_64-linux-gnu
log() { echo "[gpu_host $(date +%H:%M:%S)] $*"; }

if [ ! -d $DEPS/usr ]; then
  for f in .dev/debs/*.deb; do dpkg -x "$f" $DEPS; done
fi
export LD_LIBRARY_PATH=$DEPS/usr/lib/$ARCH:$DEPS/usr/lib/$ARCH/openblas-openmp:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$DEPS/usr/lib/$ARCH/openblas-openmp/pkgconfig:$DEPS/usr/lib/$ARCH/pkgconfig:$DEPS/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$DEPS
export PATH=/usr/local/cuda/bin:$PATH
export NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

if [[ $STAGES == *build* ]]; then
  log "configure + build"
  cmake -S . -B build-gpu -G Ninja -DKILN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_PREFIX_PATH=$DEPS/usr -DPKG_CONFIG_EXECUTABLE=$DEPS/usr/bin/pkgconf \
    -DGTEST_ROOT=$DEPS/usr > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build build-gpu -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
  log "built"
fi
if [[ $STAGES == *test* ]]; then
  log "GPU tests"
  (cd build-gpu && ctest -L gpu --output-on-failure -j 4 ${CTEST_ARGS:-}) > "$OUT/gpu_tests.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*|FAILED|Failure|Expected|Which is|error" "$OUT/gpu_tests.log" | head -80
fi
if [[ $STAGES == *bench* ]]; then
  log "benchmarks"
  bash bench/gpt2_gpu.sh build-gpu/kiln "$OUT" 2>&1 | tail -40
fi
if [[ $STAGES == *serve* ]]; then
  log "server end-to-end tests on the GPU (fp32)"
  # The shared tokenizer files travel in .dev/shared (copied there by fetch_gpu_host_deps.sh).
  KILN_SHARED_DIR=$PWD/.dev/shared KILN_BIN=$PWD/build-gpu/kiln \
    KILN_SERVE_ARGS="--device cuda --dtype float32 --max_gpu_memory 4" \
    python3 -m pytest -q -p no:cacheprovider tests/e2e/test_serve.py 2>&1 | tail -15
fi
if [[ $STAGES == *fuzz* ]]; then
  log "random-config parity on the GPU (fp32) vs HF"
  python3 tools/fuzz_parity.py --kiln build-gpu/kiln --device cuda --dtype float32 \
    --configs "${FUZZ_CONFIGS:-15}" --kiln_args "--max_gpu_memory 2" 2>&1 | tail -12
fi
if [[ $STAGES == *llama* ]]; then
  log "Llama-3-8B shape benchmarks"
  bash bench/llama_gpu.sh build-gpu/kiln "$OUT" 2>&1 | tail -40
fi
if [[ $STAGES == *load* ]]; then
  log "serving load benchmark"
  bash bench/load_gpu.sh build-gpu/kiln "$OUT" 2>&1 | tail -20
fi
if [[ $STAGES == *encdec* ]]; then
  log "encoder-decoder benchmarks (t5-large, bart-large shapes) + HF peer"
  bash bench/encdec_gpu.sh build-gpu/kiln "$OUT" 2>&1 | grep -v "^\[transformers\]" | tail -40
fi
if [[ $STAGES == *peer* ]]; then
  log "HF transformers peer"
  python3 bench/hf_peer.py --out "$OUT/hf_peer.csv" ${PEER_ARGS:-} 2>&1 | tail -20
fi
log "done"
