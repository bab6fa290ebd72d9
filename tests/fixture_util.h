// Shared by the CPU and GPU parity tests: the HF fixture folders of a family (tests/fixtures/<family>/*
// holding an expected.json) and gtest-safe names for them.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

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

}  // namespace kiln::test
