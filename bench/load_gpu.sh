#!/usr/bin/env bash
# Serving load benchmark on the GPU host (issue 4): gpt2-xl shape, fp16, random weights built with
# `kiln build`, N requests with 128-1024 prompt and 128-512 output tokens, Poisson arrivals,
# through the engine API (`kiln loadtest`). Usage: bench/load_gpu.sh KILN_BIN OUT_DIR
set -euo pipefail
KILN=${1:-build-gpu/kiln}
OUT=${2:-gpu-results}
ENGINE=/tmp/kiln-gpt2-xl-fp16
N=${LOAD_REQUESTS:-1000}
RATE=${LOAD_RATE:-"20 0"}
if [ ! -f $ENGINE/model.safetensors ]; then
  $KILN build --model_type gpt2 --n_layer 48 --n_embd 1600 --n_head 25 --vocab_size 50257 \
    --n_positions 2048 --dtype float16 --output_dir $ENGINE
fi
for rate in $RATE; do
  $KILN loadtest --engine_dir $ENGINE --device cuda --dtype float16 --num_requests "$N" \
    --input_len 128,1024 --output_len 128,512 --request_rate "$rate" --max_batch_size 256 \
    --max_num_tokens 8192 --output_json "$OUT/load_rate_${rate}.json" 2>&1 | tee "$OUT/load_rate_${rate}.txt"
done
