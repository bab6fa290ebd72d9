// GPT-2 beam search parity with Hugging Face generate(num_beams=k) on the fixtures' beam cases
// (expected.json cases with num_beams; tools/make_fixtures.py): kiln's BeamSearch bookkeeping
// driven by the CPU model must return HF's sequences token for token, in HF's order, with HF's
// sequences_scores within 1e-4. The loop here is deliberately minimal: every step recomputes each
// running beam from its whole token list (prompt + generated) in one packed batch, so forking a
// beam is copying its tokens; the in-flight executor shares KV blocks instead.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../fixture_util.h"
#include "models/registry.h"
#include "runtime/batch_builder.h"
#include "runtime/kv_cache/kv_cache.h"
#include "runtime/sampling/beam_search.h"
#include "runtime/sequence.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

constexpr int kBlockSize = 8;

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// The fixtures with at least one beam case.
std::vector<std::string> beam_fixture_dirs() {
  std::vector<std::string> dirs;
  for (const std::string& d : test::fixture_dirs("gpt2")) {
    const nlohmann::json e = read_json(d + "/expected.json");
    for (const auto& c : e["cases"])
      if (c.contains("num_beams")) {
        dirs.push_back(d);
        break;
      }
  }
  return dirs;
}

// HF's early_stopping: false, true or "never".
int early_stopping(const nlohmann::json& v) {
  if (v.is_string()) {
    EXPECT_EQ(v.get<std::string>(), "never");
    return 2;
  }
  return v.get<bool>() ? 1 : 0;
}

// Logits of the last position of each sequence, computed from scratch in one packed batch.
std::vector<float> last_logits(models::Model& model, const std::vector<std::vector<int32_t>>& seqs,
                               ExecContext& ctx) {
  const models::ModelSpec& spec = model.spec();
  int64_t tokens = 0, blocks = 0;
  for (const auto& s : seqs) {
    tokens += static_cast<int64_t>(s.size());
    blocks += (static_cast<int64_t>(s.size()) + kBlockSize - 1) / kBlockSize;
  }
  runtime::KvCacheShape shape{spec.num_layers, spec.num_kv_heads, spec.head_dim, kBlockSize,
                              static_cast<int>(blocks)};
  runtime::KvCache cache(shape);
  std::vector<runtime::Sequence> sequences(seqs.size());
  std::vector<runtime::ScheduledChunk> chunks;
  for (size_t i = 0; i < seqs.size(); ++i) {
    runtime::Sequence& s = sequences[i];
    s.id = static_cast<int64_t>(i);
    s.tokens = seqs[i];
    s.prompt_len = static_cast<int64_t>(seqs[i].size());
    EXPECT_TRUE(cache.blocks().allocate(cache.blocks_for(s.prompt_len), &s.blocks));
    chunks.push_back({&s, s.prompt_len, true});
  }
  model.reserve(tokens, static_cast<int64_t>(seqs.size()));
  const layers::ForwardBatch batch = runtime::build_batch(chunks, kBlockSize);
  layers::KvCacheView kv = cache.view();
  Tensor logits = model.forward(batch, kv, ctx);  // [num seqs, vocab]
  return {logits.data<float>(), logits.data<float>() + seqs.size() * spec.vocab_size};
}

// One prompt through BeamSearch; the caller's side of the contract: rows of the running beams in
// order, beam_logprobs on each, fork by parent index.
std::vector<runtime::BeamSearch::Hypothesis> beam_generate(models::Model& model,
                                                           const std::vector<int32_t>& prompt,
                                                           const runtime::SamplingParams& p,
                                                           ExecContext& ctx) {
  const int64_t vocab = model.spec().vocab_size;
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  runtime::BeamSearch bs(runtime::BeamParams::from(p, prompt_len), vocab);
  std::vector<std::vector<int32_t>> running = {prompt};  // prompt + generated, per running beam
  while (!bs.done()) {
    std::vector<float> rows = last_logits(model, running, ctx);  // [running, vocab]
    for (size_t i = 0; i < running.size(); ++i) {
      EXPECT_EQ(std::vector<int32_t>(running[i].begin() + prompt_len, running[i].end()),
                bs.running_tokens(static_cast<int>(i)));
      runtime::beam_logprobs(rows.data() + i * vocab, vocab, p, running[i], prompt_len);
    }
    const runtime::BeamSearch::Step st = bs.step(rows.data(), static_cast<int>(running.size()));
    std::vector<std::vector<int32_t>> next;
    for (size_t j = 0; j < st.parent.size(); ++j) {
      next.push_back(running[st.parent[j]]);
      next.back().push_back(st.token[j]);
    }
    running = std::move(next);
  }
  return bs.finalize();
}

class Gpt2BeamParity : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2BeamParity, SequencesAndScores) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  ExecContext ctx;
  for (const auto& c : expected["cases"]) {
    if (!c.contains("num_beams")) continue;
    const std::string name = dir + ":" + c["name"].get<std::string>();
    runtime::SamplingParams p = defaults;
    p.max_new_tokens = c["max_new_tokens"].get<int64_t>();
    p.repetition_penalty = c.value("repetition_penalty", 1.0);
    p.num_beams = c["num_beams"].get<int>();
    p.length_penalty = c["length_penalty"].get<float>();
    p.early_stopping = early_stopping(c["early_stopping"]);
    p.num_return_sequences = c["num_return_sequences"].get<int>();
    for (size_t i = 0; i < c["prompts"].size(); ++i) {
      const auto prompt = c["prompts"][i].get<std::vector<int32_t>>();
      const auto hyps = beam_generate(*model, prompt, p, ctx);
      const auto& want = c["beam_outputs"][i];
      const auto& want_scores = c["beam_scores"][i];
      ASSERT_EQ(hyps.size(), want.size()) << name << " prompt " << i;
      for (size_t k = 0; k < hyps.size(); ++k) {
        EXPECT_EQ(hyps[k].tokens, want[k].get<std::vector<int32_t>>())
            << name << " prompt " << i << " sequence " << k;
        EXPECT_NEAR(hyps[k].score, want_scores[k].get<double>(), 1e-4)
            << name << " prompt " << i << " sequence " << k;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2BeamParity, ::testing::ValuesIn(beam_fixture_dirs()),
                         [](const auto& info) {
                           return test::test_name(fs::path(info.param).filename().string());
                         });

}  // namespace
}  // namespace kiln
