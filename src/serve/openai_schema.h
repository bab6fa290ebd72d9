// The OpenAI request/response schema of `kiln serve`, independent of HTTP: a JSON request body is
// validated field by field into a GenerationPlan (one kiln::Request per prompt), and the engine's
// outputs are shaped into OpenAI's response and streaming-chunk bodies. Unknown top-level fields
// are rejected (vLLM's strict mode); the accepted ones are listed once, in accepted_fields().
// Defaults are OpenAI's, not the model's generation_config: temperature 1 (sampling), top_p 1,
// no top-k, no penalties, max_tokens 16 for completions and "the rest of the context" for chat.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kiln/request.h"

namespace kiln::serve {

enum class Endpoint { kCompletions, kChat };

// Request limits of the server (beyond what the engine checks).
inline constexpr int kMaxN = 64;                 // n, best_of, num_beams
inline constexpr int kMaxPrompts = 64;           // prompts in one completions request
inline constexpr int kMaxChoices = 256;          // prompts x n
inline constexpr int kMaxLogprobs = 20;          // completions logprobs / chat top_logprobs
inline constexpr size_t kMaxStopStrings = 64;

// What validation needs to know about the served model.
struct ModelContext {
  std::string served_name;
  int64_t vocab_size = 0;     // token ids must be in [0, vocab_size)
  int64_t max_positions = 0;  // prompt + max_tokens limit; 0: unknown (not checked here)
  // Encoder–decoder models: the prompt is the encoder input (at most max_encoder_positions);
  // max_positions then bounds the decoder start token + max_tokens.
  bool encoder_decoder = false;
  int64_t max_encoder_positions = 0;
  bool has_tokenizer = false;
};

using Encoder = std::function<std::vector<int32_t>(const std::string& text, bool add_special)>;
// Renders chat messages with the model's template (throws on a template error).
using ChatRenderer = std::function<std::string(const nlohmann::json& messages,
                                               bool add_generation_prompt,
                                               const nlohmann::json& extra_context)>;

struct GenerationPlan {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;                          // the served name echoed in responses
  std::vector<std::vector<int32_t>> prompts;  // [num_prompts][prompt_len]
  std::vector<std::string> echo_texts;        // [num_prompts] when echo
  kiln::Request request;                      // prompt_ids empty: one copy per prompt
  int choices_per_prompt = 1;                 // n (num_return_sequences with beams)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;
  bool return_token_ids = false;  // kiln/vLLM extension: choices carry token ids
  int logprobs = -1;  // -1 none; completions: top-N (int logprobs); chat: top_logprobs
};

// The accepted top-level fields of an endpoint's request body.
const std::vector<std::string>& accepted_fields(Endpoint endpoint);

// Parses a request body; throws ApiError (400, with the offending field as `param`).
nlohmann::json parse_json_body(const std::string& body);
GenerationPlan parse_completion_request(const nlohmann::json& body, const ModelContext& model,
                                        const Encoder& encode);
// renderer: null when the model has no chat template (-> 400).
GenerationPlan parse_chat_request(const nlohmann::json& body, const ModelContext& model,
                                  const Encoder& encode, const ChatRenderer* renderer);

// ---- responses ----

// One returned choice, accumulated over updates (or one update's delta when streaming).
struct ChoiceOutput {
  std::string text;
  std::vector<int32_t> token_ids;                       // [num_tokens]
  std::vector<float> logprobs;                          // [num_tokens] when requested
  std::vector<std::vector<kiln::TokenLogprob>> top_logprobs;  // [num_tokens][N]
  std::optional<std::string> finish_reason;
  int32_t prev_token = -1;  // a streamed delta: the token before token_ids[0] (-1: none)

  void append(const kiln::SequenceDelta& d);
};

// One token's text as it reads after `prev` (-1: at the start), specials kept: SentencePiece
// drops a token's leading space when it is decoded alone.
using TokenText = std::function<std::string(int32_t id, int32_t prev)>;

// Characters (code points) of UTF-8 text: OpenAI's text_offset unit.
int64_t utf8_chars(const std::string& s);

struct ResponseMeta {
  std::string id;       // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
};

// {"tokens", "token_logprobs", "top_logprobs", "text_offset"}; offsets start at text_offset.
nlohmann::json completion_logprobs(const ChoiceOutput& c, const TokenText& token_text,
                                   int64_t text_offset);
// {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}
nlohmann::json chat_logprobs(const ChoiceOutput& c, const TokenText& token_text);

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

// Whole (non-streamed) responses. choices: [num_prompts * choices_per_prompt].
nlohmann::json completion_response(const ResponseMeta& meta, const GenerationPlan& plan,
                                   const std::vector<ChoiceOutput>& choices,
                                   const TokenText& token_text);
nlohmann::json chat_response(const ResponseMeta& meta, const GenerationPlan& plan,
                             const std::vector<ChoiceOutput>& choices,
                             const TokenText& token_text);

// Streaming chunks (the JSON after "data: ").
nlohmann::json completion_chunk(const ResponseMeta& meta, const GenerationPlan& plan, int index,
                                const ChoiceOutput& delta, const TokenText& token_text,
                                int64_t text_offset);
// role_chunk: the first chunk of a choice, delta {"role": "assistant", "content": ""}.
nlohmann::json chat_chunk(const ResponseMeta& meta, const GenerationPlan& plan, int index,
                          const ChoiceOutput& delta, const TokenText& token_text,
                          bool role_chunk);
// The final usage chunk (choices: []) of a stream with include_usage.
nlohmann::json usage_chunk(const ResponseMeta& meta, const GenerationPlan& plan,
                           int64_t prompt_tokens, int64_t completion_tokens);

int64_t total_prompt_tokens(const GenerationPlan& plan);

}  // namespace kiln::serve
