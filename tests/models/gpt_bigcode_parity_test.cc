// GPTBigCode (SantaCoder / StarCoder) parity with Hugging Face on the seeded fixtures
// (tools/make_fixtures.py --family gpt_bigcode), MQA and MHA:
// first-step logits within 1e-4 relative, greedy tokens exact — alone, packed together, with
// chunked prefill and a one-sequence queue. Model::save -> kiln checkpoint -> load gives the same
// logits; random_model builds every layout.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "family_parity.h"
#include "models/registry.h"
#include "runtime/batch_builder.h"
#include "runtime/generator.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using test::first_logits;
using test::read_json;
using test::TempDir;

class BigCodeParity : public ::testing::TestWithParam<std::string> {};

TEST_P(BigCodeParity, LogitsAndGreedyTokens) {
  test::check_logits_and_greedy(GetParam(), "gpt_bigcode");
}

// HF folder -> Model::save (fp32) -> kiln checkpoint -> load: identical logits.
TEST_P(BigCodeParity, SaveLoadRoundTrip) { test::check_save_load(GetParam(), "gpt_bigcode"); }

INSTANTIATE_TEST_SUITE_P(Fixtures, BigCodeParity,
                         ::testing::ValuesIn(test::fixture_dirs("gpt_bigcode")),
                         test::fixture_name);

// random_model covers MQA and MHA, scaled or not, tied or not; its kiln checkpoint loads back to
// the same logits.
TEST(BigCodeRandomModel, LayoutsRunAndRoundTrip) {
  const nlohmann::json base = {{"model_type", "gpt_bigcode"},
                               {"vocab_size", 64},
                               {"n_embd", 16},
                               {"n_layer", 2},
                               {"n_head", 4},
                               {"n_positions", 32}};
  const std::vector<nlohmann::json> variants = {
      nlohmann::json::object(),
      {{"multi_query", false}, {"n_inner", 24}},
      {{"scale_attn_weights", false}, {"activation_function", "relu"}},
      {{"tie_word_embeddings", false}, {"multi_query", false}},
  };
  test::check_random_layouts(
      base, variants, [](const nlohmann::json& arch, const models::ModelSpec& spec) {
        EXPECT_EQ(spec.num_kv_heads, arch.value("multi_query", true) ? 1 : 4);
      });
}

TEST(BigCodeConfigErrors, ClearMessages) {
  const nlohmann::json arch = {{"model_type", "gpt_bigcode"}, {"n_embd", 30}, {"n_head", 4}};
  test::expect_error_containing([&] { models::random_model(arch, 1); }, "divisible");
}

}  // namespace
}  // namespace kiln
