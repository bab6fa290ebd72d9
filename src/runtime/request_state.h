// RequestState: one request inside the executor — its parameters and its sequences. A request
// starts with one sequence (the prompt); n > 1 sampling and beam search fork it after the first
// logits (children share the prompt's KV blocks). It is scheduled, preempted and finished as a
// unit; its sequences take their logits in the same step (beam search needs all rows at once).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/sequence.h"
#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

class BeamSearch;
class SequenceOutput;

struct SeqSlot {
  std::unique_ptr<Sequence> seq;
  std::unique_ptr<SequenceOutput> out;  // detokenizer + stop strings (null without a tokenizer)
};

struct RequestState {
  RequestState();
  ~RequestState();
  int64_t id = 0;
  int64_t arrival = 0;            // admission order (preempted requests keep theirs)
  SamplingParams params;
  int64_t max_new = 0;            // resolved max_new_tokens
  bool detokenize = false;
  bool skip_special_tokens = true;
  std::vector<SeqSlot> seqs;      // live sequences (beams: the running beams)
  std::unique_ptr<BeamSearch> beam;
  bool forked = false;            // n > 1 / beams: children made after the first logits
  bool cancelled = false;
  int finished_seqs = 0;

  int width() const { return params.num_beams > 1 ? params.num_beams : params.n; }
  bool is_beam() const { return params.num_beams > 1; }
  // Sequences the request will hold once forked (what admission counts against max_batch_size).
  int64_t live_seqs() const;
  int64_t num_unfinished() const;
};

}  // namespace kiln::runtime
