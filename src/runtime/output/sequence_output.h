// SequenceOutput: what one generated sequence streams out — text grown token by token with
// UTF-8-safe incremental detokenization, and stop strings matched across token boundaries. Text
// that could still turn into a stop string is held back, so a client never receives a partial
// stop string that would later be cut.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/sampling/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace kiln::runtime {

class IncrementalDetokenizer;
class StopStringMatcher;

class SequenceOutput {
 public:
  SequenceOutput(const tok::Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                 const SamplingParams& params, bool skip_special_tokens);
  ~SequenceOutput();
  SequenceOutput(const SequenceOutput& other);  // forks keep the text so far

  // Adds a generated token; returns the text now safe to emit. When check_stop and a stop string
  // completes, *stopped is set and the returned text ends where HF/vLLM cut it.
  std::string push(int32_t token, bool check_stop, bool* stopped);
  // The end of the sequence (not after a stop): the held-back remainder.
  std::string finish();

 private:
  std::unique_ptr<IncrementalDetokenizer> detok_;
  std::unique_ptr<StopStringMatcher> stop_;
  bool stopped_ = false;
};

}  // namespace kiln::runtime
