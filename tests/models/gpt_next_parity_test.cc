// GPT-Next (NeMo Megatron GPT) parity on the seeded .nemo fixtures (tools/make_nemo_fixture.py):
// each fixture's converted/ folder (tools/convert_nemo.py's output, committed) against the
// script's pure-torch Megatron reference — first-step logits within 1e-4 relative, greedy tokens
// exact alone, packed, with chunked prefill and a batch-1 queue — and its tokenizer.json against
// SentencePiece's own ids and decodes. Also: save -> load round trip (layernorm1p's +1 is applied
// once), bad configs rejected, random_model runs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "family_parity.h"
#include "models/gpt_next/model.h"
#include "models/registry.h"
#include "runtime/batch_builder.h"
#include "runtime/generator.h"
#include "runtime/kv_cache/kv_cache.h"
#include "tokenizer/tokenizer.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

using test::first_logits;
using test::read_json;

std::vector<std::string> fixtures() { return test::fixture_dirs("gpt_next"); }
std::string name_of(const ::testing::TestParamInfo<std::string>& info) {
  return test::test_name(fs::path(info.param).filename().string());
}

class GptNextParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GptNextParity, LogitsAndGreedyTokens) {
  const std::string dir = GetParam(), ckpt = dir + "/converted";
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(ckpt);
  ASSERT_EQ(model->spec().model_type, "gpt_next");
  EXPECT_EQ(model->spec().vocab_size, expected["vocab_size"].get<int64_t>());
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(ckpt);
  for (const auto& c : expected["cases"]) {
    const std::vector<runtime::GenerationRequest> reqs = test::case_requests(c, defaults);
    const std::string name = dir + ":" + c["name"].get<std::string>();
    if (c.contains("first_logits")) {
      for (size_t i = 0; i < reqs.size(); ++i) {
        const auto ref = c["first_logits"][i].get<std::vector<float>>();
        const auto got = first_logits(*model, reqs[i].prompt);
        ASSERT_EQ(got.size(), ref.size());
        double max_abs = 0, max_ref = 0;
        for (size_t j = 0; j < ref.size(); ++j) {
          max_abs = std::max(max_abs, std::fabs(double(got[j]) - ref[j]));
          max_ref = std::max(max_ref, std::fabs(double(ref[j])));
        }
        EXPECT_LT(test::rel_err(got, ref), 1e-4) << name << " prompt " << i;
        EXPECT_LT(max_abs / max_ref, 1e-4) << name << " prompt " << i;
      }
    }
    ExecContext ctx;
    for (const test::RunVariant& v : test::run_variants(4, 4, 3, 7)) {
      const std::vector<std::vector<int32_t>> outs = test::run_variant(*model, v, reqs, ctx);
      for (size_t i = 0; i < reqs.size(); ++i)
        EXPECT_EQ(outs[i], c["outputs"][i].get<std::vector<int32_t>>())
            << name << " prompt " << i << " (" << v.what << ")";
    }
  }
}

// The converted tokenizer.json encodes like SentencePiece's Encode and decodes like its Decode.
TEST_P(GptNextParity, TokenizerMatchesSentencePiece) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  const auto tok = tok::Tokenizer::from_dir(dir + "/converted");
  const nlohmann::json& t = expected["tokenizer"];
  for (size_t i = 0; i < t["texts"].size(); ++i) {
    const std::string text = t["texts"][i].get<std::string>();
    const auto ids = t["ids"][i].get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(text), ids) << "text " << i << ": " << text;
    EXPECT_EQ(tok->decode(ids), t["decoded"][i].get<std::string>()) << "text " << i;
  }
  for (const auto& c : expected["cases"]) {
    if (!c.contains("prompt_texts")) continue;
    for (size_t i = 0; i < c["prompts"].size(); ++i) {
      EXPECT_EQ(tok->encode(c["prompt_texts"][i].get<std::string>()),
                c["prompts"][i].get<std::vector<int32_t>>());
      EXPECT_EQ(tok->decode(c["outputs"][i].get<std::vector<int32_t>>(), true),
                c["output_texts"][i].get<std::string>());
    }
  }
}

// save() writes the stored weights back (layernorm1p: weight - 1, not the folded weight + 1).
TEST_P(GptNextParity, KilnCheckpointRoundTrip) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir + "/converted");
  const fs::path out =
      fs::temp_directory_path() / ("kiln_gpt_next_" + fs::path(dir).filename().string());
  fs::remove_all(out);
  model->save(out.string(), DType::kFloat32);
  auto back = models::load_model(out.string());
  const auto prompt = expected["cases"][0]["prompts"].back().get<std::vector<int32_t>>();
  EXPECT_EQ(first_logits(*back, prompt), first_logits(*model, prompt));
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GptNextParity, ::testing::ValuesIn(fixtures()), name_of);

nlohmann::json base_config() {
  return {{"model_type", "gpt_next"},
          {"vocab_size", 64},
          {"hidden_size", 32},
          {"ffn_hidden_size", 48},
          {"num_layers", 2},
          {"num_attention_heads", 4},
          {"num_query_groups", 2},
          {"rotary_percentage", 0.5},
          {"normalization", "layernorm1p"},
          {"max_position_embeddings", 32},
          {"share_embeddings_and_output_weights", false}};
}

TEST(GptNextConfig, ParsesAndRejects) {
  const auto parse = [](nlohmann::json j) {
    return models::gpt_next::GptNextConfig::from_json(io::JsonConfig::from_json(j, "test"));
  };
  const auto c = parse(base_config());
  EXPECT_EQ(c.head_dim(), 8);
  EXPECT_EQ(c.rope.dim, 4);
  EXPECT_EQ(c.rope.type, "default");
  auto j = base_config();
  j["seq_len_interpolation_factor"] = 4.0;
  EXPECT_EQ(parse(j).rope.type, "linear");
  const auto bad = [&](const char* key, nlohmann::json v) {
    auto b = base_config();
    b[key] = v;
    EXPECT_THROW(parse(b), std::exception) << key << " = " << v;
  };
  bad("bias", true);
  bad("activation", "gelu");
  bad("position_embedding_type", "learned_absolute");
  bad("normalization", "batchnorm");
  bad("rotary_percentage", 0.1);    // 0 rotary dims
  bad("rotary_percentage", 0.375);  // 3: odd
  bad("num_query_groups", 3);
  // 0.25 of 8 = 2 dims: allowed
  auto ok = base_config();
  ok["rotary_percentage"] = 0.25;
  EXPECT_EQ(parse(ok).rope.dim, 2);
}

TEST(GptNextRandom, RandomModelRunsAndRoundTrips) {
  auto model = models::random_model(base_config(), 7);
  EXPECT_EQ(model->spec().num_kv_heads, 2);
  EXPECT_EQ(model->spec().max_positions, 32);
  const auto logits = first_logits(*model, {1, 2, 3, 4, 5});
  ASSERT_EQ(logits.size(), 64u);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  const fs::path out = fs::temp_directory_path() / "kiln_gpt_next_random_ckpt";
  fs::remove_all(out);
  model->save(out.string(), DType::kFloat32);
  auto back = models::load_model(out.string());
  EXPECT_EQ(first_logits(*back, {1, 2, 3, 4, 5}), logits);
  fs::remove_all(out);
}

TEST(GptNextLoad, NeedsAKilnCheckpoint) {
  const fs::path d = fs::temp_directory_path() / "kiln_gpt_next_not_ckpt";
  fs::create_directories(d);
  std::ofstream(d / "config.json") << base_config().dump();
  test::expect_error_containing([&] { models::load_model(d.string()); }, "convert_nemo.py");
  fs::remove_all(d);
}

}  // namespace
}  // namespace kiln
