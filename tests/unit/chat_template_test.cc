// ChatTemplate: finding the template in a model folder (tokenizer_config.json or
// chat_template.jinja), the special tokens, and the context HF builds around the messages.
#include "chat/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/check.h"

namespace kiln::chat {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

class ChatTemplateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("kiln_chat_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  std::string error_of_load() {
    try {
      ChatTemplate::from_model_dir(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

const json kHi = json::array({{{"role", "user"}, {"content", "hi"}}});

TEST_F(ChatTemplateDir, StringTemplateWithSpecialTokens) {
  write("tokenizer_config.json",
        json{{"chat_template",
              "{{ bos_token }}{% for m in messages %}[{{ m.content }}]"
              "{% endfor %}{{ eos_token }}{{ unk_token }}{{ pad_token }}"},
             {"bos_token", "<s>"},
             {"eos_token", {{"content", "</s>"}, {"lstrip", false}, {"special", true}}},
             {"unk_token", nullptr}}
            .dump());
  const auto t = ChatTemplate::from_model_dir(dir_.string());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->render(kHi, false),
            "<s>[hi]</s>");  // null unk_token and absent pad_token: undefined
}

TEST_F(ChatTemplateDir, ListOfNamedTemplatesUsesDefault) {
  write("tokenizer_config.json",
        json{{"chat_template", json::array({{{"name", "tool_use"}, {"template", "tools"}},
                                            {{"name", "default"}, {"template", "plain"}}})}}
            .dump());
  const auto t = ChatTemplate::from_model_dir(dir_.string());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->render(kHi, false), "plain");
}

TEST_F(ChatTemplateDir, ListWithoutDefaultIsAnError) {
  write("tokenizer_config.json",
        json{{"chat_template", json::array({{{"name", "rag"}, {"template", "x"}}})}}.dump());
  EXPECT_NE(error_of_load().find("none is named \"default\""), std::string::npos)
      << error_of_load();
}

TEST_F(ChatTemplateDir, JinjaFileWinsOverTokenizerConfig) {
  write("tokenizer_config.json",
        json{{"chat_template", "from config"}, {"bos_token", "<s>"}}.dump());
  write("chat_template.jinja", "from file {{ bos_token }}\n");
  const auto t = ChatTemplate::from_model_dir(dir_.string());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->render(kHi, true), "from file <s>");
}

TEST_F(ChatTemplateDir, JinjaFileAlone) {
  write("chat_template.jinja", "{{ messages[0].content }}");
  const auto t = ChatTemplate::from_model_dir(dir_.string());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->render(kHi, true), "hi");
}

TEST_F(ChatTemplateDir, NoTemplateIsNullopt) {
  EXPECT_FALSE(ChatTemplate::from_model_dir(dir_.string()).has_value());
  write("tokenizer_config.json", json{{"bos_token", "<s>"}}.dump());
  EXPECT_FALSE(ChatTemplate::from_model_dir(dir_.string()).has_value());
  write("tokenizer_config.json", json{{"chat_template", nullptr}}.dump());
  EXPECT_FALSE(ChatTemplate::from_model_dir(dir_.string()).has_value());
}

TEST_F(ChatTemplateDir, MalformedJsonIsAnError) {
  write("tokenizer_config.json", "{\"chat_template\": \"x\",");
  const std::string err = error_of_load();
  EXPECT_NE(err.find("tokenizer_config.json is not valid JSON"), std::string::npos) << err;
}

TEST_F(ChatTemplateDir, WrongTypesAreErrors) {
  write("tokenizer_config.json", json{{"chat_template", 5}}.dump());
  EXPECT_NE(error_of_load().find("chat_template must be a string or a list"), std::string::npos)
      << error_of_load();
  write("tokenizer_config.json", json{{"chat_template", json::array({"bare string"})}}.dump());
  EXPECT_NE(error_of_load().find("each chat_template entry"), std::string::npos) << error_of_load();
  write("tokenizer_config.json", json{{"chat_template", "x"}, {"bos_token", 3}}.dump());
  EXPECT_NE(error_of_load().find("bos_token must be a string or an object"), std::string::npos)
      << error_of_load();
  write("tokenizer_config.json", "[1, 2]");
  EXPECT_NE(error_of_load().find("must hold a JSON object"), std::string::npos) << error_of_load();
}

TEST_F(ChatTemplateDir, TemplateSyntaxErrorIsReportedOnLoad) {
  write("chat_template.jinja",
        "ok\n{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}");
  EXPECT_EQ(error_of_load(), "chat template line 2: unknown filter 'nosuchfilter'");
}

TEST(ChatTemplate, ContextAsHfBuildsIt) {
  const ChatTemplate t(
      "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ bos_token }} {{ "
      "custom }} "
      "{% for m in messages %}{{ m.keys()|list }};{% endfor %}",
      json{{"bos_token", "<s>"}});
  const json messages =
      json::array({{{"role", "user"}, {"content", "q"}, {"name", nullptr}},
                   {{"role", "assistant"}, {"content", "a"}, {"reasoning", "why"}}});
  // None-valued keys are dropped; reasoning shows up as `thinking` and `reasoning_content` too.
  EXPECT_EQ(t.render(messages, true, json{{"custom", 7}}),
            "True True True <s> 7 ['content', 'role'];['thinking', 'content', 'reasoning', 'role', "
            "'reasoning_content'];");
  EXPECT_EQ(t.render(messages, false, json{{"bos_token", "<override>"}, {"tools", json::array()}}),
            "False True False <override>  ['content', 'role'];['thinking', 'content', 'reasoning', "
            "'role', "
            "'reasoning_content'];");
}

TEST(ChatTemplate, OrderedJsonKeepsKeyOrder) {
  const ChatTemplate t("{{ tools[0]|tojson }}", json::object());
  const auto tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  EXPECT_EQ(t.render(ordered_json::array(), false, ordered_json{{"tools", tools}}),
            "{\"type\": \"function\", \"function\": {\"name\": \"f\"}}");
  // nlohmann::json sorts keys.
  EXPECT_EQ(t.render(json::array(), false, json{{"tools", json(tools)}}),
            "{\"function\": {\"name\": \"f\"}, \"type\": \"function\"}");
}

TEST(ChatTemplate, BadInputsAreErrors) {
  const ChatTemplate t("x", json::object());
  EXPECT_THROW(t.render(json::object(), false), Error);
  EXPECT_THROW(t.render(json::array({"not an object"}), false), Error);
  EXPECT_THROW(t.render(json::array(), false, json::array()), Error);
  EXPECT_THROW(ChatTemplate("{% if %}", json::object()), Error);
}

TEST(ChatTemplate, RaiseExceptionMessageReachesTheCaller) {
  const ChatTemplate t(
      "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}"
      "{% endif %}ok",
      json::object());
  EXPECT_EQ(t.render(kHi, false), "ok");
  try {
    t.render(json::array({{{"role", "system"}, {"content", "s"}}}), false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "System role not supported");
  }
}

}  // namespace
}  // namespace kiln::chat
