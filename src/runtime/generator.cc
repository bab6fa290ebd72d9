#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"
#include "runtime/executor.h"

namespace kiln::runtime {

Generator::Generator(models::Model& model, const GeneratorOptions& options, ExecContext& ctx)
    : model_(model), options_(options), ctx_(ctx) {}  // options are checked by the StepRunner

Generator::~Generator() = default;

std::vector<GenerationResult> Generator::generate(const std::vector<GenerationRequest>& requests,
                                                  GenerationStats* stats) {
  const models::ModelSpec& spec = model_.spec();
  KILN_CHECK(options_.block_size > 0, "tokens_per_block must be positive");
  int64_t demand = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerationRequest& r = requests[i];
    try {
      KILN_CHECK(!r.prompt.empty(), "the prompt is empty");
      r.params.validate(spec.vocab_size);
      int64_t len = static_cast<int64_t>(r.prompt.size()), encoder_len = 0;
      if (spec.encoder_decoder) {  // the prompt is the encoder input; its K/V take cross blocks
        encoder_len = len;
        len = std::max<int64_t>(1, static_cast<int64_t>(r.decoder_prompt.size()));
      }
      const int64_t width = std::max(r.params.n, r.params.num_beams);
      demand += width * sequence_blocks(len + r.params.resolve_max_new(len), encoder_len,
                                        options_.block_size);
    } catch (const Error& e) {
      KILN_FAIL("request {}: {}", i, e.what());
    }
  }
  const int64_t want = options_.num_blocks > 0 ? options_.num_blocks
                                               : std::max<int64_t>(demand + demand / 100 + 1, 1);
  if (!executor_ || want > num_blocks_) {
    executor_.reset();
    ExecutorOptions eo;
    eo.runner.max_batch_size = options_.max_batch_size;
    eo.runner.max_num_tokens = options_.max_num_tokens;
    eo.runner.block_size = options_.block_size;
    eo.runner.num_blocks = want;
    eo.runner.cuda_graphs = options_.cuda_graphs;
    executor_ = std::make_unique<Executor>(model_, eo, ctx_);
    num_blocks_ = want;
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      executor_->validate(requests[i].prompt, requests[i].params, requests[i].decoder_prompt);
    } catch (const Error& e) {
      KILN_FAIL("request {}: {}", i, e.what());
    }
  }
  const ExecutorStats before = executor_->stats();
  for (size_t i = 0; i < requests.size(); ++i)
    executor_->add_request(static_cast<int64_t>(i), requests[i].prompt, requests[i].params,
                           /*detokenize=*/false, true, requests[i].decoder_prompt);
  std::vector<GenerationResult> results(requests.size());
  GenerationStats st;
  const auto start = std::chrono::steady_clock::now();
  while (executor_->has_work()) {
    const std::vector<RequestOutput> outs = executor_->step();
    if (st.first_token_seconds == 0 && executor_->stats().sampled_rows > before.sampled_rows)
      st.first_token_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const RequestOutput& o : outs) {
      GenerationResult& res = results[o.request_id];
      for (const SequenceDelta& d : o.deltas) {
        if (res.sequences.size() <= static_cast<size_t>(d.index)) {
          res.sequences.resize(d.index + 1);
          res.finish_reasons.resize(d.index + 1);
          res.scores.resize(d.index + 1);
        }
        auto& ids = res.sequences[d.index];
        ids.insert(ids.end(), d.token_ids.begin(), d.token_ids.end());
        if (d.finish_reason) res.finish_reasons[d.index] = *d.finish_reason;
        if (d.score) res.scores[d.index] = *d.score;
      }
    }
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerationResult& r = results[i];
    if (r.sequences.empty()) {
      r.sequences.resize(1);
      r.finish_reasons.assign(1, "length");
      r.scores.assign(1, 0.0);
    }
    r.output_ids = r.sequences[0];
    r.finish_reason = r.finish_reasons[0];
    st.prompt_tokens += static_cast<int64_t>(requests[i].prompt.size());
    for (const auto& s : r.sequences) st.generated_tokens += static_cast<int64_t>(s.size());
  }
  const ExecutorStats& after = executor_->stats();
  st.steps = after.steps - before.steps;
  st.prefill_steps = after.prefill_steps - before.prefill_steps;
  st.decode_steps = after.decode_steps - before.decode_steps;
  st.prefill_seconds = after.prefill_seconds - before.prefill_seconds;
  st.decode_seconds = after.decode_seconds - before.decode_seconds;
  st.decode_graph_seconds = after.decode_graph_seconds - before.decode_graph_seconds;
  st.decode_graph_steps = after.decode_graph_steps - before.decode_graph_steps;
  st.decode_host_seconds = after.decode_host_seconds - before.decode_host_seconds;
  st.decode_host_steps = after.decode_host_steps - before.decode_host_steps;
  if (stats) *stats = st;
  return results;
}

}  // namespace kiln::runtime
