#include "runtime/request_state.h"

#include "runtime/output/sequence_output.h"
#include "runtime/sampling/beam_search.h"

namespace kiln::runtime {

RequestState::RequestState() = default;
RequestState::~RequestState() = default;

int64_t RequestState::live_seqs() const { return forked ? num_unfinished() : width(); }

int64_t RequestState::num_unfinished() const {
  int64_t n = 0;
  for (const SeqSlot& s : seqs) n += s.seq->finished ? 0 : 1;
  return n;
}

}  // namespace kiln::runtime
