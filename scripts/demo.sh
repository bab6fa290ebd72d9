#!/usr/bin/env bash
# README command 1: installs dependencies, builds, and runs the main job offline: text in, text out
# through the real GPT-2 tokenizer (../shared/data) and a small seeded GPT-2 checkpoint shipped in
# tests/fixtures (random weights, so the continuation is gibberish — the pipeline is the point).
# Pass your own HF GPT-2 folder as $1 to run that instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=${1:-}
if [ -z "$MODEL" ]; then
  MODEL=$(mktemp -d)
  trap 'rm -rf "$MODEL"' EXIT
  for f in tests/fixtures/gpt2/real_vocab_fp16/*; do ln -s "$PWD/$f" "$MODEL/"; done
  ln -s "$(cd ../shared/data/tokenizers/gpt2 && pwd)/encoder.json" "$MODEL/vocab.json"
  ln -s "$(cd ../shared/data/tokenizers/gpt2 && pwd)/vocab.bpe" "$MODEL/merges.txt"
fi
build/kiln run --model_dir "$MODEL" --input_text "The quick brown fox" \
  --input_text "kiln runs GPT-2 on the CPU" --max_new_tokens 24
