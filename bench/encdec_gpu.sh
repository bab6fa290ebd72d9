#!/usr/bin/env bash
# Encoder–decoder benchmarks of issue 5 on the GPU host: t5-large and bart-large shapes, fp16,
# random weights, batch 1 and 64, beam 1 and 4, kiln beside HF transformers (eager) in the same call.
# usage: bench/encdec_gpu.sh KILN_BIN OUT_DIR
set -uo pipefail
KILN=${1:-build-gpu/kiln}
OUT=${2:-gpu-results}
mkdir -p "$OUT"
IO=${ENCDEC_IO:-128,128}
BATCHES=${ENCDEC_BATCHES:-1;64}
T5='{"d_model":1024,"d_ff":4096,"d_kv":64,"num_heads":16,"num_layers":24,"vocab_size":32128,"feed_forward_proj":"relu","n_positions":512,"decoder_start_token_id":0}'
BART='{"d_model":1024,"encoder_layers":12,"decoder_layers":12,"encoder_attention_heads":16,"decoder_attention_heads":16,"encoder_ffn_dim":4096,"decoder_ffn_dim":4096,"vocab_size":50265,"max_position_embeddings":1024}'
flags() {  # JSON object -> --config KEY=VALUE ...
  python3 -c 'import json,sys; print(" ".join(f"--config {k}={json.dumps(v)}" for k, v in json.loads(sys.argv[1]).items()))' "$1"
}
for fam in t5 bart; do
  if [ $fam = t5 ]; then CFG=$T5; else CFG=$BART; fi
  for beams in ${ENCDEC_BEAMS:-1 4}; do
    echo "== $fam-large shape fp16, beams $beams"
    $KILN bench --model_type $fam $(flags "$CFG") --device cuda --dtype float16 \
      --batch_size "$BATCHES" --input_output_len "$IO" --num_beams $beams \
      --csv "$OUT/bench_${fam}_large_beam${beams}.csv"
  done
  if [ "${PEER:-1}" = 1 ]; then
    echo "== HF transformers eager, $fam-large shape fp16"
    python3 bench/encdec_peer.py --model_type $fam --config "$CFG" --label "$fam-large" \
      --batch_size "$BATCHES" --input_output_len "$IO" --num_beams "1;4" \
      --out "$OUT/hf_${fam}_large.csv" 2>&1 | grep -v Warning
  fi
done
