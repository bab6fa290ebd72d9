// switched_off / switched_on: the environment switches read by the A/B knobs.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/env.h"

namespace kiln {
namespace {

TEST(Env, SwitchedOffOnlyOnZeroAndOnOnlyOnOne) {
  const char* name = "KILN_TEST_SWITCH_7F3A";
  ::unsetenv(name);
  EXPECT_FALSE(switched_off(name));
  EXPECT_FALSE(switched_on(name));
  ::setenv(name, "0", 1);
  EXPECT_TRUE(switched_off(name));
  EXPECT_FALSE(switched_on(name));
  ::setenv(name, "1", 1);
  EXPECT_FALSE(switched_off(name));
  EXPECT_TRUE(switched_on(name));
  ::setenv(name, "00", 1);  // exact values only
  EXPECT_FALSE(switched_off(name));
  ::unsetenv(name);
}

}  // namespace
}  // namespace kiln
