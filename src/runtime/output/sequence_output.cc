#include "runtime/output/sequence_output.h"

#include "runtime/output/incremental_detokenizer.h"
#include "runtime/output/stop_strings.h"

namespace kiln::runtime {

SequenceOutput::SequenceOutput(const tok::Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                               const SamplingParams& params, bool skip_special_tokens)
    : detok_(std::make_unique<IncrementalDetokenizer>(tokenizer, prompt, skip_special_tokens,
                                                      /*continue_prompt=*/true)) {
  if (!params.stop.empty())
    stop_ = std::make_unique<StopStringMatcher>(params.stop, params.include_stop_str_in_output);
}

SequenceOutput::~SequenceOutput() = default;

SequenceOutput::SequenceOutput(const SequenceOutput& o)
    : detok_(std::make_unique<IncrementalDetokenizer>(*o.detok_)),
      stop_(o.stop_ ? std::make_unique<StopStringMatcher>(*o.stop_) : nullptr),
      stopped_(o.stopped_) {}

std::string SequenceOutput::push(int32_t token, bool check_stop, bool* stopped) {
  *stopped = false;
  std::string text = detok_->push(token);
  // Before min_new_tokens stop strings do not count (vLLM's min_tokens): text passes unmatched.
  if (!stop_ || !check_stop) return text;
  StopStringMatcher::Result r = stop_->feed(text);
  *stopped = stopped_ = r.stopped;
  return r.emit;
}

std::string SequenceOutput::finish() {
  std::string text = detok_->flush();
  if (!stop_) return text;
  StopStringMatcher::Result r = stop_->feed(text);
  return r.emit + (r.stopped ? std::string() : stop_->flush());
}

}  // namespace kiln::runtime
