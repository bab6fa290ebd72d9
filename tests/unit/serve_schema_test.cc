#include <gtest/gtest.h>

#include "serve/api_error.h"
#include "serve/openai_schema.h"

namespace kiln::serve {
namespace {

using nlohmann::json;

ModelContext model() {
  ModelContext m;
  m.served_name = "tiny";
  m.vocab_size = 1000;
  m.max_positions = 64;
  m.has_tokenizer = true;
  return m;
}

std::vector<int32_t> fake_encode(const std::string& text, bool add_special) {
  std::vector<int32_t> ids;
  if (add_special) ids.push_back(1);
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

GenerationPlan completion(const json& body, ModelContext m = model()) {
  return parse_completion_request(body, m, fake_encode);
}

// The status and `param` of the ApiError that parsing `body` throws.
std::pair<int, std::string> completion_error(const json& body, ModelContext m = model()) {
  try {
    completion(body, m);
  } catch (const ApiError& e) {
    return {e.status(), e.param().value_or("") + ": " + e.what()};
  }
  return {0, "no error"};
}

#define EXPECT_REJECTED(body, param)                                  \
  do {                                                                \
    auto [status, what] = completion_error(body);                     \
    EXPECT_EQ(status, 400) << what;                                   \
    EXPECT_EQ(what.rfind(std::string(param) + ":", 0), 0u) << what;   \
  } while (0)

TEST(ServeSchema, CompletionDefaultsAreOpenAis) {
  const auto p = completion({{"prompt", "hi"}});
  ASSERT_EQ(p.prompts.size(), 1u);
  EXPECT_EQ(p.prompts[0], (std::vector<int32_t>{1, 'h', 'i'}));
  const auto& s = p.request.sampling;
  EXPECT_EQ(s.max_new_tokens, 16);
  EXPECT_EQ(s.do_sample, true);
  EXPECT_EQ(s.temperature, 1.f);
  EXPECT_EQ(s.top_p, 1.f);
  EXPECT_EQ(s.top_k, 0);
  EXPECT_EQ(s.min_p, 0.f);
  EXPECT_EQ(s.repetition_penalty, 1.f);
  EXPECT_EQ(s.presence_penalty, 0.f);
  EXPECT_EQ(s.frequency_penalty, 0.f);
  EXPECT_EQ(s.n, 1);
  EXPECT_EQ(s.logprobs, -1);
  EXPECT_FALSE(s.num_beams);
  EXPECT_FALSE(p.stream);
  EXPECT_EQ(p.model, "tiny");
  EXPECT_TRUE(p.request.detokenize);
  EXPECT_TRUE(p.request.skip_special_tokens);
}

TEST(ServeSchema, CompletionFieldsMapOntoSamplingOptions) {
  const auto p = completion({{"model", "tiny"},
                             {"prompt", {5, 6, 7}},
                             {"max_tokens", 9},
                             {"temperature", 0.5},
                             {"top_p", 0.9},
                             {"top_k", 40},
                             {"min_p", 0.05},
                             {"n", 3},
                             {"best_of", 3},
                             {"stop", "\n"},
                             {"stop_token_ids", {2, 3}},
                             {"seed", 42},
                             {"presence_penalty", 0.5},
                             {"frequency_penalty", -0.5},
                             {"repetition_penalty", 1.2},
                             {"logprobs", 2},
                             {"stream", true},
                             {"stream_options", {{"include_usage", true}}},
                             {"ignore_eos", true},
                             {"min_tokens", 4},
                             {"skip_special_tokens", false},
                             {"include_stop_str_in_output", true},
                             {"user", "me"},
                             {"logit_bias", json::object()},
                             {"return_token_ids", true}});
  EXPECT_EQ(p.prompts[0], (std::vector<int32_t>{5, 6, 7}));
  const auto& s = p.request.sampling;
  EXPECT_EQ(s.max_new_tokens, 9);
  EXPECT_EQ(s.min_new_tokens, 4);
  EXPECT_EQ(s.do_sample, true);
  EXPECT_FLOAT_EQ(*s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*s.top_p, 0.9f);
  EXPECT_EQ(s.top_k, 40);
  EXPECT_FLOAT_EQ(*s.min_p, 0.05f);
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(p.choices_per_prompt, 3);
  EXPECT_EQ(s.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(s.stop_token_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(s.seed, 42u);
  EXPECT_FLOAT_EQ(*s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(*s.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(*s.repetition_penalty, 1.2f);
  EXPECT_EQ(s.logprobs, 2);
  EXPECT_EQ(p.logprobs, 2);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_TRUE(s.include_stop_str_in_output);
  EXPECT_FALSE(p.request.skip_special_tokens);
  EXPECT_TRUE(p.return_token_ids);
}

TEST(ServeSchema, TemperatureZeroIsGreedy) {
  const auto p = completion({{"prompt", "x"}, {"temperature", 0}});
  EXPECT_EQ(p.request.sampling.do_sample, false);
}

TEST(ServeSchema, PromptForms) {
  EXPECT_EQ(completion({{"prompt", {"ab"}}}).prompts,
            (std::vector<std::vector<int32_t>>{{1, 'a', 'b'}}));
  EXPECT_EQ(completion({{"prompt", {"a", "b"}}}).prompts.size(), 2u);
  EXPECT_EQ(completion({{"prompt", {{1, 2}, {3}}}}).prompts,
            (std::vector<std::vector<int32_t>>{{1, 2}, {3}}));
  EXPECT_REJECTED(json({{"prompt", {7.0, 8}}}), "prompt");  // ids are integers
}

TEST(ServeSchema, BeamSearch) {
  auto p = completion({{"prompt", "x"}, {"use_beam_search", true}, {"n", 2}, {"best_of", 4},
                       {"length_penalty", 0.8}, {"early_stopping", "never"}});
  const auto& s = p.request.sampling;
  EXPECT_EQ(s.num_beams, 4);
  EXPECT_EQ(s.num_return_sequences, 2);
  EXPECT_EQ(s.do_sample, false);
  EXPECT_FLOAT_EQ(*s.length_penalty, 0.8f);
  EXPECT_EQ(s.early_stopping, EarlyStopping::kNever);
  EXPECT_EQ(p.choices_per_prompt, 2);
  p = completion({{"prompt", "x"}, {"num_beams", 3}, {"early_stopping", true}});
  EXPECT_EQ(p.request.sampling.num_beams, 3);
  EXPECT_EQ(p.request.sampling.num_return_sequences, 1);
  EXPECT_EQ(p.request.sampling.early_stopping, EarlyStopping::kTrue);
  p = completion({{"prompt", "x"}, {"use_beam_search", true}, {"n", 3}});
  EXPECT_EQ(p.request.sampling.num_beams, 3);
}

TEST(ServeSchema, RejectsBadInput) {
  EXPECT_REJECTED(json({{"prompt", "x"}, {"bogus", 1}}), "bogus");
  EXPECT_REJECTED(json::object(), "prompt");
  EXPECT_REJECTED(json({{"prompt", 5}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", json::array()}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", {1, "a"}}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", {{1}, 2}}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", {{1}, json::array()}}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", {1, 1000}}}), "prompt");  // out of vocabulary
  EXPECT_REJECTED(json({{"prompt", {-1}}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", {1.5}}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"max_tokens", -1}}), "max_tokens");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"max_tokens", 0}}), "max_tokens");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"max_tokens", "8"}}), "max_tokens");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"max_tokens", 1.5}}), "max_tokens");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"temperature", -0.1}}), "temperature");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"temperature", "hot"}}), "temperature");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"top_p", 0}}), "top_p");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"top_p", 1.5}}), "top_p");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"top_k", -2}}), "top_k");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"min_p", 2}}), "min_p");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"n", 0}}), "n");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"n", 1000}}), "n");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"best_of", 3}}), "best_of");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stop", 3}}), "stop");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stop", {"a", 3}}}), "stop");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stop_token_ids", {5000}}}), "stop_token_ids");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stop_token_ids", 5}}), "stop_token_ids");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"presence_penalty", 3}}), "presence_penalty");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"frequency_penalty", -3}}), "frequency_penalty");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"repetition_penalty", 0}}), "repetition_penalty");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"logprobs", 21}}), "logprobs");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"logprobs", true}}), "logprobs");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"echo", true}, {"logprobs", 1}}), "echo");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stream", "yes"}}), "stream");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stream_options", {{"include_usage", true}}}}),
                  "stream_options");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"stream", true}, {"stream_options", {{"x", 1}}}}),
                  "stream_options");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"min_tokens", 20}}), "min_tokens");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"min_tokens", -1}}), "min_tokens");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"num_beams", 0}}), "num_beams");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"num_beams", 2}, {"n", 3}}), "n");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"early_stopping", "sometimes"}}), "early_stopping");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"logit_bias", {{"5", 1}}}}), "logit_bias");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"suffix", "tail"}}), "suffix");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"seed", "s"}}), "seed");
  EXPECT_REJECTED(json({{"prompt", "x"}, {"ignore_eos", 1}}), "ignore_eos");
  // prompt + max_tokens beyond the context (64)
  EXPECT_REJECTED(json({{"prompt", std::vector<int>(60, 5)}, {"max_tokens", 5}}), "prompt");
  EXPECT_REJECTED(json({{"prompt", std::vector<int>(64, 5)}}), "prompt");
  // a wrong model name is 404
  EXPECT_EQ(completion_error({{"prompt", "x"}, {"model", "other"}}).first, 404);
  // text without a tokenizer
  ModelContext no_tok = model();
  no_tok.has_tokenizer = false;
  EXPECT_EQ(completion_error({{"prompt", "x"}}, no_tok).first, 400);
  EXPECT_EQ(completion({{"prompt", {1, 2}}}, no_tok).request.detokenize, false);
}

TEST(ServeSchema, JsonBody) {
  EXPECT_THROW(parse_json_body("{"), ApiError);
  EXPECT_THROW(parse_json_body("[1]"), ApiError);
  EXPECT_THROW(parse_json_body(""), ApiError);
  EXPECT_EQ(parse_json_body("{\"a\": 1}")["a"], 1);
}

TEST(ServeSchema, ErrorBodyShape) {
  const json b = error_body(bad_request("bad n", "n"));
  EXPECT_EQ(b, json::parse(R"({"error": {"message": "bad n", "type": "invalid_request_error",
                                          "param": "n", "code": null}})"));
  const json q = error_body(ApiError(429, "full", std::nullopt, "rate_limit_exceeded"));
  EXPECT_EQ(q["error"]["type"], "rate_limit_exceeded");
  EXPECT_TRUE(q["error"]["param"].is_null());
}

ChatRenderer test_renderer() {
  return [](const json& messages, bool add_generation_prompt, const json& extra) {
    std::string s;
    for (const auto& m : messages) {
      if (m["role"] == "bad") throw std::runtime_error("roles must alternate");
      s += "<" + m["role"].get<std::string>() + ">" + m["content"].get<std::string>();
    }
    if (add_generation_prompt) s += "<assistant>";
    if (extra.contains("x")) s += extra["x"].get<std::string>();
    return s;
  };
}

TEST(ServeSchema, ChatRendersWithoutAddingSpecialTokens) {
  const ChatRenderer r = test_renderer();
  const auto p = parse_chat_request(
      {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_completion_tokens", 3},
       {"logprobs", true}, {"top_logprobs", 2}},
      model(), fake_encode, &r);
  const std::string expected = "<user>hi<assistant>";
  ASSERT_EQ(p.prompts[0].size(), expected.size());  // no BOS
  EXPECT_EQ(p.prompts[0][0], '<');
  EXPECT_EQ(p.request.sampling.max_new_tokens, 3);
  EXPECT_EQ(p.logprobs, 2);
  EXPECT_EQ(p.endpoint, Endpoint::kChat);
  // content parts, chat_template_kwargs, default max_tokens = the rest of the context
  const auto q = parse_chat_request(
      {{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}}}}}}},
       {"chat_template_kwargs", {{"x", "!"}}}, {"add_generation_prompt", false}},
      model(), fake_encode, &r);
  EXPECT_EQ(q.prompts[0].size(), std::string("<user>a!").size());
  EXPECT_EQ(q.request.sampling.max_new_tokens, 64 - 8);
}

TEST(ServeSchema, ChatErrors) {
  const ChatRenderer r = test_renderer();
  auto status = [&](const json& body, const ChatRenderer* renderer) {
    try {
      parse_chat_request(body, model(), fake_encode, renderer);
    } catch (const ApiError& e) {
      return e.status();
    }
    return 0;
  };
  const json ok = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  EXPECT_EQ(status(ok, &r), 0);
  EXPECT_EQ(status(ok, nullptr), 400);  // no template
  EXPECT_EQ(status({{"messages", json::array()}}, &r), 400);
  EXPECT_EQ(status({{"messages", "hi"}}, &r), 400);
  EXPECT_EQ(status({{"messages", {{{"content", "hi"}}}}}, &r), 400);
  EXPECT_EQ(status({{"messages", {{{"role", "user"}, {"content", 5}}}}}, &r), 400);
  EXPECT_EQ(status({{"messages", {{{"role", "bad"}, {"content", "x"}}}}}, &r), 400);
  EXPECT_EQ(status({{"messages", ok["messages"]}, {"prompt", "x"}}, &r), 400);
  EXPECT_EQ(status({{"messages", ok["messages"]}, {"echo", true}}, &r), 400);  // completions only
  EXPECT_EQ(status({{"messages", ok["messages"]}, {"top_logprobs", 2}}, &r), 400);
  EXPECT_EQ(status({{"messages", ok["messages"]}, {"logprobs", 3}}, &r), 400);
  EXPECT_EQ(status({{"messages", ok["messages"]}, {"max_tokens", 100}}, &r), 400);
  EXPECT_EQ(status({{"messages", {{{"role", "user"}, {"content", std::string(70, 'x')}}}}}, &r),
            400);
}

TEST(ServeSchema, AcceptedFieldsListedOnce) {
  for (Endpoint e : {Endpoint::kCompletions, Endpoint::kChat}) {
    auto f = accepted_fields(e);
    std::sort(f.begin(), f.end());
    EXPECT_EQ(std::adjacent_find(f.begin(), f.end()), f.end());
  }
}

std::string token_text(int32_t id, int32_t) { return std::string(1, static_cast<char>(id)); }

TEST(ServeSchema, CompletionResponseShape) {
  GenerationPlan plan = completion({{"prompt", "ab"}, {"n", 2}, {"logprobs", 1}});
  ChoiceOutput a, b;
  a.text = "xy";
  a.token_ids = {'x', 'y'};
  a.logprobs = {-0.5f, -1.f};
  a.top_logprobs = {{{'z', -0.25f}}, {{'y', -1.f}}};
  a.finish_reason = "length";
  b.text = "q";
  b.token_ids = {'q'};
  b.logprobs = {-2.f};
  b.top_logprobs = {{{'r', -1.f}}};
  b.finish_reason = "stop";
  const json r = completion_response({"cmpl-1", 123, "tiny"}, plan, {a, b}, token_text);
  const json expected = json::parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 123, "model": "tiny",
    "choices": [
      {"index": 0, "text": "xy", "finish_reason": "length",
       "logprobs": {"tokens": ["x", "y"], "token_logprobs": [-0.5, -1.0],
                    "top_logprobs": [{"z": -0.25, "x": -0.5}, {"y": -1.0}],
                    "text_offset": [0, 1]}},
      {"index": 1, "text": "q", "finish_reason": "stop",
       "logprobs": {"tokens": ["q"], "token_logprobs": [-2.0], "top_logprobs": [{"r": -1.0, "q": -2.0}],
                    "text_offset": [0]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})");
  EXPECT_EQ(r, expected) << r.dump(2);
}

TEST(ServeSchema, ChatResponseAndChunkShapes) {
  const ChatRenderer rr = test_renderer();
  GenerationPlan plan =
      parse_chat_request({{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                          {"logprobs", true}, {"top_logprobs", 1}, {"max_tokens", 4},
                          {"stream", true}, {"stream_options", {{"include_usage", true}}}},
                         model(), fake_encode, &rr);
  ChoiceOutput c;
  c.text = "ok";
  c.token_ids = {'o', 'k'};
  c.logprobs = {-1.f, -2.f};
  c.top_logprobs = {{{'o', -1.f}}, {{'j', -0.5f}}};
  c.finish_reason = "stop";
  const json r = chat_response({"chatcmpl-1", 5, "tiny"}, plan, {c}, token_text);
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"], json({{"role", "assistant"}, {"content", "ok"}}));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["choices"][0]["logprobs"]["content"][0],
            json::parse(R"({"token": "o", "logprob": -1.0, "bytes": [111],
                            "top_logprobs": [{"token": "o", "logprob": -1.0, "bytes": [111]}]})"));
  EXPECT_EQ(r["usage"]["completion_tokens"], 2);

  const json role = chat_chunk({"chatcmpl-1", 5, "tiny"}, plan, 0, {}, token_text, true);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role.contains("usage") && role["usage"].is_null());
  const json delta = chat_chunk({"chatcmpl-1", 5, "tiny"}, plan, 0, c, token_text, false);
  EXPECT_EQ(delta["choices"][0]["delta"], json({{"content", "ok"}}));
  EXPECT_EQ(delta["choices"][0]["finish_reason"], "stop");
  const json usage = usage_chunk({"chatcmpl-1", 5, "tiny"}, plan, 7, 2);
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"], json({{"prompt_tokens", 7}, {"completion_tokens", 2},
                                  {"total_tokens", 9}}));
}

TEST(ServeSchema, InvalidUtf8TokensAreReplaced) {
  GenerationPlan plan = completion({{"prompt", "ab"}, {"logprobs", 0}});
  ChoiceOutput c;
  c.token_ids = {0xE2};
  c.logprobs = {-1.f};
  c.top_logprobs = {{}};
  const json lp = completion_logprobs(c, token_text, 0);
  EXPECT_EQ(lp["tokens"][0], "\xEF\xBF\xBD");
  EXPECT_NO_THROW(lp.dump());
}

// Token strings are read after their predecessor (SentencePiece keeps a leading space only
// then), the first one after the delta's prev_token; text_offset counts characters, not bytes.
TEST(ServeSchema, LogprobTokensReadInContextWithCharacterOffsets) {
  // A fake tokenizer: id 1 is "é" (2 bytes), id 2 is "x" alone but " x" after another token.
  const TokenText tt = [](int32_t id, int32_t prev) -> std::string {
    if (id == 1) return "\xC3\xA9";
    return prev >= 0 ? " x" : "x";
  };
  ChoiceOutput c;
  c.token_ids = {2, 1, 2};
  c.logprobs = {-1.f, -1.f, -1.f};
  c.top_logprobs = {{{2, -1.f}}, {{2, -2.f}}, {}};
  json lp = completion_logprobs(c, tt, 0);
  EXPECT_EQ(lp["tokens"], json({"x", "\xC3\xA9", " x"}));
  EXPECT_EQ(lp["text_offset"], json({0, 1, 2}));
  EXPECT_TRUE(lp["top_logprobs"][1].contains(" x"));  // an alternative after token 0
  c.prev_token = 7;                                    // a streamed delta continuing a sequence
  lp = completion_logprobs(c, tt, 10);
  EXPECT_EQ(lp["tokens"][0], " x");
  EXPECT_EQ(lp["text_offset"], json({10, 12, 13}));
  EXPECT_EQ(utf8_chars("a\xC3\xA9\xE2\x82\xAC"), 3);
}

// Encoder–decoder models: the prompt feeds the encoder (its own limit); max_tokens is bounded by
// the decoder's positions after the one start token, whatever the prompt's length.
TEST(ServeSchema, EncoderDecoderLengths) {
  ModelContext m = model();
  m.encoder_decoder = true;
  m.max_encoder_positions = 100;
  const std::vector<int32_t> long_prompt(90, 7);  // longer than the decoder's 64 positions
  EXPECT_EQ(completion({{"prompt", long_prompt}, {"max_tokens", 63}}, m)
                .request.sampling.max_new_tokens,
            63);
  EXPECT_EQ(completion_error({{"prompt", long_prompt}, {"max_tokens", 64}}, m).first, 400);
  const auto [status, what] =
      completion_error({{"prompt", std::vector<int32_t>(101, 7)}, {"max_tokens", 4}}, m);
  EXPECT_EQ(status, 400);
  EXPECT_NE(what.find("maximum input length is 100"), std::string::npos) << what;
  // The same long prompt is rejected by a decoder-only model.
  EXPECT_EQ(completion_error({{"prompt", long_prompt}, {"max_tokens", 4}}).first, 400);
}

}  // namespace
}  // namespace kiln::serve
