#!/usr/bin/env bash
# The one command for the GPU host (no package access there): unpacks the carried .debs
# (scripts/fetch_gpu_host_deps.sh, run beforehand on a Debian machine) into a private prefix,
# builds kiln with CUDA using every core, runs the GPU tests and the benchmarks, and writes the
# results under $OUT (or ./gpu-results). STAGES selects what runs: "build test gtest serve fuzz bench ab load llama peer encdec ncu kprof timeline".
#   device call: carry [".dev"], command: bash scripts/gpu_host.sh
# Or build here (scripts/carry_binaries.sh; same CUDA 13.0) and carry the binaries, which saves
# the device time of a build: carry [".dev/rtdebs", ".dev/shared", "build-carry"], command:
#   BUILD=build-carry DEBS_DIR=.dev/rtdebs STAGES="gtest bench" bash scripts/gpu_host.sh
# ("gtest" runs the GPU test binaries directly: ctest's files are not carried.)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT"
STAGES=${STAGES:-"build test bench peer"}
BUILD=${BUILD:-build-gpu}
DEPS=/tmp/kiln-deps
ARCH=x86_64-linux-gnu
log() { echo "[gpu_host $(date +%H:%M:%S)] $*"; }

if [ ! -d $DEPS/usr ]; then
  # DEBS_DIR=.dev/rtdebs (runtime libraries only) when carrying prebuilt binaries
  for f in ${DEBS_DIR:-.dev/debs}/*.deb; do dpkg -x "$f" $DEPS; done
fi
export LD_LIBRARY_PATH=$DEPS/usr/lib/$ARCH:$DEPS/usr/lib/$ARCH/openblas-openmp:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$DEPS/usr/lib/$ARCH/openblas-openmp/pkgconfig:$DEPS/usr/lib/$ARCH/pkgconfig:$DEPS/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$DEPS
export PATH=/usr/local/cuda/bin:$PATH
export NCCL_NVLS_ENABLE=0
# Test binaries find their fixtures under the source path they were built from (KILN_SOURCE_DIR).
SRC_BUILT=${SRC_BUILT:-$(cat "$BUILD/SRC_BUILT" 2>/dev/null)}  # written by carry_binaries.sh
if [ -n "$SRC_BUILT" ] && [ ! -e "$SRC_BUILT" ]; then mkdir -p "$(dirname "$SRC_BUILT")" && ln -s "$PWD" "$SRC_BUILT"; fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

if [[ $STAGES == *build* ]]; then
  log "configure + build"
  cmake -S . -B build-gpu -G Ninja -DKILN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_PREFIX_PATH=$DEPS/usr -DPKG_CONFIG_EXECUTABLE=$DEPS/usr/bin/pkgconf \
    -DGTEST_ROOT=$DEPS/usr > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build build-gpu -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
  log "built"
fi
if [[ $STAGES == *gtest* ]]; then
  log "GPU test binaries ($BUILD)"
  for t in kiln_gpu_tests kiln_gpu_model_tests; do
    timeout "${GTEST_TIMEOUT:-900}" "$BUILD/$t" ${GTEST_ARGS:-} > "$OUT/$t.log" 2>&1  # 124: hung
    echo "$t: exit $? $(grep -E '^\[  PASSED  \]|^\[  FAILED  \]' "$OUT/$t.log" | head -3 | tr '\n' ' ')"
    grep -E '^\[  FAILED  \]' "$OUT/$t.log" | head -20
  done
  # cuBLASLt plans chosen by timing (KILN_GEMM_TUNE=1, off by default) must give the same results
  KILN_GEMM_TUNE=1 "$BUILD/kiln_gpu_tests" --gtest_filter='GemmGpu.*' > "$OUT/gemm_tuned.log" 2>&1
  echo "GemmGpu with KILN_GEMM_TUNE=1: exit $? $(grep -E '^\[  PASSED  \]|^\[  FAILED  \]' "$OUT/gemm_tuned.log" | head -3 | tr '\n' ' ')"
elif [[ $STAGES == *test* ]]; then
  log "GPU tests"
  (cd build-gpu && ctest -L gpu --output-on-failure -j 4 ${CTEST_ARGS:-}) > "$OUT/gpu_tests.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*|FAILED|Failure|Expected|Which is|error" "$OUT/gpu_tests.log" | head -80
fi
if [[ $STAGES == *bench* ]]; then
  log "benchmarks"
  bash bench/gpt2_gpu.sh "$BUILD/kiln" "$OUT" 2>&1 | tail -40
fi
if [[ $STAGES == *serve* ]]; then
  log "server end-to-end tests on the GPU (fp32)"
  # The shared tokenizer files travel in .dev/shared (copied there by fetch_gpu_host_deps.sh).
  KILN_SHARED_DIR=$PWD/.dev/shared KILN_BIN=$PWD/"$BUILD/kiln" \
    KILN_SERVE_ARGS="--device cuda --dtype float32 --max_gpu_memory 4" \
    python3 -m pytest -q -p no:cacheprovider tests/e2e/test_serve.py 2>&1 | tail -15
fi
if [[ $STAGES == *fuzz* ]]; then
  log "random-config parity on the GPU (fp32) vs HF"
  python3 tools/fuzz_parity.py --kiln "$BUILD/kiln" --device cuda --dtype float32 \
    --configs "${FUZZ_CONFIGS:-15}" --kiln_args "--max_gpu_memory 2" 2>&1 | tail -12
fi
if [[ $STAGES == *llama* ]]; then
  log "Llama-3-8B shape benchmarks"
  bash bench/llama_gpu.sh "$BUILD/kiln" "$OUT" 2>&1 | tail -40
fi
if [[ $STAGES == *load* ]]; then
  log "serving load benchmark"
  bash bench/load_gpu.sh "$BUILD/kiln" "$OUT" 2>&1 | tail -20
fi
if [[ $STAGES == *encdec* ]]; then
  log "encoder-decoder benchmarks (t5-large, bart-large shapes) + HF peer"
  bash bench/encdec_gpu.sh "$BUILD/kiln" "$OUT" 2>&1 | grep -v "^\[transformers\]" | tail -40
fi
if [[ $STAGES == *peer* ]]; then
  log "HF transformers peer"
  python3 bench/hf_peer.py --out "$OUT/hf_peer.csv" ${PEER_ARGS:-} 2>&1 | tail -20
fi
if [[ $STAGES == *ab* ]]; then
  log "A/B of kernel switches (decode step)"
  bash bench/ab_gpu.sh "$BUILD/kiln" "$OUT" 2>&1 | tee "$OUT/ab.txt" | tail -30
fi
if [[ $STAGES == *ncu* ]]; then
  # Per-kernel times of a gpt2-xl batch-1 decode (graph nodes profiled one by one); NCU_IO /
  # NCU_BATCH pick another shape (NCU_IO=2048,1: one 2048-token prefill).
  log "ncu: per-kernel durations"
  source bench/gpt2_shapes.sh
  timeout 240 ncu --clock-control none --graph-profiling node --metrics gpu__time_duration.sum --csv \
    --launch-skip "${NCU_SKIP:-0}" --launch-count "${NCU_COUNT:-3000}" \
    "$BUILD/kiln" bench ${NCU_MODEL:-$XL} \
    --device cuda --dtype float16 --batch_size "${NCU_BATCH:-1}" --input_output_len "${NCU_IO:-128,8}" --skip_roofline \
    > "$OUT/ncu.csv" 2> "$OUT/ncu.err"; echo "ncu exit $? ($(wc -l < "$OUT/ncu.csv") lines)"
  tail -3 "$OUT/ncu.err"
  python3 tools/ncu_summary.py "$OUT/ncu.csv" --skip "${NCU_SUMMARY_SKIP:-600}" | head -30
fi
if [[ $STAGES == *timeline* ]]; then
  # Every kernel of a decode run with device start/end (kiln bench --kernel_timeline, CUPTI loaded
  # at run time: the host's CUDA extras or the CUPTI wheel PyTorch brings), summarised per kernel.
  log "kernel timeline (CUPTI)"
  source bench/gpt2_shapes.sh
  if [[ -z ${KILN_CUPTI_LIB:-} ]]; then
    KILN_CUPTI_LIB=$(ls /usr/local/cuda*/extras/CUPTI/lib64/libcupti.so* 2>/dev/null | head -1)
    [[ -z $KILN_CUPTI_LIB ]] && KILN_CUPTI_LIB=$(python3 -c "import glob, os, nvidia.cuda_cupti as m; print((glob.glob(os.path.join(list(m.__path__)[0], 'lib', 'libcupti.so*')) or [''])[0])" 2>/dev/null)
    export KILN_CUPTI_LIB
  fi
  echo "CUPTI: ${KILN_CUPTI_LIB:-not found}"
  timeout 240 "$BUILD/kiln" bench ${TIMELINE_MODEL:-$XL} --device cuda --dtype float16 \
    --batch_size "${TIMELINE_BATCH:-1}" --input_output_len "${TIMELINE_IO:-128,32}" --skip_roofline \
    --kernel_timeline "$OUT/timeline.csv" 2>&1 | tail -3
  python3 tools/kernel_timeline.py "$OUT/timeline.csv" --top "${TIMELINE_TOP:-30}" --by_predecessor
fi
if [[ $STAGES == *kprof* ]]; then
  # Full ncu report (speed of light, occupancy, stall reasons) of one launch of the kernel whose
  # name matches NCU_KERNEL, in the NCU_IO / NCU_BATCH run of the ncu stage's model.
  log "ncu detail: ${NCU_KERNEL:?set NCU_KERNEL}"
  source bench/gpt2_shapes.sh
  timeout 240 ncu --set full --clock-control none -k "regex:$NCU_KERNEL" -s "${NCU_SKIP:-0}" -c 1 \
    "$BUILD/kiln" bench ${NCU_MODEL:-$XL} --device cuda --dtype float16 \
    --batch_size "${NCU_BATCH:-1}" --input_output_len "${NCU_IO:-128,8}" --skip_roofline \
    > "$OUT/ncu_detail.txt" 2>&1; echo "ncu detail exit $?"
  grep -E "Duration|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Warp Cycles|Issue|Stall|Bank|Block Limit|One or More|No Eligible|Executed Ipc" "$OUT/ncu_detail.txt" | head -60
fi
log "done"
