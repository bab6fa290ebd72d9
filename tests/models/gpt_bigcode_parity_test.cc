// GPTBigCode (SantaCoder / StarCoder) parity with Hugging Face on the seeded fixtures
// (tools/make_fixtures.py --family gpt_bigcode), MQA and MHA:
// first-step logits within 1e-4 relative, greedy tokens exact — alone, packed together, with
// chunked prefill and a one-sequence queue. Model::save -> kiln checkpoint -> load gives the same
// logits; random_model builds every layout.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../fixture_util.h"
#include "models/registry.h"
#include "runtime/batch_builder.h"
#include "runtime/generator.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// Logits of the last prompt position, from a fresh cache.
std::vector<float> first_logits(models::Model& model, const std::vector<int32_t>& prompt) {
  const auto& spec = model.spec();
  runtime::KvCacheShape shape{spec.num_layers, spec.num_kv_heads, spec.head_dim, 8,
                              static_cast<int>((prompt.size() + 7) / 8)};
  runtime::KvCache cache(shape);
  runtime::Sequence seq;
  seq.tokens = prompt;
  cache.blocks().allocate(shape.num_blocks, &seq.blocks);
  const auto batch = runtime::build_batch({{&seq, static_cast<int64_t>(prompt.size()), true}}, 8);
  ExecContext ctx;
  model.reserve(static_cast<int64_t>(prompt.size()), 1);
  layers::KvCacheView kv = cache.view();
  Tensor logits = model.forward(batch, kv, ctx);
  return {logits.data<float>(), logits.data<float>() + spec.vocab_size};
}

// A fresh folder under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() /
           fmt::format("kiln_{}_{}_{}", tag, ::getpid(), reinterpret_cast<uintptr_t>(this));
    fs::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

class BigCodeParity : public ::testing::TestWithParam<std::string> {};

TEST_P(BigCodeParity, LogitsAndGreedyTokens) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  EXPECT_EQ(model->spec().model_type, "gpt_bigcode");
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  for (const auto& c : expected["cases"]) {
    const std::vector<runtime::GenerationRequest> reqs = test::case_requests(c, defaults);
    const std::string name = dir + ":" + c["name"].get<std::string>();
    for (size_t i = 0; c.contains("first_logits") && i < reqs.size(); ++i) {
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
    ExecContext ctx;
    struct Variant {
      const char* what;
      runtime::GeneratorOptions opts;
      bool alone;
    };
    const Variant variants[] = {{"alone", {64, 2048, 16, 0}, true},
                                {"packed", {64, 2048, 16, 0}, false},
                                {"chunked", {4, 4, 3, 0}, false},
                                {"batch1-queue", {1, 7, 1, 0}, false}};
    for (const Variant& v : variants) {
      runtime::Generator gen(*model, v.opts, ctx);
      std::vector<std::vector<int32_t>> outs;
      if (v.alone) {
        for (const auto& r : reqs) outs.push_back(gen.generate({r})[0].output_ids);
      } else {
        for (const auto& res : gen.generate(reqs)) outs.push_back(res.output_ids);
      }
      for (size_t i = 0; i < reqs.size(); ++i)
        EXPECT_EQ(outs[i], c["outputs"][i].get<std::vector<int32_t>>())
            << name << " prompt " << i << " (" << v.what << ")";
    }
  }
}

// HF folder -> Model::save (fp32) -> kiln checkpoint -> load: identical logits.
TEST_P(BigCodeParity, SaveLoadRoundTrip) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  TempDir tmp("bigcode_ckpt");
  model->save(tmp.path.string(), DType::kFloat32);
  auto back = models::load_model(tmp.path.string());
  EXPECT_EQ(back->spec().model_type, "gpt_bigcode");
  EXPECT_EQ(back->spec().weight_bytes, model->spec().weight_bytes);
  for (const auto& p : expected["cases"][0]["prompts"]) {
    const auto prompt = p.get<std::vector<int32_t>>();
    EXPECT_EQ(first_logits(*back, prompt), first_logits(*model, prompt)) << dir;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BigCodeParity, ::testing::ValuesIn(test::fixture_dirs("gpt_bigcode")),
                         [](const auto& info) {
                           return test::test_name(fs::path(info.param).filename().string());
                         });

// random_model covers MQA and MHA, scaled or not, tied or not; its kiln checkpoint loads back to
// the same logits.
TEST(BigCodeRandomModel, LayoutsRunAndRoundTrip) {
  const nlohmann::json base = {{"model_type", "gpt_bigcode"}, {"vocab_size", 64},
                               {"n_embd", 16},                {"n_layer", 2},
                               {"n_head", 4},                 {"n_positions", 32}};
  const std::vector<nlohmann::json> variants = {
      nlohmann::json::object(),
      {{"multi_query", false}, {"n_inner", 24}},
      {{"scale_attn_weights", false}, {"activation_function", "relu"}},
      {{"tie_word_embeddings", false}, {"multi_query", false}},
  };
  const std::vector<int32_t> prompt = {1, 5, 9, 3, 7};
  for (const auto& v : variants) {
    nlohmann::json arch = base;
    arch.update(v);
    auto model = models::random_model(arch, 42);
    EXPECT_EQ(model->spec().model_type, "gpt_bigcode");
    EXPECT_EQ(model->spec().num_kv_heads, arch.value("multi_query", true) ? 1 : 4);
    const auto logits = first_logits(*model, prompt);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x)) << arch.dump();
    TempDir tmp("bigcode_random");
    model->save(tmp.path.string(), DType::kFloat32);
    auto back = models::load_model(tmp.path.string());
    EXPECT_EQ(first_logits(*back, prompt), logits) << arch.dump();
    EXPECT_EQ(first_logits(*models::random_model(arch, 42), prompt), logits) << arch.dump();
  }
}

TEST(BigCodeConfigErrors, ClearMessages) {
  nlohmann::json arch = {{"model_type", "gpt_bigcode"}, {"n_embd", 30}, {"n_head", 4}};
  try {
    models::random_model(arch, 1);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("divisible"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
