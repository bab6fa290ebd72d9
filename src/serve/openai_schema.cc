#include "serve/openai_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "serve/api_error.h"

namespace kiln::serve {

using nlohmann::json;

std::string ApiError::default_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 404: return "not_found_error";
    case 405: return "method_not_allowed";
    case 413: return "request_too_large";
    case 429: return "rate_limit_exceeded";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "internal_server_error" : "invalid_request_error";
  }
}

json error_body(const ApiError& e) {
  json err = {{"message", e.what()},
              {"type", e.type()},
              {"param", e.param() ? json(*e.param()) : json(nullptr)},
              {"code", e.code() ? json(*e.code()) : json(nullptr)}};
  return {{"error", err}};
}

json error_body(int status, const std::string& message, std::optional<std::string> param) {
  return error_body(ApiError(status, message, std::move(param)));
}

namespace {

// ---- typed field access: null or absent -> nullopt; a wrong type -> 400 naming the field ----

bool present(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && !it->is_null();
}

std::optional<int64_t> get_int(const json& body, const char* key) {
  if (!present(body, key)) return std::nullopt;
  const json& v = body.at(key);
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw bad_request(fmt::format("'{}' is out of range", key), key);
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {  // 16.0 is accepted as 16 (pydantic's lax mode)
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
      return static_cast<int64_t>(d);
  }
  throw bad_request(fmt::format("'{}' must be an integer", key), key);
}

std::optional<double> get_number(const json& body, const char* key) {
  if (!present(body, key)) return std::nullopt;
  const json& v = body.at(key);
  if (!v.is_number()) throw bad_request(fmt::format("'{}' must be a number", key), key);
  const double d = v.get<double>();
  if (!std::isfinite(d)) throw bad_request(fmt::format("'{}' must be finite", key), key);
  return d;
}

std::optional<bool> get_bool(const json& body, const char* key) {
  if (!present(body, key)) return std::nullopt;
  const json& v = body.at(key);
  if (!v.is_boolean()) throw bad_request(fmt::format("'{}' must be a boolean", key), key);
  return v.get<bool>();
}

std::optional<std::string> get_string(const json& body, const char* key) {
  if (!present(body, key)) return std::nullopt;
  const json& v = body.at(key);
  if (!v.is_string()) throw bad_request(fmt::format("'{}' must be a string", key), key);
  return v.get<std::string>();
}

void check_range(bool ok, const char* key, const std::string& what) {
  if (!ok) throw bad_request(fmt::format("'{}' {}", key, what), key);
}

// A JSON value that should be a token id: integer in [0, vocab_size).
int32_t token_id(const json& v, const ModelContext& m, const char* param) {
  if (!v.is_number_integer())
    throw bad_request(fmt::format("'{}' must contain integer token ids", param), param);
  const int64_t id = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                         ? INT64_MAX
                         : v.get<int64_t>();
  if (id < 0 || (m.vocab_size > 0 && id >= m.vocab_size))
    throw bad_request(fmt::format("token id {} in '{}' is out of the vocabulary [0, {})", id,
                                  param, m.vocab_size),
                      param);
  return static_cast<int32_t>(id);
}

const std::vector<std::string> kCommonFields = {
    "model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "n", "best_of", "stop",
    "stop_token_ids", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty",
    "stream", "stream_options", "ignore_eos", "min_tokens", "use_beam_search", "num_beams",
    "length_penalty", "early_stopping", "skip_special_tokens", "include_stop_str_in_output",
    "user", "logit_bias", "return_token_ids", "logprobs", "no_repeat_ngram_size", "min_length"};

std::vector<std::string> with(std::vector<std::string> base, std::vector<std::string> extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

void reject_unknown_fields(const json& body, Endpoint endpoint) {
  const auto& fields = accepted_fields(endpoint);
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(fields.begin(), fields.end(), it.key()) == fields.end())
      throw bad_request(fmt::format("unknown field '{}' (accepted: {})", it.key(),
                                    fmt::join(fields, ", ")),
                        it.key());
  }
}

// The fields both endpoints share, into plan.request.sampling. max_tokens is set by the caller.
void parse_sampling(const json& body, const ModelContext& m, GenerationPlan& plan) {
  SamplingOptions& s = plan.request.sampling;

  if (auto model = get_string(body, "model"); model && *model != m.served_name)
    throw ApiError(404, fmt::format("The model '{}' does not exist (this server serves '{}')",
                                    *model, m.served_name),
                   "model", "invalid_request_error", "model_not_found");

  const int64_t n = get_int(body, "n").value_or(1);
  check_range(n >= 1 && n <= kMaxN, "n", fmt::format("must be in [1, {}], got {}", kMaxN, n));

  const double temperature = get_number(body, "temperature").value_or(1.0);
  check_range(temperature >= 0, "temperature", fmt::format("must be >= 0, got {}", temperature));
  const double top_p = get_number(body, "top_p").value_or(1.0);
  check_range(top_p > 0 && top_p <= 1, "top_p", fmt::format("must be in (0, 1], got {}", top_p));
  const int64_t top_k = get_int(body, "top_k").value_or(0);
  check_range(top_k >= -1, "top_k", fmt::format("must be -1 or 0 (disabled) or a positive "
                                                "integer, got {}", top_k));
  const double min_p = get_number(body, "min_p").value_or(0.0);
  check_range(min_p >= 0 && min_p <= 1, "min_p", fmt::format("must be in [0, 1], got {}", min_p));
  const double presence = get_number(body, "presence_penalty").value_or(0.0);
  check_range(presence >= -2 && presence <= 2, "presence_penalty",
              fmt::format("must be in [-2, 2], got {}", presence));
  const double frequency = get_number(body, "frequency_penalty").value_or(0.0);
  check_range(frequency >= -2 && frequency <= 2, "frequency_penalty",
              fmt::format("must be in [-2, 2], got {}", frequency));
  const double repetition = get_number(body, "repetition_penalty").value_or(1.0);
  check_range(repetition > 0, "repetition_penalty",
              fmt::format("must be > 0, got {}", repetition));
  s.presence_penalty = static_cast<float>(presence);
  s.frequency_penalty = static_cast<float>(frequency);
  s.repetition_penalty = static_cast<float>(repetition);
  if (auto seed = get_int(body, "seed")) s.seed = static_cast<uint64_t>(*seed);
  // HF generation_config fields (not in vLLM): override the model's defaults.
  if (auto ngram = get_int(body, "no_repeat_ngram_size")) {
    check_range(*ngram >= 0, "no_repeat_ngram_size",
                fmt::format("must be >= 0 (0 disables), got {}", *ngram));
    s.no_repeat_ngram_size = *ngram;
  }
  if (auto min_length = get_int(body, "min_length")) {
    check_range(*min_length >= 0, "min_length", fmt::format("must be >= 0, got {}", *min_length));
    s.min_length = *min_length;
  }

  // Beam search: use_beam_search (vLLM: beam width = best_of or n) or num_beams (HF).
  const bool use_beam_search = get_bool(body, "use_beam_search").value_or(false);
  const std::optional<int64_t> best_of = get_int(body, "best_of");
  std::optional<int64_t> num_beams = get_int(body, "num_beams");
  if (num_beams)
    check_range(*num_beams >= 1 && *num_beams <= kMaxN, "num_beams",
                fmt::format("must be in [1, {}], got {}", kMaxN, *num_beams));
  if (best_of) {
    check_range(*best_of >= n && *best_of <= kMaxN, "best_of",
                fmt::format("must be in [n, {}], got {}", kMaxN, *best_of));
    if (!use_beam_search && *best_of != n)
      throw bad_request("'best_of' > n is not supported (use n, or use_beam_search)", "best_of");
  }
  if (use_beam_search && !num_beams) num_beams = std::max<int64_t>(best_of.value_or(n), n);
  const bool beams = num_beams && *num_beams > 1;
  if (num_beams && n > *num_beams)
    throw bad_request(fmt::format("n ({}) must be <= the beam width ({})", n, *num_beams), "n");
  if (beams) {
    s.num_beams = static_cast<int>(*num_beams);
    s.num_return_sequences = static_cast<int>(n);
    s.do_sample = false;  // greedy beams (HF generate(num_beams=k)); temperature is not used
    s.n = 1;
  } else {
    s.n = static_cast<int>(n);
    s.do_sample = temperature > 0;
    if (temperature > 0) s.temperature = static_cast<float>(temperature);
    s.top_p = static_cast<float>(top_p);
    s.top_k = top_k < 0 ? 0 : top_k;
    s.min_p = static_cast<float>(min_p);
  }
  if (auto lp = get_number(body, "length_penalty")) {
    s.length_penalty = static_cast<float>(*lp);
  }
  if (present(body, "early_stopping")) {
    const json& v = body.at("early_stopping");
    if (v.is_boolean()) {
      s.early_stopping = v.get<bool>() ? EarlyStopping::kTrue : EarlyStopping::kFalse;
    } else if (v.is_string() && v.get<std::string>() == "never") {
      s.early_stopping = EarlyStopping::kNever;
    } else {
      throw bad_request("'early_stopping' must be true, false or \"never\"", "early_stopping");
    }
  }
  plan.choices_per_prompt = static_cast<int>(n);

  // Stopping.
  if (present(body, "stop")) {
    const json& v = body.at("stop");
    if (v.is_string()) {
      if (!v.get<std::string>().empty()) s.stop.push_back(v.get<std::string>());
    } else if (v.is_array()) {
      check_range(v.size() <= kMaxStopStrings, "stop",
                  fmt::format("may hold at most {} strings", kMaxStopStrings));
      for (const json& x : v) {
        if (!x.is_string()) throw bad_request("'stop' must be a string or a list of strings", "stop");
        if (!x.get<std::string>().empty()) s.stop.push_back(x.get<std::string>());
      }
    } else {
      throw bad_request("'stop' must be a string or a list of strings", "stop");
    }
  }
  if (present(body, "stop_token_ids")) {
    const json& v = body.at("stop_token_ids");
    if (!v.is_array()) throw bad_request("'stop_token_ids' must be a list of integers", "stop_token_ids");
    for (const json& x : v) s.stop_token_ids.push_back(token_id(x, m, "stop_token_ids"));
  }
  s.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
  s.include_stop_str_in_output = get_bool(body, "include_stop_str_in_output").value_or(false);
  plan.request.skip_special_tokens = get_bool(body, "skip_special_tokens").value_or(true);
  plan.request.detokenize = m.has_tokenizer;
  plan.return_token_ids = get_bool(body, "return_token_ids").value_or(false);

  // Streaming.
  plan.stream = get_bool(body, "stream").value_or(false);
  if (present(body, "stream_options")) {
    const json& so = body.at("stream_options");
    if (!so.is_object()) throw bad_request("'stream_options' must be an object", "stream_options");
    if (!plan.stream)
      throw bad_request("'stream_options' is only allowed when 'stream' is true", "stream_options");
    for (auto it = so.begin(); it != so.end(); ++it) {
      if (it.key() != "include_usage" && it.key() != "continuous_usage_stats")
        throw bad_request(fmt::format("unknown field 'stream_options.{}'", it.key()),
                          "stream_options");
    }
    plan.include_usage = get_bool(so, "include_usage").value_or(false);
  }

  // Accepted and ignored / accepted only in their neutral form.
  get_string(body, "user");
  if (present(body, "logit_bias")) {
    const json& v = body.at("logit_bias");
    if (!v.is_object()) throw bad_request("'logit_bias' must be an object", "logit_bias");
    if (!v.empty()) throw bad_request("'logit_bias' is not supported", "logit_bias");
  }
  plan.model = m.served_name;
}

// min_tokens and max_tokens against the prompts and the context length.
void set_lengths(const json& body, const ModelContext& m, GenerationPlan& plan,
                 std::optional<int64_t> max_tokens, const char* max_key, int64_t default_max) {
  int64_t longest = 0;
  for (const auto& p : plan.prompts) longest = std::max<int64_t>(longest, p.size());
  if (m.encoder_decoder) {  // the prompt feeds the encoder; the decoder starts from one token
    if (m.max_encoder_positions > 0 && longest > m.max_encoder_positions)
      throw bad_request(fmt::format("This model's maximum input length is {} tokens. However, "
                                    "your {} resulted in {} tokens.",
                                    m.max_encoder_positions,
                                    plan.endpoint == Endpoint::kChat ? "messages" : "prompt",
                                    longest),
                        plan.endpoint == Endpoint::kChat ? "messages" : "prompt");
    longest = 1;
  }
  if (max_tokens) {
    check_range(*max_tokens >= 1, max_key, fmt::format("must be at least 1, got {}", *max_tokens));
  } else if (default_max > 0) {
    max_tokens = default_max;
  } else {  // chat: the rest of the context
    if (m.max_positions > 0 && longest >= m.max_positions)
      throw bad_request(fmt::format("This model's maximum context length is {} tokens. However, "
                                    "your messages resulted in {} tokens. Please reduce the "
                                    "length of the messages.",
                                    m.max_positions, longest),
                        "messages");
    max_tokens = m.max_positions > 0 ? m.max_positions - longest : 16;
  }
  if (m.max_positions > 0 && longest + *max_tokens > m.max_positions) {
    const bool chat = plan.endpoint == Endpoint::kChat;
    throw bad_request(
        fmt::format("This model's maximum context length is {} tokens. However, you requested {} "
                    "tokens ({} in the {}, {} for the completion). Please reduce the length of "
                    "the {} or the completion.",
                    m.max_positions, longest + *max_tokens, longest, chat ? "messages" : "prompt",
                    *max_tokens, chat ? "messages" : "prompt"),
        chat ? "messages" : "prompt");
  }
  plan.request.sampling.max_new_tokens = *max_tokens;
  if (auto min_tokens = get_int(body, "min_tokens")) {
    check_range(*min_tokens >= 0 && *min_tokens <= *max_tokens, "min_tokens",
                fmt::format("must be in [0, max_tokens={}], got {}", *max_tokens, *min_tokens));
    plan.request.sampling.min_new_tokens = *min_tokens;
  }
}

std::vector<int32_t> encode_text(const std::string& text, const ModelContext& m,
                                 const Encoder& encode, bool add_special, const char* param) {
  if (!m.has_tokenizer)
    throw bad_request("this model has no tokenizer: send the prompt as a list of token ids", param);
  return encode(text, add_special);
}

std::vector<int32_t> id_list(const json& v, const ModelContext& m) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const json& x : v) ids.push_back(token_id(x, m, "prompt"));
  return ids;
}

void check_prompt_count(size_t prompts, int n) {
  if (prompts == 0) throw bad_request("'prompt' must not be empty", "prompt");
  check_range(prompts <= static_cast<size_t>(kMaxPrompts), "prompt",
              fmt::format("may hold at most {} prompts, got {}", kMaxPrompts, prompts));
  check_range(prompts * n <= static_cast<size_t>(kMaxChoices), "n",
              fmt::format("times the number of prompts must be <= {}", kMaxChoices));
}

}  // namespace

const std::vector<std::string>& accepted_fields(Endpoint endpoint) {
  static const std::vector<std::string> completions =
      with(kCommonFields, {"prompt", "echo", "suffix"});
  static const std::vector<std::string> chat =
      with(kCommonFields, {"messages", "max_completion_tokens", "top_logprobs",
                           "add_generation_prompt", "chat_template_kwargs"});
  return endpoint == Endpoint::kChat ? chat : completions;
}

json parse_json_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw bad_request("the request body is not valid JSON");
  if (!j.is_object()) throw bad_request("the request body must be a JSON object");
  return j;
}

GenerationPlan parse_completion_request(const json& body, const ModelContext& m,
                                        const Encoder& encode) {
  reject_unknown_fields(body, Endpoint::kCompletions);
  GenerationPlan plan;
  plan.endpoint = Endpoint::kCompletions;
  parse_sampling(body, m, plan);

  if (!present(body, "prompt")) throw bad_request("'prompt' is required", "prompt");
  const json& p = body.at("prompt");
  const char* kPromptType =
      "'prompt' must be a string, a list of strings, a list of token ids or a list of lists of "
      "token ids";
  std::vector<std::string> texts;  // when the prompts are text
  if (p.is_string()) {
    texts.push_back(p.get<std::string>());
  } else if (p.is_array()) {
    if (p.empty()) throw bad_request("'prompt' must not be empty", "prompt");
    if (p[0].is_string()) {
      for (const json& x : p) {
        if (!x.is_string()) throw bad_request(kPromptType, "prompt");
        texts.push_back(x.get<std::string>());
      }
    } else if (p[0].is_number()) {
      plan.prompts.push_back(id_list(p, m));
    } else if (p[0].is_array()) {
      for (const json& x : p) {
        if (!x.is_array()) throw bad_request(kPromptType, "prompt");
        plan.prompts.push_back(id_list(x, m));
      }
    } else {
      throw bad_request(kPromptType, "prompt");
    }
  } else {
    throw bad_request(kPromptType, "prompt");
  }
  check_prompt_count(texts.empty() ? plan.prompts.size() : texts.size(), plan.choices_per_prompt);
  for (const std::string& t : texts)
    plan.prompts.push_back(encode_text(t, m, encode, /*add_special=*/true, "prompt"));
  for (const auto& ids : plan.prompts)
    if (ids.empty()) throw bad_request("a prompt must hold at least one token", "prompt");

  if (auto suffix = get_string(body, "suffix"); suffix && !suffix->empty())
    throw bad_request("'suffix' is not supported", "suffix");
  if (present(body, "logprobs")) {
    const auto lp = get_int(body, "logprobs");
    check_range(*lp >= 0 && *lp <= kMaxLogprobs, "logprobs",
                fmt::format("must be in [0, {}], got {}", kMaxLogprobs, *lp));
    plan.logprobs = static_cast<int>(*lp);
  }
  plan.echo = get_bool(body, "echo").value_or(false);
  if (plan.echo && plan.logprobs >= 0)
    throw bad_request("'echo' with 'logprobs' (prompt logprobs) is not supported", "echo");
  if (plan.echo && plan.request.sampling.num_beams.value_or(1) > 1)
    throw bad_request("'echo' is not supported with beam search", "echo");
  if (plan.echo) {
    plan.echo_texts = texts;
    if (texts.empty()) {
      if (!m.has_tokenizer) throw bad_request("'echo' needs the model's tokenizer", "echo");
      plan.echo_texts.assign(plan.prompts.size(), "");  // filled by the server (it owns decode)
    }
  }
  plan.request.sampling.logprobs = plan.logprobs;
  set_lengths(body, m, plan, get_int(body, "max_tokens"), "max_tokens", /*default_max=*/16);
  return plan;
}

GenerationPlan parse_chat_request(const json& body, const ModelContext& m, const Encoder& encode,
                                  const ChatRenderer* renderer) {
  reject_unknown_fields(body, Endpoint::kChat);
  GenerationPlan plan;
  plan.endpoint = Endpoint::kChat;
  parse_sampling(body, m, plan);

  if (!present(body, "messages")) throw bad_request("'messages' is required", "messages");
  const json& msgs = body.at("messages");
  if (!msgs.is_array() || msgs.empty())
    throw bad_request("'messages' must be a non-empty list of messages", "messages");
  json messages = json::array();
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& msg = msgs[i];
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
      throw bad_request(fmt::format("messages[{}] must be an object with a string 'role'", i),
                        "messages");
    json out = msg;
    if (!msg.contains("content") || msg["content"].is_null()) {
      out["content"] = "";
    } else if (msg["content"].is_array()) {  // content parts: text only
      std::string text;
      for (const json& part : msg["content"]) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          throw bad_request(fmt::format("messages[{}].content: only parts of type 'text' are "
                                        "supported",
                                        i),
                            "messages");
        text += (text.empty() ? "" : "\n") + part["text"].get<std::string>();
      }
      out["content"] = text;
    } else if (!msg["content"].is_string()) {
      throw bad_request(fmt::format("messages[{}].content must be a string or a list of parts", i),
                        "messages");
    }
    messages.push_back(std::move(out));
  }

  const bool add_generation_prompt = get_bool(body, "add_generation_prompt").value_or(true);
  json extra = json::object();
  if (present(body, "chat_template_kwargs")) {
    extra = body.at("chat_template_kwargs");
    if (!extra.is_object())
      throw bad_request("'chat_template_kwargs' must be an object", "chat_template_kwargs");
  }

  // logprobs (bool) + top_logprobs (int)
  const bool logprobs = get_bool(body, "logprobs").value_or(false);
  const auto top = get_int(body, "top_logprobs");
  if (top) {
    check_range(*top >= 0 && *top <= kMaxLogprobs, "top_logprobs",
                fmt::format("must be in [0, {}], got {}", kMaxLogprobs, *top));
    if (!logprobs) throw bad_request("'top_logprobs' requires 'logprobs': true", "top_logprobs");
  }
  plan.logprobs = logprobs ? static_cast<int>(top.value_or(0)) : -1;
  plan.request.sampling.logprobs = plan.logprobs;

  auto max_tokens = get_int(body, "max_completion_tokens");
  const char* max_key = "max_completion_tokens";
  if (!max_tokens) {
    max_tokens = get_int(body, "max_tokens");
    max_key = "max_tokens";
  }

  if (renderer == nullptr)
    throw bad_request("this model has no chat template (no 'chat_template' in "
                      "tokenizer_config.json and no chat_template.jinja): use /v1/completions",
                      "messages");
  if (!m.has_tokenizer) throw bad_request("this model has no tokenizer", "messages");
  std::string prompt;
  try {
    prompt = (*renderer)(messages, add_generation_prompt, extra);
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw bad_request(fmt::format("the chat template failed: {}", e.what()), "messages");
  }
  // The template already holds the special tokens it wants (vLLM: add_special_tokens=false).
  plan.prompts.push_back(encode_text(prompt, m, encode, /*add_special=*/false, "messages"));
  if (plan.prompts[0].empty()) throw bad_request("the rendered chat prompt is empty", "messages");
  set_lengths(body, m, plan, max_tokens, max_key, /*default_max=*/0);
  return plan;
}

// ---- responses ----

void ChoiceOutput::append(const SequenceDelta& d) {
  text += d.text;
  token_ids.insert(token_ids.end(), d.token_ids.begin(), d.token_ids.end());
  logprobs.insert(logprobs.end(), d.logprobs.begin(), d.logprobs.end());
  top_logprobs.insert(top_logprobs.end(), d.top_logprobs.begin(), d.top_logprobs.end());
  if (d.finish_reason) finish_reason = d.finish_reason;
}

namespace {

json nullable(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// A token's text may be a partial UTF-8 sequence: JSON needs valid UTF-8, so invalid bytes
// become U+FFFD (the `bytes` field of the chat format keeps the raw bytes).
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

int64_t utf8_chars(const std::string& s) {
  int64_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

json completion_logprobs(const ChoiceOutput& c, const TokenText& token_text, int64_t text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(),
       offsets = json::array();
  for (size_t i = 0; i < c.token_ids.size(); ++i) {
    const int32_t prev = i == 0 ? c.prev_token : c.token_ids[i - 1];
    const std::string t = valid_utf8(token_text(c.token_ids[i], prev));
    tokens.push_back(t);
    token_logprobs.push_back(i < c.logprobs.size() ? json(c.logprobs[i]) : json(nullptr));
    json alts = json::object();
    if (i < c.top_logprobs.size()) {
      for (const TokenLogprob& a : c.top_logprobs[i]) {
        const std::string at = valid_utf8(token_text(a.token_id, prev));
        if (!alts.contains(at)) alts[at] = a.logprob;
      }
    }
    // OpenAI lists the chosen token among the alternatives too.
    if (i < c.logprobs.size() && !alts.contains(t)) alts[t] = c.logprobs[i];
    top.push_back(std::move(alts));
    offsets.push_back(text_offset);
    text_offset += utf8_chars(t);
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", top},
          {"text_offset", offsets}};
}

json chat_logprobs(const ChoiceOutput& c, const TokenText& token_text) {
  json content = json::array();
  for (size_t i = 0; i < c.token_ids.size(); ++i) {
    const int32_t prev = i == 0 ? c.prev_token : c.token_ids[i - 1];
    const std::string raw = token_text(c.token_ids[i], prev);
    json top = json::array();
    if (i < c.top_logprobs.size()) {
      for (const TokenLogprob& a : c.top_logprobs[i]) {
        const std::string at = token_text(a.token_id, prev);
        top.push_back({{"token", valid_utf8(at)}, {"logprob", a.logprob}, {"bytes", bytes_of(at)}});
      }
    }
    content.push_back({{"token", valid_utf8(raw)},
                       {"logprob", i < c.logprobs.size() ? json(c.logprobs[i]) : json(nullptr)},
                       {"bytes", bytes_of(raw)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

int64_t total_prompt_tokens(const GenerationPlan& plan) {
  int64_t n = 0;
  for (const auto& p : plan.prompts) n += static_cast<int64_t>(p.size());
  return n;
}

namespace {

json envelope(const ResponseMeta& meta, const char* object, json choices) {
  return {{"id", meta.id},
          {"object", object},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", std::move(choices)}};
}

int64_t completion_tokens(const std::vector<ChoiceOutput>& choices) {
  int64_t n = 0;
  for (const auto& c : choices) n += static_cast<int64_t>(c.token_ids.size());
  return n;
}

}  // namespace

json completion_response(const ResponseMeta& meta, const GenerationPlan& plan,
                         const std::vector<ChoiceOutput>& choices, const TokenText& token_text) {
  json out = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    const size_t prompt = i / plan.choices_per_prompt;
    const std::string echo = plan.echo ? plan.echo_texts.at(prompt) : "";
    json choice = {{"index", i},
                   {"text", echo + c.text},
                   {"logprobs", plan.logprobs >= 0
                                    ? completion_logprobs(c, token_text, 0)
                                    : json(nullptr)},
                   {"finish_reason", nullable(c.finish_reason)}};
    if (plan.return_token_ids) {
      choice["prompt_token_ids"] = plan.prompts.at(prompt);
      choice["token_ids"] = c.token_ids;
    }
    out.push_back(std::move(choice));
  }
  json r = envelope(meta, "text_completion", std::move(out));
  r["usage"] = usage_json(total_prompt_tokens(plan), completion_tokens(choices));
  return r;
}

json chat_response(const ResponseMeta& meta, const GenerationPlan& plan,
                   const std::vector<ChoiceOutput>& choices, const TokenText& token_text) {
  json out = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    json choice = {{"index", i},
                   {"message", {{"role", "assistant"}, {"content", c.text}}},
                   {"logprobs", plan.logprobs >= 0 ? chat_logprobs(c, token_text) : json(nullptr)},
                   {"finish_reason", nullable(c.finish_reason)}};
    if (plan.return_token_ids) {
      choice["prompt_token_ids"] = plan.prompts.at(i / plan.choices_per_prompt);
      choice["token_ids"] = c.token_ids;
    }
    out.push_back(std::move(choice));
  }
  json r = envelope(meta, "chat.completion", std::move(out));
  r["usage"] = usage_json(total_prompt_tokens(plan), completion_tokens(choices));
  return r;
}

json completion_chunk(const ResponseMeta& meta, const GenerationPlan& plan, int index,
                      const ChoiceOutput& delta, const TokenText& token_text,
                      int64_t text_offset) {
  json choice = {{"index", index},
                 {"text", delta.text},
                 {"logprobs", plan.logprobs >= 0
                                  ? completion_logprobs(delta, token_text, text_offset)
                                  : json(nullptr)},
                 {"finish_reason", nullable(delta.finish_reason)}};
  if (plan.return_token_ids) choice["token_ids"] = delta.token_ids;
  json r = envelope(meta, "text_completion", json::array({std::move(choice)}));
  if (plan.include_usage) r["usage"] = nullptr;
  return r;
}

json chat_chunk(const ResponseMeta& meta, const GenerationPlan& plan, int index,
                const ChoiceOutput& delta, const TokenText& token_text, bool role_chunk) {
  json d = json::object();
  if (role_chunk) {
    d = {{"role", "assistant"}, {"content", ""}};
  } else if (!delta.text.empty() || !delta.finish_reason) {
    d["content"] = delta.text;
  }
  json choice = {{"index", index},
                 {"delta", std::move(d)},
                 {"logprobs", plan.logprobs >= 0 && !role_chunk ? chat_logprobs(delta, token_text)
                                                                : json(nullptr)},
                 {"finish_reason", role_chunk ? json(nullptr) : nullable(delta.finish_reason)}};
  if (plan.return_token_ids && !role_chunk) choice["token_ids"] = delta.token_ids;
  json r = envelope(meta, "chat.completion.chunk", json::array({std::move(choice)}));
  if (plan.include_usage) r["usage"] = nullptr;
  return r;
}

json usage_chunk(const ResponseMeta& meta, const GenerationPlan& plan, int64_t prompt_tokens,
                 int64_t completion_tokens) {
  json r = envelope(meta, plan.endpoint == Endpoint::kChat ? "chat.completion.chunk"
                                                           : "text_completion",
                    json::array());
  r["usage"] = usage_json(prompt_tokens, completion_tokens);
  return r;
}

}  // namespace kiln::serve
