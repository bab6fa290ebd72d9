// Beam search inside in-flight batching: every beam case of the HF fixtures runs through the
// executor with all its prompts batched together AND mixed with greedy requests, then again with
// a KV cache small enough to preempt beam groups; outputs must equal HF generate(num_beams=k)
// token for token (scores within 1e-4), and the greedy requests their HF outputs.
#include <gtest/gtest.h>

#include <fstream>

#include "../beam_inflight_util.h"
#include "models/registry.h"
#include "runtime/generator.h"

namespace kiln {
namespace {

class Gpt2BeamInflight : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2BeamInflight, BatchedWithGreedyEqualsHf) {
  const std::string dir = GetParam();
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(dir + "/expected.json"));
  auto model = models::load_model(dir, {});
  const runtime::SamplingParams dflt = runtime::load_generation_defaults(dir);
  const nlohmann::json* greedy = test::greedy_case(expected);
  int beam_cases = 0;
  ExecContext ctx;
  ASSERT_TRUE(greedy);
  for (const auto& c : expected["cases"]) {
    if (!c.contains("beam_outputs")) continue;
    ++beam_cases;
    test::run_beam_case(*model, ctx, c, *greedy, dflt, 0, "roomy cache");
    // The largest beam group alone needs num_beams x ceil(64 / 4) blocks at most; give a bit more
    // than that so groups must take turns and get preempted.
    test::run_beam_case(*model, ctx, c, *greedy, dflt, c["num_beams"].get<int>() * 16 + 8, "tight cache");
  }
  if (beam_cases == 0) GTEST_SKIP() << "no beam cases in " << dir;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2BeamInflight, ::testing::ValuesIn(test::beam_fixtures()),
                         [](const auto& info) {
                           return test::test_name(
                               std::filesystem::path(info.param).filename().string());
                         });

}  // namespace
}  // namespace kiln
