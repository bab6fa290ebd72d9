#!/usr/bin/env bash
# Issue 6 benchmarks on the GPU host: Llama-3-8B shape (32 layers, 4096 hidden, 32 heads, 8 KV
# heads, 14336 FFN, 128256 vocab, rope theta 500000) in bf16, random weights; then HF transformers
# (eager) on the same shapes in the same call. usage: bench/llama_gpu.sh KILN_BIN OUT_DIR
set -uo pipefail
KILN=${1:-build-gpu/kiln}
OUT=${2:-gpu-results}
mkdir -p "$OUT"
L3="--model_type llama --n_layer 32 --n_embd 4096 --n_head 32 --n_kv_head 8 --inter_size 14336
    --vocab_size 128256 --n_positions 8192 --rope_theta 500000"
echo "== kiln llama-3-8b bf16"
# batch 1 and 256 at 128/128; the 2048-token prompt at batch 1 (256 x 2048 prompts do not fit the
# KV budget next to the weights).
$KILN bench $L3 --device cuda --dtype bfloat16 --batch_size "${L3_BATCHES:-1;256}" \
  --input_output_len "128,128" --csv "$OUT/bench_llama3_8b.csv"
$KILN bench $L3 --device cuda --dtype bfloat16 --batch_size 1 \
  --input_output_len "2048,128" --csv "$OUT/bench_llama3_8b_2048.csv"
if [ "${PEER:-1}" = 1 ]; then
  echo "== HF transformers eager, same shapes"
  python3 bench/hf_peer.py --family llama --dtype bfloat16 --n_layer 32 --n_embd 4096 --n_head 32 \
    --n_kv_head 8 --inter_size 14336 --vocab_size 128256 --n_positions 8192 \
    --batch_size "${PEER_BATCHES:-1;256}" --input_output_len "${PEER_IO:-128,128}" \
    --impls eager --out "$OUT/hf_llama3_8b.csv" 2>&1 | tail -8
  python3 bench/hf_peer.py --family llama --dtype bfloat16 --n_layer 32 --n_embd 4096 --n_head 32 \
    --n_kv_head 8 --inter_size 14336 --vocab_size 128256 --n_positions 8192 \
    --batch_size 1 --input_output_len "2048,1" \
    --impls eager --out "$OUT/hf_llama3_8b_2048.csv" 2>&1 | tail -8
fi
