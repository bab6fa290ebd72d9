#include <gtest/gtest.h>

#include "chat/jinja/template.h"

namespace kiln::chat::jinja {
namespace {

std::string R(const std::string& src, Dict ctx = {}) { return Template(src).render(ctx); }

TEST(ChatJinja, Smoke) { EXPECT_EQ(R("a{{ 1 + 2 }}b"), "a3b"); }

}  // namespace
}  // namespace kiln::chat::jinja
