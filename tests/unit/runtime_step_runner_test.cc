// decode_key_bound: the key bound a decode graph is captured for (one graph per bound).
#include <gtest/gtest.h>

#include "core/check.h"
#include "runtime/step_runner.h"

namespace kiln::runtime {
namespace {

TEST(DecodeKeyBound, PowersOfTwoFromTheMinimumCappedByTheTable) {
  EXPECT_EQ(decode_key_bound(1, 2304), kMinKeyBound);
  EXPECT_EQ(decode_key_bound(kMinKeyBound, 2304), kMinKeyBound);
  EXPECT_EQ(decode_key_bound(kMinKeyBound + 1, 2304), 2 * kMinKeyBound);
  EXPECT_EQ(decode_key_bound(1000, 2304), 1024);
  EXPECT_EQ(decode_key_bound(1025, 2304), 2048);
  EXPECT_EQ(decode_key_bound(2049, 2304), 2304);  // the table's capacity, not 4096
  EXPECT_EQ(decode_key_bound(2304, 2304), 2304);
  EXPECT_EQ(decode_key_bound(10, 64), 64);  // a table smaller than the minimum bound
}

TEST(DecodeKeyBound, RefusesMoreKeysThanTheTableHolds) {
  EXPECT_THROW(decode_key_bound(65, 64), Error);
}

}  // namespace
}  // namespace kiln::runtime
