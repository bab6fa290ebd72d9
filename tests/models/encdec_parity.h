// Encoder–decoder parity helpers (tools/make_encdec_fixtures.py fixtures): first-step logits of
// an encoder input from a fresh cache (Model::encode, then Model::forward of the decoder start
// token) and the fixtures of the encoder–decoder families.
#pragma once

#include <string>
#include <vector>

#include "../fixture_util.h"
#include "core/exec_context.h"
#include "models/model.h"
#include "runtime/batch_builder.h"
#include "runtime/kv_cache/kv_cache.h"
#include "runtime/sequence.h"

namespace kiln::test {

inline const std::vector<std::string>& encdec_families() {
  static const std::vector<std::string> f = {"t5", "mt5", "umt5", "bart", "mbart", "marian"};
  return f;
}

// Every encoder–decoder fixture folder, family by family.
inline std::vector<std::string> encdec_fixture_dirs() {
  std::vector<std::string> dirs;
  for (const std::string& family : encdec_families())
    if (std::filesystem::exists(std::filesystem::path(KILN_SOURCE_DIR) / "tests/fixtures" / family))
      for (const std::string& d : fixture_dirs(family)) dirs.push_back(d);
  return dirs;
}

// Logits [vocab] of the last decoder token after encoding `encoder_input` (CPU, fresh cache).
inline std::vector<float> encdec_first_logits(models::Model& model,
                                              const std::vector<int32_t>& encoder_input,
                                              const std::vector<int32_t>& decoder_tokens) {
  constexpr int kBlock = 8;
  const auto& spec = model.spec();
  const auto blocks = [](size_t n) { return static_cast<int>((n + kBlock - 1) / kBlock); };
  runtime::KvCacheShape shape{spec.num_layers, spec.num_kv_heads, spec.head_dim, kBlock,
                              blocks(encoder_input.size()) + blocks(decoder_tokens.size())};
  runtime::KvCache cache(shape);
  runtime::Sequence seq;
  seq.encoder_tokens = encoder_input;
  seq.tokens = decoder_tokens;
  seq.prompt_len = static_cast<int64_t>(decoder_tokens.size());
  cache.blocks().allocate(blocks(encoder_input.size()), &seq.cross_blocks);
  cache.blocks().allocate(blocks(decoder_tokens.size()), &seq.blocks);
  ExecContext ctx;
  model.reserve(static_cast<int64_t>(std::max(encoder_input.size(), decoder_tokens.size())), 1);
  layers::KvCacheView kv = cache.view();
  model.encode(runtime::build_encoder_batch({&seq}, kBlock), kv, ctx);
  seq.cross_ready = true;
  const auto batch =
      runtime::build_batch({{&seq, static_cast<int64_t>(decoder_tokens.size()), true}}, kBlock);
  Tensor logits = model.forward(batch, kv, ctx);
  return {logits.data<float>(), logits.data<float>() + spec.vocab_size};
}

}  // namespace kiln::test
