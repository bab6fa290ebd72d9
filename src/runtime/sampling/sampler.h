// Next-token choice on the host from one row of fp32 logits, with HF's logits processors in HF's
// order: repetition penalty, min-new-tokens EOS mask; then for sampling temperature, top-k, top-p,
// softmax and a draw from the request's own seeded generator (so batched == alone holds for
// sampling too). Greedy takes the first maximum, as torch.argmax does.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

// logits [vocab] is modified in place. context: prompt + generated tokens so far.
int32_t choose_token(float* logits, int64_t vocab, const SamplingParams& params,
                     const std::vector<int32_t>& context, int64_t num_generated,
                     std::mt19937_64& rng);

}  // namespace kiln::runtime
