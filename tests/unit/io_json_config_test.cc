// JsonConfig: typed getters never coerce across JSON kinds; errors name file and key.
#include <gtest/gtest.h>

#include "io/json_config.h"
#include "io_test_util.h"

namespace kiln::io {
namespace {

JsonConfig cfg() {
  return JsonConfig::from_json(nlohmann::json::parse(R"({
    "n_embd": 768, "n_layer": 12, "big": 9000000000, "neg": -3, "huge": 18446744073709551615,
    "eps": 1e-5, "theta": 10000, "ratio": 0.5, "whole_float": 2.0, "vast": 1e300,
    "flag": true, "name": "gpt2", "null_key": null,
    "ids": [1, 2, 3], "mixed": [1, "x"], "floats": [1.0],
    "eos_int": 50256, "eos_list": [1, 2], "eos_bad": "x",
    "text_config": {"hidden_size": 32}
  })"),
                               "config.json");
}

TEST(JsonConfig, TypedGetters) {
  JsonConfig c = cfg();
  EXPECT_EQ(c.source(), "config.json");
  EXPECT_EQ(c.get<int64_t>("n_embd"), 768);
  EXPECT_EQ(c.get<int>("n_layer"), 12);
  EXPECT_EQ(c.get<int64_t>("big"), 9000000000);
  EXPECT_EQ(c.get<int>("neg"), -3);
  EXPECT_DOUBLE_EQ(c.get<double>("eps"), 1e-5);
  EXPECT_FLOAT_EQ(c.get<float>("eps"), 1e-5f);
  EXPECT_DOUBLE_EQ(c.get<double>("theta"), 10000.0);  // an integer is a fine double
  EXPECT_DOUBLE_EQ(c.get<double>("vast"), 1e300);
  EXPECT_TRUE(c.get<bool>("flag"));
  EXPECT_EQ(c.get<std::string>("name"), "gpt2");
  EXPECT_EQ(c.get<std::vector<int64_t>>("ids"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(c.get<std::vector<int>>("ids"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(c.json()["n_embd"], 768);
}

TEST(JsonConfig, HasAndDefaults) {
  JsonConfig c = cfg();
  EXPECT_TRUE(c.has("n_embd"));
  EXPECT_FALSE(c.has("null_key"));
  EXPECT_FALSE(c.has("absent"));
  EXPECT_EQ(c.get_or<int>("absent", 7), 7);
  EXPECT_EQ(c.get_or<int>("null_key", 7), 7);
  EXPECT_EQ(c.get_or<int>("n_layer", 7), 12);
  EXPECT_EQ(c.get_or("absent", 0.25), 0.25);
  EXPECT_EQ(c.get_or("absent", "gelu"), "gelu");
  EXPECT_EQ(c.get_or("name", "x"), "gpt2");
  EXPECT_EQ(c.get_or("absent", true), true);
  EXPECT_EQ(c.get_or<std::vector<int>>("absent", {4}), (std::vector<int>{4}));
  EXPECT_KILN_ERROR(c.get_or<int>("name", 1), "config.json: 'name' must be an integer, got string");
}

TEST(JsonConfig, StrictTypeErrors) {
  JsonConfig c = cfg();
  EXPECT_KILN_ERROR(c.get<int64_t>("name"), "config.json: 'name' must be an integer, got string");
  EXPECT_KILN_ERROR(c.get<int64_t>("absent"), "config.json: missing required key 'absent'");
  EXPECT_KILN_ERROR(c.get<int>("null_key"), "'null_key' must be an integer, got null");
  EXPECT_KILN_ERROR(c.get<int>("ratio"), "'ratio' must be an integer, got float 0.5");
  EXPECT_KILN_ERROR(c.get<int>("whole_float"), "'whole_float' must be an integer, got float");
  EXPECT_KILN_ERROR(c.get<int64_t>("eps"), "must be an integer, got float");
  EXPECT_KILN_ERROR(c.get<int>("flag"), "'flag' must be an integer, got boolean");
  EXPECT_KILN_ERROR(c.get<double>("flag"), "'flag' must be a number, got boolean");
  EXPECT_KILN_ERROR(c.get<double>("name"), "'name' must be a number, got string");
  EXPECT_KILN_ERROR(c.get<int>("big"), "'big' = 9000000000 does not fit in a 32-bit integer");
  EXPECT_KILN_ERROR(c.get<int64_t>("huge"), "'huge' must be an integer, got integer",
                    "out of range");
  EXPECT_KILN_ERROR(c.get<float>("vast"), "out of range for a 32-bit float");
  EXPECT_KILN_ERROR(c.get<bool>("n_embd"), "'n_embd' must be a boolean, got integer");
  EXPECT_KILN_ERROR(c.get<std::string>("n_embd"), "'n_embd' must be a string, got integer");
  EXPECT_KILN_ERROR(c.get<std::vector<int>>("n_embd"), "must be a list of integers, got integer");
  EXPECT_KILN_ERROR(c.get<std::vector<int64_t>>("mixed"),
                    "'mixed'[1] must be an integer, got string");
  EXPECT_KILN_ERROR(c.get<std::vector<int>>("floats"), "'floats'[0] must be an integer, got float");
}

TEST(JsonConfig, IntOrListAndSub) {
  JsonConfig c = cfg();
  EXPECT_EQ(c.get_int_or_list("eos_int"), (std::vector<int64_t>{50256}));
  EXPECT_EQ(c.get_int_or_list("eos_list"), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(c.get_int_or_list("absent").empty());
  EXPECT_TRUE(c.get_int_or_list("null_key").empty());
  EXPECT_KILN_ERROR(c.get_int_or_list("eos_bad"), "'eos_bad' must be an integer or a list");
  EXPECT_KILN_ERROR(c.get_int_or_list("mixed"), "'mixed'[1] must be an integer");
  JsonConfig t = c.sub("text_config");
  EXPECT_EQ(t.get<int>("hidden_size"), 32);
  EXPECT_KILN_ERROR(t.get<int>("vocab_size"), "config.json:text_config: missing required key");
  EXPECT_KILN_ERROR(c.sub("n_embd"), "'n_embd' must be an object, got integer");
}

TEST(JsonConfig, LoadErrorsNameTheFile) {
  testing::TempDir dir;
  const std::string path = dir.file("config.json");
  testing::write_file(path, "{\n  \"a\": 1,\n  \"b\": \n}");
  EXPECT_KILN_ERROR(JsonConfig::load(path), path, "malformed JSON", "line 4, column 1");
  testing::write_file(path, "[1]");
  EXPECT_KILN_ERROR(JsonConfig::load(path), path, "must be a JSON object, got array");
  testing::write_file(path, "");
  EXPECT_KILN_ERROR(JsonConfig::load(path), path, "malformed JSON");
  EXPECT_KILN_ERROR(JsonConfig::load(dir.file("missing.json")), "cannot open", "missing.json");
  EXPECT_KILN_ERROR(JsonConfig::load(dir.str()), "is a directory");
  testing::write_file(path, R"({"n_embd": "768"})");
  JsonConfig c = JsonConfig::load(path);
  EXPECT_EQ(c.source(), path);
  EXPECT_KILN_ERROR(c.get<int>("n_embd"), path + ": 'n_embd' must be an integer, got string");
  EXPECT_KILN_ERROR(JsonConfig::from_json(nlohmann::json::array(), "x.json"), "x.json");
}

}  // namespace
}  // namespace kiln::io
