#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/check.h"
#include "runtime/output/stop_strings.h"

namespace kiln::runtime {
namespace {

// Everything a client receives for text cut into the given pieces, plus the final state.
struct Streamed {
  std::string out;
  bool stopped = false;
  int stop_index = -1;
};

Streamed run(const std::vector<std::string>& stops, bool include, const std::vector<std::string>& pieces,
        bool check_prefix_of = false, const std::string& final_out = {}) {
  StopStringMatcher m(stops, include);
  Streamed r;
  for (const std::string& p : pieces) {
    const StopStringMatcher::Result res = m.feed(p);
    r.out += res.emit;
    EXPECT_EQ(res.output_size, r.out.size());
    if (check_prefix_of) EXPECT_TRUE(final_out.starts_with(r.out)) << r.out;  // nothing is recut
    if (res.stopped) {
      r.stopped = true;
      r.stop_index = res.stop_index;
    }
  }
  if (!r.stopped) r.out += m.flush();
  return r;
}

// Reference: cut the whole text at the stop string that ends first.
Streamed reference(const std::vector<std::string>& stops, bool include, const std::string& text) {
  Streamed r;
  size_t best_end = std::string::npos, best_start = 0;
  for (size_t i = 0; i < stops.size(); ++i) {
    const size_t pos = text.find(stops[i]);
    if (pos == std::string::npos) continue;
    const size_t end = pos + stops[i].size();
    if (end < best_end || (end == best_end && pos < best_start)) {
      best_end = end;
      best_start = pos;
      r.stop_index = static_cast<int>(i);
    }
  }
  r.stopped = best_end != std::string::npos;
  r.out = r.stopped ? text.substr(0, include ? best_end : best_start) : text;
  return r;
}

TEST(StopStrings, MatchSpanningFeedsIsCutAndNeverShownInPart) {
  StopStringMatcher m({"world"});
  auto a = m.feed("Hello wor");
  EXPECT_EQ(a.emit, "Hello ");  // "wor" may start the stop string: held back
  EXPECT_FALSE(a.stopped);
  auto b = m.feed("ld! more");
  EXPECT_EQ(b.emit, "");
  EXPECT_TRUE(b.stopped);
  EXPECT_EQ(b.stop_index, 0);
  EXPECT_EQ(b.output_size, 6u);
  EXPECT_TRUE(m.feed("ignored").stopped);
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, HeldTailIsReleasedWhenItStopsMatching) {
  StopStringMatcher m({"abc"});
  EXPECT_EQ(m.feed("xab").emit, "x");
  EXPECT_EQ(m.feed("d").emit, "abd");
  EXPECT_EQ(m.feed("a").emit, "");
  EXPECT_EQ(m.flush(), "a");  // stream ended without the stop: the tail is output
}

TEST(StopStrings, IncludeStopStringKeepsItAndHoldsNothing) {
  StopStringMatcher m({"\n\n", "END"}, /*include_stop_str_in_output=*/true);
  EXPECT_EQ(m.feed("one\n").emit, "one\n");
  auto r = m.feed("\ntwo");
  EXPECT_EQ(r.emit, "\n");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 0);
  EXPECT_EQ(r.output_size, 5u);
}

TEST(StopStrings, TheStopThatEndsFirstWins) {
  // "o" ends at 5, before "hello world" completes; among equal ends the longer one is cut.
  EXPECT_EQ(run({"hello world", "o"}, false, {"hello world"}).out, "hell");
  const Streamed r = run({"b", "ab"}, false, {"xab"});
  EXPECT_EQ(r.out, "x");
  EXPECT_EQ(r.stop_index, 1);
  EXPECT_EQ(run({"b", "ab"}, true, {"xab"}).out, "xab");
}

TEST(StopStrings, Utf8StopStrings) {
  const Streamed r = run({"。", "😀"}, false, {"今天", "天气很好", "\xE3\x80\x82", "明天"});
  EXPECT_EQ(r.out, "今天天气很好");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(run({"😀"}, false, {"a😁", "b"}).out, "a😁b");  // shares 3 bytes with the stop
}

TEST(StopStrings, EmptyStopStringIsAnError) {
  EXPECT_THROW(StopStringMatcher({"a", ""}), Error);
  EXPECT_EQ(run({}, false, {"abc", "def"}).out, "abcdef");
}

TEST(StopStrings, RandomTextAnyChunkingMatchesTheReference) {
  std::mt19937_64 rng(11);
  const std::string alphabet = "aab c\n";
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> stops(1 + rng() % 3);
    for (std::string& s : stops)
      for (size_t k = 1 + rng() % 4; k > 0; --k) s += alphabet[rng() % alphabet.size()];
    std::string text;
    for (size_t k = rng() % 30; k > 0; --k) text += alphabet[rng() % alphabet.size()];
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min<size_t>(rng() % 4, text.size() - i);  // empty pieces too
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    for (bool include : {false, true}) {
      const Streamed want = reference(stops, include, text);
      const Streamed got = run(stops, include, pieces, /*check_prefix_of=*/true, want.out);
      ASSERT_EQ(got.out, want.out) << "trial " << trial;
      ASSERT_EQ(got.stopped, want.stopped) << "trial " << trial;
      ASSERT_EQ(got.stop_index, want.stop_index) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace kiln::runtime
