// Shared by the CPU and GPU parity tests: the HF fixture folders of a family (tests/fixtures/<family>/*
// holding an expected.json) and gtest-safe names for them.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
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
