#!/usr/bin/env bash
# GPT-2 benchmarks of issue 3 on the GPU host: gpt2-xl and gpt2-medium shapes, fp16, random weights.
# usage: bench/gpt2_gpu.sh KILN_BIN OUT_DIR
set -uo pipefail
KILN=${1:-build-gpu/kiln}
OUT=${2:-gpu-results}
mkdir -p "$OUT"
source "$(dirname "$0")/gpt2_shapes.sh"  # XL, MED
echo "== gpt2-xl fp16"
$KILN bench $XL --device cuda --dtype float16 --batch_size "${XL_BATCHES:-1;8;64}" \
  --input_output_len "${XL_IO:-128,128;2048,128}" --csv "$OUT/bench_gpt2_xl.csv"
echo "== gpt2-medium fp16"
$KILN bench $MED --device cuda --dtype float16 --batch_size "${MED_BATCHES:-1;64}" \
  --input_output_len "128,128" --csv "$OUT/bench_gpt2_medium.csv"
