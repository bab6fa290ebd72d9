// OPT parity with Hugging Face on the seeded fixtures (tools/make_fixtures.py --family opt):
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

class OptParity : public ::testing::TestWithParam<std::string> {};

TEST_P(OptParity, LogitsAndGreedyTokens) { test::check_logits_and_greedy(GetParam(), "opt"); }

// HF folder -> Model::save (fp32) -> kiln checkpoint -> load: identical logits.
TEST_P(OptParity, SaveLoadRoundTrip) { test::check_save_load(GetParam(), "opt"); }

INSTANTIATE_TEST_SUITE_P(Fixtures, OptParity, ::testing::ValuesIn(test::fixture_dirs("opt")),
                         test::fixture_name);

// random_model covers every layout (pre/post-LN, projections, no bias, no affine, untied) and
// its kiln checkpoint loads back to the same logits.
TEST(OptRandomModel, LayoutsRunAndRoundTrip) {
  const nlohmann::json base = {
      {"model_type", "opt"},          {"vocab_size", 64}, {"hidden_size", 16},
      {"num_hidden_layers", 2},       {"ffn_dim", 24},    {"num_attention_heads", 2},
      {"max_position_embeddings", 32}};
  const std::vector<nlohmann::json> variants = {
      nlohmann::json::object(),
      {{"do_layer_norm_before", false}, {"word_embed_proj_dim", 8}},
      {{"word_embed_proj_dim", 12}, {"activation_function", "gelu"}},
      {{"enable_bias", false}, {"layer_norm_elementwise_affine", false}},
      {{"tie_word_embeddings", false}, {"_remove_final_layer_norm", true}},
  };
  test::check_random_layouts(base, variants);
}

TEST(OptConfigErrors, ClearMessages) {
  const nlohmann::json arch = {
      {"model_type", "opt"}, {"hidden_size", 30}, {"num_attention_heads", 4}};
  test::expect_error_containing([&] { models::random_model(arch, 1); }, "divisible");
}

}  // namespace
}  // namespace kiln
