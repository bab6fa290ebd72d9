// Shared by the CPU and GPU beam tests: one HF beam case run through the in-flight executor with
// its prompts batched together and interleaved with the fixture's greedy requests; checks beam
// sequences (exact) and scores (1e-4) against HF, and the greedy outputs.
#pragma once

#include <gtest/gtest.h>

#include <fstream>

#include "fixture_util.h"
#include "models/model.h"

namespace kiln::test {

inline void run_beam_case(models::Model& model, ExecContext& ctx, const nlohmann::json& beam_case, const nlohmann::json& greedy,
              const runtime::SamplingParams& dflt, int64_t num_blocks, const std::string& what) {
  std::vector<runtime::GenerationRequest> reqs;
  const auto beam_reqs = case_requests(beam_case, dflt);
  const auto greedy_reqs = case_requests(greedy, dflt);
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


// The fixture folders that carry beam cases.
inline std::vector<std::string> beam_fixtures() {
  std::vector<std::string> out;
  for (const std::string& d : fixture_dirs("gpt2")) {
    const nlohmann::json e = nlohmann::json::parse(std::ifstream(d + "/expected.json"));
    for (const auto& c : e["cases"])
      if (c.contains("beam_outputs")) {
        out.push_back(d);
        break;
      }
  }
  return out;
}

// The greedy case (no beams, no repetition penalty) of a fixture.
inline const nlohmann::json* greedy_case(const nlohmann::json& expected) {
  const nlohmann::json* greedy = nullptr;
  for (const auto& c : expected["cases"])
    if (!c.contains("num_beams") && c.value("repetition_penalty", 1.0) == 1.0) greedy = &c;
  return greedy;
}

}  // namespace kiln::test
