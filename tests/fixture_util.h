// Shared by the CPU and GPU parity tests: the HF fixture folders of a family (tests/fixtures/<family>/*
// holding an expected.json) and gtest-safe names for them.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/generator.h"

namespace kiln::test {

inline std::vector<std::string> fixture_dirs(const std::string& family) {
  namespace fs = std::filesystem;
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(fs::path(KILN_SOURCE_DIR) / "tests/fixtures" / family))
    if (fs::exists(e.path() / "expected.json")) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

inline std::string test_name(std::string n) {
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

// The generation requests of one expected.json case: its prompts with the model's generation
// defaults, the case's max_new_tokens and repetition_penalty.
inline std::vector<runtime::GenerationRequest> case_requests(const nlohmann::json& c,
                                                             const runtime::SamplingParams& dflt) {
  std::vector<runtime::GenerationRequest> reqs;
  for (const auto& p : c["prompts"]) {
    runtime::GenerationRequest r{p.get<std::vector<int32_t>>(), dflt};
    r.params.max_new_tokens = c["max_new_tokens"].get<int64_t>();
    r.params.repetition_penalty = c.value("repetition_penalty", 1.0);
    reqs.push_back(r);
  }
  return reqs;
}

// Encoder–decoder fixtures (tools/make_encdec_fixtures.py) write HF generate kwargs of a case in
// "generation"; this sets them on p. Throws on a kwarg it does not know.
inline void apply_hf_generation_kwargs(const nlohmann::json& g, runtime::SamplingParams& p) {
  const auto id_or_none = [](const nlohmann::json& v) { return v.is_null() ? -1 : v.get<int32_t>(); };
  for (const auto& [key, v] : g.items()) {
    if (key == "no_repeat_ngram_size") {
      p.no_repeat_ngram_size = v.get<int64_t>();
    } else if (key == "min_length") {
      p.min_length = v.get<int64_t>();
    } else if (key == "max_length") {
      p.max_length = v.get<int64_t>();
    } else if (key == "forced_bos_token_id") {
      p.forced_bos_token_id = id_or_none(v);
    } else if (key == "forced_eos_token_id") {
      p.forced_eos_token_ids.clear();
      if (v.is_number()) p.forced_eos_token_ids = {v.get<int32_t>()};
      if (v.is_array()) p.forced_eos_token_ids = v.get<std::vector<int32_t>>();
    } else if (key == "decoder_start_token_id") {
      p.decoder_start_token_id = id_or_none(v);
    } else if (key == "bad_words_ids") {
      p.bad_words_ids = v.get<std::vector<std::vector<int32_t>>>();
    } else {
      throw std::runtime_error("expected.json: unknown generation kwarg '" + key + "'");
    }
  }
}

// The requests of one encoder–decoder expected.json case: prompt = the encoder input; the
// model's generation defaults, then the case's max_new_tokens (null: HF's max_length rule, which
// counts the decoder start token), repetition_penalty and "generation" kwargs. Cases without
// num_beams are greedy (num_beams 1: some generation configs default to beams); beam cases set
// their beam fields unless "use_defaults" (HF ran with generation_config.json's).
inline std::vector<runtime::GenerationRequest> encdec_case_requests(
    const nlohmann::json& c, const runtime::SamplingParams& dflt) {
  runtime::SamplingParams p = dflt;
  p.max_new_tokens = c["max_new_tokens"].is_null() ? -1 : c["max_new_tokens"].get<int64_t>();
  p.repetition_penalty = c.value("repetition_penalty", 1.0);
  if (c.contains("generation")) apply_hf_generation_kwargs(c["generation"], p);
  if (!c.contains("num_beams")) {
    p.num_beams = 1;
    p.num_return_sequences = 1;
  } else if (!c.value("use_defaults", false)) {
    p.num_beams = c["num_beams"].get<int>();
    p.length_penalty = c["length_penalty"].get<float>();
    const auto& es = c["early_stopping"];
    p.early_stopping = es.is_string() ? 2 : (es.get<bool>() ? 1 : 0);
    p.num_return_sequences = c["num_return_sequences"].get<int>();
  }
  std::vector<runtime::GenerationRequest> reqs;
  for (const auto& prompt : c["prompts"])
    reqs.push_back({prompt.get<std::vector<int32_t>>(), p, {}});
  return reqs;
}

// ‖a − b‖ / ‖b‖.
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t j = 0; j < b.size(); ++j) {
    num += std::pow(double(a[j]) - b[j], 2);
    den += double(b[j]) * b[j];
  }
  return std::sqrt(num / den);
}

}  // namespace kiln::test
