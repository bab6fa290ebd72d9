// Beam search inside in-flight batching: every beam case of the HF fixtures runs through the
// executor with all its prompts batched together AND mixed with greedy requests, then again with
// a KV cache small enough to preempt beam groups; outputs must equal HF generate(num_beams=k)
// token for token (scores within 1e-4), and the greedy requests their HF outputs.
#include <gtest/gtest.h>

#include <fstream>

#include "../fixture_util.h"
#include "models/registry.h"
#include "runtime/generator.h"

namespace kiln {
namespace {

class Gpt2BeamInflight : public ::testing::TestWithParam<std::string> {};

void run_case(models::Model& model, const nlohmann::json& beam_case, const nlohmann::json& greedy,
              const runtime::SamplingParams& dflt, int64_t num_blocks, const std::string& what) {
  std::vector<runtime::GenerationRequest> reqs;
  const auto beam_reqs = test::case_requests(beam_case, dflt);
  const auto greedy_reqs = test::case_requests(greedy, dflt);
  // Interleave: greedy, beam, greedy, beam, ...
  std::vector<std::pair<char, size_t>> order;
  for (size_t i = 0; i < std::max(beam_reqs.size(), greedy_reqs.size()); ++i) {
    if (i < greedy_reqs.size()) order.push_back({'g', i});
    if (i < beam_reqs.size()) order.push_back({'b', i});
  }
  for (auto [kind, i] : order) {
    if (kind == 'g') {
      reqs.push_back(greedy_reqs[i]);
      continue;
    }
    runtime::GenerationRequest r = beam_reqs[i];
    r.params.num_beams = beam_case["num_beams"].get<int>();
    r.params.length_penalty = beam_case.value("length_penalty", 1.0);
    const auto& es = beam_case["early_stopping"];
    r.params.early_stopping = es.is_string() ? 2 : (es.get<bool>() ? 1 : 0);
    r.params.num_return_sequences = beam_case.value("num_return_sequences", 1);
    reqs.push_back(r);
  }
  ExecContext ctx;
  runtime::GeneratorOptions opts;
  opts.max_batch_size = 16;
  opts.max_num_tokens = 64;
  opts.block_size = 4;
  opts.num_blocks = num_blocks;
  runtime::Generator gen(model, opts, ctx);
  const auto results = gen.generate(reqs);
  for (size_t k = 0; k < order.size(); ++k) {
    const auto [kind, i] = order[k];
    if (kind == 'g') {
      EXPECT_EQ(results[k].output_ids, greedy["outputs"][i].get<std::vector<int32_t>>())
          << what << " greedy prompt " << i;
      continue;
    }
    const auto& want = beam_case["beam_outputs"][i];
    ASSERT_EQ(results[k].sequences.size(), want.size()) << what << " prompt " << i;
    for (size_t s = 0; s < want.size(); ++s) {
      EXPECT_EQ(results[k].sequences[s], want[s].get<std::vector<int32_t>>())
          << what << " " << beam_case["name"] << " prompt " << i << " sequence " << s;
      EXPECT_NEAR(results[k].scores[s], beam_case["beam_scores"][i][s].get<double>(), 1e-4)
          << what << " prompt " << i << " sequence " << s;
    }
  }
}

TEST_P(Gpt2BeamInflight, BatchedWithGreedyEqualsHf) {
  const std::string dir = GetParam();
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(dir + "/expected.json"));
  auto model = models::load_model(dir, {});
  const runtime::SamplingParams dflt = runtime::load_generation_defaults(dir);
  const nlohmann::json* greedy = nullptr;
  int beam_cases = 0;
  for (const auto& c : expected["cases"])
    if (!c.contains("num_beams") && c.value("repetition_penalty", 1.0) == 1.0) greedy = &c;
  ASSERT_TRUE(greedy);
  for (const auto& c : expected["cases"]) {
    if (!c.contains("beam_outputs")) continue;
    ++beam_cases;
    run_case(*model, c, *greedy, dflt, 0, "roomy cache");
    // The largest beam group alone needs num_beams x ceil(64 / 4) blocks at most; give a bit more
    // than that so groups must take turns and get preempted.
    run_case(*model, c, *greedy, dflt, c["num_beams"].get<int>() * 16 + 8, "tight cache");
  }
  if (beam_cases == 0) GTEST_SKIP() << "no beam cases in " << dir;
}

std::vector<std::string> beam_fixtures() {
  std::vector<std::string> out;
  for (const std::string& d : test::fixture_dirs("gpt2")) {
    const nlohmann::json e = nlohmann::json::parse(std::ifstream(d + "/expected.json"));
    for (const auto& c : e["cases"])
      if (c.contains("beam_outputs")) {
        out.push_back(d);
        break;
      }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2BeamInflight, ::testing::ValuesIn(beam_fixtures()),
                         [](const auto& info) {
                           return test::test_name(
                               std::filesystem::path(info.param).filename().string());
                         });

}  // namespace
}  // namespace kiln
