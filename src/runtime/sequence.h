// Sequence: one prompt's state in the step loop — its tokens, how many have K/V in the cache, its
// blocks, sampling state, and why it finished.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

struct Sequence {
  int64_t id = 0;
  std::vector<int32_t> tokens;   // prompt followed by generated tokens (enc-dec: the decoder's)
  int64_t prompt_len = 0;
  // Encoder–decoder models: the encoder input, and the blocks holding its cross-attention K/V
  // (computed once, then shared by forks; freed and recomputed after a preemption).
  std::vector<int32_t> encoder_tokens;
  std::vector<int32_t> cross_blocks;
  bool cross_ready = false;      // cross K/V are in cross_blocks
  int64_t num_computed = 0;      // tokens whose K/V are in the cache
  int64_t max_new = 0;           // resolved max_new_tokens
  std::vector<int32_t> blocks;   // KV block ids, in order
  int64_t blocks_registered = 0;  // leading blocks already offered to the prefix cache
  int index = 0;                 // which of its request's returned sequences (n > 1, beams)
  SamplingParams params;
  std::mt19937_64 rng;
  bool finished = false;
  std::string finish_reason;     // "stop" (end token) or "length"

  bool is_encoder_decoder() const { return !encoder_tokens.empty(); }
  bool needs_encoding() const { return is_encoder_decoder() && !cross_ready; }
  int64_t num_generated() const { return static_cast<int64_t>(tokens.size()) - prompt_len; }
  std::vector<int32_t> generated() const {
    return {tokens.begin() + prompt_len, tokens.end()};
  }
};

}  // namespace kiln::runtime
