#!/usr/bin/env bash
# A/B of programmatic dependent launch on the decode step: gpt2-xl and gpt2-medium shapes, fp16,
# batch 1, 128/128, with KILN_PDL=0 and 1 in the same call.
# usage: bench/pdl_ab.sh KILN_BIN OUT_DIR
set -uo pipefail
KILN=${1:-build-gpu/kiln}
OUT=${2:-gpu-results}
mkdir -p "$OUT"
XL="--model_type gpt2 --n_layer 48 --n_embd 1600 --n_head 25 --vocab_size 50257 --n_positions 2304"
MED="--model_type gpt2 --n_layer 24 --n_embd 1024 --n_head 16 --vocab_size 50257 --n_positions 2304"
for pdl in ${PDL_VALUES:-0 1}; do
  for shape in XL MED; do
    echo "== $shape KILN_PDL=$pdl"
    KILN_PDL=$pdl $KILN bench ${!shape} --device cuda --dtype float16 --batch_size "${AB_BATCHES:-1}" \
      --input_output_len "${AB_IO:-128,128}" --csv "$OUT/pdl${pdl}_$shape.csv" | tail -n +3
  done
done
