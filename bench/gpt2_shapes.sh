# The GPT-2 shapes of issue 3 as `kiln bench` / `kiln build` random-weight flags (sourced).
XL="--model_type gpt2 --n_layer 48 --n_embd 1600 --n_head 25 --vocab_size 50257 --n_positions 2304"
MED="--model_type gpt2 --n_layer 24 --n_embd 1024 --n_head 16 --vocab_size 50257 --n_positions 2304"
