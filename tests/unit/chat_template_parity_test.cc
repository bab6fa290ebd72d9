// Parity with HF transformers' apply_chat_template: tests/fixtures/chat/cases.json holds real chat
// templates rendered by Python jinja2 the way HF renders them (tools/make_chat_fixtures.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "core/check.h"

namespace kiln::chat {
namespace {

using nlohmann::ordered_json;

const ordered_json& fixture() {
  static const ordered_json f = [] {
    std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/fixtures/chat/cases.json");
    return ordered_json::parse(in);
  }();
  return f;
}

std::string case_name(const ordered_json& c) {
  return c["template"].get<std::string>() + "/" + c["messages"].get<std::string>() +
         (c["add_generation_prompt"].get<bool>() ? "/gen" : "") +
         (c["extra"].empty() ? "" : "/extra");
}

TEST(ChatTemplateParity, FixtureIsThere) {
  ASSERT_GE(fixture()["cases"].size(), 200u);
  ASSERT_GE(fixture()["templates"].size(), 14u);
}

TEST(ChatTemplateParity, MatchesTransformers) {
  const ordered_json& f = fixture();
  int raised = 0, rendered = 0;
  for (const auto& c : f["cases"]) {
    SCOPED_TRACE(case_name(c));
    const std::string name = c["template"];
    const ChatTemplate tmpl(f["templates"][name].get<std::string>(),
                            nlohmann::json(f["special_tokens"][name]));
    const ordered_json& messages = f["messages"][c["messages"].get<std::string>()];
    const bool agp = c["add_generation_prompt"];
    if (c.contains("expected")) {
      std::string out;
      EXPECT_NO_THROW(out = tmpl.render(messages, agp, c["extra"]));
      EXPECT_EQ(out, c["expected"].get<std::string>());
      ++rendered;
    } else if (c.contains("error")) {
      try {
        tmpl.render(messages, agp, c["extra"]);
        ADD_FAILURE() << "expected raise_exception: " << c["error"];
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), c["error"].get<std::string>());
      }
      ++raised;
    } else {
      EXPECT_THROW(tmpl.render(messages, agp, c["extra"]), Error);
    }
  }
  EXPECT_GT(raised, 10);
  EXPECT_GT(rendered, 200);
}

}  // namespace
}  // namespace kiln::chat
