// The GPU sampler's min_new_tokens mask is built on the host (runtime::banned_end_ids): it must
// ban what the host processors ban (SamplingParams::end_ids: eos unless ignore_eos, then
// stop_token_ids) for exactly the rows still under min_new_tokens, and requests with more end
// ids than the device mask holds must take the host sampler.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/device_step.h"

namespace kiln::runtime {
namespace {

Sequence seq(int generated, int64_t min_new, std::vector<int32_t> eos, std::vector<int32_t> stop,
             bool ignore_eos) {
  Sequence s;
  s.tokens = {5, 6, 7};
  s.prompt_len = 3;
  for (int i = 0; i < generated; ++i) s.tokens.push_back(9);
  s.params.min_new_tokens = min_new;
  s.params.eos_token_ids = std::move(eos);
  s.params.stop_token_ids = std::move(stop);
  s.params.ignore_eos = ignore_eos;
  return s;
}

TEST(DeviceStepMask, BansTheHostProcessorsEndIdsWhileUnderMinNewTokens) {
  const Sequence a = seq(0, 2, {50256}, {13, 198}, false);  // eos then stop ids
  const Sequence b = seq(2, 2, {50256}, {13}, false);       // reached min_new_tokens: none
  const Sequence c = seq(1, 4, {2, 3}, {7}, true);          // ignore_eos: stop ids only
  const Sequence d = seq(0, 0, {1}, {}, false);             // no minimum
  int64_t width = 0;
  const std::vector<int32_t> m = banned_end_ids({&a, &b, &c, &d}, &width);
  ASSERT_EQ(width, 3);
  EXPECT_EQ(m, (std::vector<int32_t>{50256, 13, 198, -1, -1, -1, 7, -1, -1, -1, -1, -1}));
  // Row for row what the host processors ban (end_ids) while under the minimum.
  EXPECT_EQ(a.params.end_ids(), (std::vector<int32_t>{50256, 13, 198}));
  EXPECT_EQ(c.params.end_ids(), (std::vector<int32_t>{7}));
  int64_t w0 = 0;
  EXPECT_EQ(banned_end_ids({&d}, &w0), (std::vector<int32_t>{-1}));
  EXPECT_EQ(w0, 1);
}

TEST(DeviceStepMask, TooManyEndIdsGoToTheHostSampler) {
  SamplingParams p;
  p.eos_token_ids = {1};
  for (int i = 0; i < DeviceStep::kMaxEndIds; ++i) p.stop_token_ids.push_back(100 + i);
  EXPECT_TRUE(DeviceStep::can_ban_end_ids(p)) << "no min_new_tokens: nothing to ban";
  p.min_new_tokens = 3;
  EXPECT_FALSE(DeviceStep::can_ban_end_ids(p)) << "17 end ids";
  p.ignore_eos = true;
  EXPECT_TRUE(DeviceStep::can_ban_end_ids(p)) << "16 stop ids";
}

}  // namespace
}  // namespace kiln::runtime
