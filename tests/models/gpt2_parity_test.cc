// GPT-2 parity with Hugging Face on the seeded fixtures (tools/make_fixtures.py): first-step logits
// within 1e-4 relative, greedy tokens exact — alone, packed together, with chunked prefill and with
// other KV block sizes (all must give the same tokens).
#include <gtest/gtest.h>

#include "family_parity.h"

namespace kiln {
namespace {

class Gpt2Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2Parity, LogitsAndGreedyTokens) { test::check_logits_and_greedy(GetParam(), "gpt2"); }

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2Parity, ::testing::ValuesIn(test::fixture_dirs("gpt2")),
                         test::fixture_name);

}  // namespace
}  // namespace kiln
