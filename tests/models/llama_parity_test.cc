// LLaMA parity with Hugging Face on the seeded fixtures (tools/make_fixtures.py --family llama):
// HF's rotary inv_freq reproduced (within 2 ulp: libm vs SLEEF pow), first-step logits within 1e-4
// relative, greedy tokens exact — alone, packed together, with chunked prefill and small batches —
// beam cases batched with greedy requests, and kiln checkpoints (save → load) giving the same
// logits. Dynamic NTK beyond max_position_embeddings is HF-exact when a prompt is prefilled whole
// (layers/rotary.h), so the chunking variants check only the prompts within it there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../beam_inflight_util.h"
#include "family_parity.h"
#include "layers/rotary.h"
#include "models/llama/model.h"
#include "models/registry.h"
#include "runtime/batch_builder.h"
#include "runtime/generator.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

using test::first_logits;
using test::read_json;

int64_t ulp_diff(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::abs(static_cast<int64_t>(ia) - ib);
}

void expect_inv_freq(const std::vector<float>& got, const std::vector<float>& want,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_LE(ulp_diff(got[i], want[i]), 2) << what << " inv_freq[" << i << "] " << got[i]
                                            << " vs HF " << want[i];
}

std::vector<std::string> fixtures() { return test::fixture_dirs("llama"); }
std::string name_of(const ::testing::TestParamInfo<std::string>& info) {
  return test::test_name(fs::path(info.param).filename().string());
}

class LlamaParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaParity, RotaryMatchesHf) {
  const std::string dir = GetParam();
  const nlohmann::json rope = read_json(dir + "/expected.json")["rope"];
  const auto cfg = models::llama::LlamaConfig::from_json(io::JsonConfig::load(dir + "/config.json"));
  EXPECT_EQ(cfg.rope.type, rope["rope_type"].get<std::string>());
  expect_inv_freq(layers::rope_inv_freq(cfg.rope), rope["inv_freq"].get<std::vector<float>>(),
                  dir);
  const double want_scale = rope["attention_scaling"].get<double>();
  EXPECT_NEAR(layers::rope_attention_scaling(cfg.rope), want_scale, 1e-7 * want_scale) << dir;
  if (rope.contains("dynamic_inv_freq"))
    for (const auto& [len, f] : rope["dynamic_inv_freq"].items())
      expect_inv_freq(layers::rope_inv_freq(cfg.rope, std::stoll(len)),
                      f.get<std::vector<float>>(), dir + " seq_len " + len);
}

TEST_P(LlamaParity, LogitsAndGreedyTokens) {
  const std::string dir = GetParam();
  const auto cfg = models::llama::LlamaConfig::from_json(io::JsonConfig::load(dir + "/config.json"));
  const bool dynamic = cfg.rope.type == "dynamic";
  // Chunks of a prompt beyond max_position_embeddings under dynamic rope: see the file comment.
  test::check_logits_and_greedy(dir, "llama", [&](int64_t prompt_len, bool chunked) {
    return dynamic && chunked && prompt_len > cfg.max_position_embeddings;
  });
}

TEST_P(LlamaParity, BeamCases) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  const nlohmann::json* greedy = test::greedy_case(expected);
  ASSERT_NE(greedy, nullptr);
  bool any = false;
  for (const auto& c : expected["cases"]) any |= c.contains("beam_outputs");
  if (!any) GTEST_SKIP() << "no beam cases";
  auto model = models::load_model(dir);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  ExecContext ctx;
  for (const auto& c : expected["cases"]) {
    if (!c.contains("beam_outputs")) continue;
    test::run_beam_case(*model, ctx, c, *greedy, defaults, 0, dir + " roomy");
    test::run_beam_case(*model, ctx, c, *greedy, defaults, 24, dir + " preempting");
  }
}

// save() writes a kiln checkpoint (fused weights) that loads back to the same logits; a bf16
// checkpoint loads too.
TEST_P(LlamaParity, KilnCheckpointRoundTrip) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  const fs::path out = fs::temp_directory_path() / ("kiln_llama_ckpt_" + fs::path(dir).filename().string());
  fs::remove_all(out);
  model->save(out.string(), DType::kFloat32);
  auto back = models::load_model(out.string());
  const auto prompt = expected["cases"][0]["prompts"].back().get<std::vector<int32_t>>();
  EXPECT_EQ(first_logits(*back, prompt), first_logits(*model, prompt));
  const nlohmann::json saved = read_json((out / "config.json").string());
  EXPECT_EQ(saved["eos_token_id"], read_json(dir + "/config.json")["eos_token_id"]);
  fs::remove_all(out);
  model->save(out.string(), DType::kBFloat16);
  auto bf = models::load_model(out.string());
  EXPECT_LT(test::rel_err(first_logits(*bf, prompt), first_logits(*model, prompt)), 0.1);
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaParity, ::testing::ValuesIn(fixtures()), name_of);

// models::random_model (kiln build/bench with architecture flags) makes a runnable LLaMA.
TEST(LlamaRandom, RandomModelRuns) {
  const nlohmann::json arch = {{"model_type", "llama"},     {"hidden_size", 64},
                               {"num_hidden_layers", 2},    {"num_attention_heads", 4},
                               {"num_key_value_heads", 2},  {"intermediate_size", 96},
                               {"vocab_size", 256},         {"max_position_embeddings", 128},
                               {"rope_theta", 500000.0}};
  auto model = models::random_model(arch, 7);
  EXPECT_EQ(model->spec().num_kv_heads, 2);
  EXPECT_EQ(model->spec().max_positions, 128);
  const auto logits = first_logits(*model, {1, 2, 3, 4, 5});
  ASSERT_EQ(logits.size(), 256u);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  const fs::path out = fs::temp_directory_path() / "kiln_llama_random_ckpt";
  fs::remove_all(out);
  model->save(out.string(), DType::kBFloat16);
  auto back = models::load_model(out.string());
  EXPECT_LT(test::rel_err(first_logits(*back, {1, 2, 3, 4, 5}), logits), 0.05);
  fs::remove_all(out);
}

TEST(LlamaConfig, RejectsWhatHfCannotRun) {
  const auto parse = [](nlohmann::json j) {
    j["hidden_size"] = 32;
    j["num_attention_heads"] = 4;
    return models::llama::LlamaConfig::from_json(io::JsonConfig::from_json(j, "test"));
  };
  EXPECT_THROW(parse({{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 2.0}}},
                      {"partial_rotary_factor", 0.5}}),
               std::exception);
  EXPECT_THROW(parse({{"rope_scaling", {{"rope_type", "longrope"}}}}), std::exception);
  EXPECT_THROW(parse({{"rope_scaling", {{"rope_type", "linear"}}}}), std::exception);  // no factor
  EXPECT_THROW(parse({{"num_key_value_heads", 3}}), std::exception);
  // yarn with factor null: max_position_embeddings / original_max_position_embeddings.
  const auto c = parse({{"max_position_embeddings", 64},
                        {"rope_scaling", {{"rope_type", "yarn"}, {"factor", nullptr},
                                          {"original_max_position_embeddings", 16}}}});
  EXPECT_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(parse({}).rope.type, "default");
}

}  // namespace
}  // namespace kiln
