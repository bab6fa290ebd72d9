// GPT-2 parity with Hugging Face on the seeded fixtures (tools/make_fixtures.py): first-step logits
// within 1e-4 relative, greedy tokens exact — alone, packed together, with chunked prefill and with
// other KV block sizes (all must give the same tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
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

class Gpt2Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2Parity, LogitsAndGreedyTokens) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  for (const auto& c : expected["cases"]) {
    const std::vector<runtime::GenerationRequest> reqs = test::case_requests(c, defaults);
    const std::string name = dir + ":" + c["name"].get<std::string>();
    // first_logits may be omitted (the real-vocabulary fixture keeps its size down).
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
    // Alone, packed, chunked prefill (3 tokens a step), small blocks.
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

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2Parity, ::testing::ValuesIn(test::fixture_dirs("gpt2")),
                         [](const auto& info) {
                           return test::test_name(fs::path(info.param).filename().string());
                         });

}  // namespace
}  // namespace kiln
