// Stop strings for streaming output (OpenAI `stop`, vLLM SamplingParams.stop). Text is fed as the
// detokenizer produces it; a stop string may span any number of feeds (token boundaries).
// Decisions:
//   - The match that ENDS first wins (ties: the longer one, i.e. the earlier start). That is the
//     stop a token-by-token stream detects first, so the result does not depend on how the text is
//     cut into feeds. The output is cut before the stop string, or after it with
//     include_stop_str_in_output.
//   - Nothing a client receives is later cut: while a stop string is excluded from the output, the
//     longest tail of the text that is a proper prefix of some stop string is held back until it
//     either completes a stop (and is dropped) or stops matching (and is emitted). With
//     include_stop_str_in_output nothing needs holding back: a stop string is output whole anyway.
//   - Text is UTF-8 from the detokenizer (complete characters); a held tail starts where a stop
//     string starts, so it never splits a character.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::runtime {

class StopStringMatcher {
 public:
  struct Result {
    std::string emit;      // text safe to send to the client now
    bool stopped = false;  // a stop string completed: the output ends with this emit
    int stop_index = -1;   // which stop string (index into the constructor's list), when stopped
    size_t output_size = 0;  // bytes of output text so far; when stopped, the final output length
                             // (where everything fed is truncated)
  };

  // Throws kiln::Error for an empty stop string.
  explicit StopStringMatcher(std::vector<std::string> stops, bool include_stop_str_in_output = false);

  // Feeds newly detokenized text. After a stop, further feeds return an empty, stopped result.
  Result feed(std::string_view text);
  // End of the stream without a stop string (an end token, max tokens): the held-back tail.
  std::string flush();

  bool stopped() const { return stopped_; }
  const std::vector<std::string>& stops() const { return stops_; }

 private:
  size_t held_tail() const;  // longest tail of the unemitted text that may start a stop string

  std::vector<std::string> stops_;
  bool include_stop_;
  // Recent text: the last max_stop - 1 emitted bytes (a stop string may start there when it is
  // included in the output), then what is held back (a possible stop-string prefix).
  std::string buffer_;
  size_t emitted_in_buffer_ = 0;  // buffer_[0, emitted_in_buffer_) was emitted
  size_t max_stop_ = 0;  // longest stop string, bytes
  size_t emitted_ = 0;    // bytes emitted in total
  bool stopped_ = false;
  int stop_index_ = -1;
};

}  // namespace kiln::runtime
