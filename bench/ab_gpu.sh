#!/usr/bin/env bash
# A/B of run-time kernel switches on the decode step: gpt2-xl and gpt2-medium shapes, fp16,
# batch 1, 128/128, one kiln bench per variant in the same call. A variant is a comma-separated
# list of environment assignments (KILN_PDL=0: no programmatic dependent launch; KILN_ATTN_ROW=0:
# the general decode attention kernel instead of the decode-row one). KILN_BIN=PATH in a variant
# runs that binary instead (e.g. a second build carried beside the first: A/B across builds).
# usage: bench/ab_gpu.sh KILN_BIN OUT_DIR   (AB_VARIANTS="KILN_PDL=0 KILN_PDL=1" by default)
set -uo pipefail
KILN=${1:-build-gpu/kiln}
OUT=${2:-gpu-results}
mkdir -p "$OUT"
source "$(dirname "$0")/gpt2_shapes.sh"  # XL, MED
for rep in $(seq "${AB_REPEAT:-1}"); do
  for variant in ${AB_VARIANTS:-KILN_PDL=0 KILN_PDL=1}; do
    for shape in ${AB_SHAPES:-XL MED}; do
      echo "== $shape $variant (run $rep)"
      bin=$KILN envs=()  # KILN_BIN=PATH in a variant: another build's binary (A/B across builds)
      for a in ${variant//,/ }; do [[ $a == KILN_BIN=* ]] && bin=${a#KILN_BIN=} || envs+=("$a"); done
      env "${envs[@]}" $bin bench ${!shape} --device cuda --dtype float16 --skip_roofline \
        --batch_size "${AB_BATCHES:-1}" --input_output_len "${AB_IO:-128,128}" | tail -n +2
    done
  done
done
