#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <deque>

#include "core/check.h"
#include "runtime/batch_builder.h"
#include "runtime/device_step.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sequence.h"

namespace kiln::runtime {
namespace {

void validate_request(const GenerationRequest& r, size_t index, const models::ModelSpec& spec) {
  KILN_CHECK(!r.prompt.empty(), "request {}: the prompt is empty", index);
  for (size_t i = 0; i < r.prompt.size(); ++i)
    KILN_CHECK(r.prompt[i] >= 0 && r.prompt[i] < spec.vocab_size,
               "request {}: token id {} at position {} is outside the vocabulary [0, {})", index,
               r.prompt[i], i, spec.vocab_size);
  r.params.validate(spec.vocab_size);
  const int64_t len = static_cast<int64_t>(r.prompt.size());
  KILN_CHECK(len <= spec.max_positions,
             "request {}: the prompt has {} tokens, longer than the model's {} positions", index,
             len, spec.max_positions);
  const int64_t max_new = r.params.resolve_max_new(len);
  KILN_CHECK(len + max_new <= spec.max_positions,
             "request {}: prompt ({} tokens) + max_new_tokens ({}) exceeds the model's {} "
             "positions; lower max_new_tokens to at most {}",
             index, len, max_new, spec.max_positions, spec.max_positions - len);
}

}  // namespace

Generator::~Generator() = default;

void Generator::ensure_cache(int64_t num_blocks) {
  const models::ModelSpec& spec = model_.spec();
  const bool graphs = ops::graphs_supported(ctx_) && options_.cuda_graphs;
  const int64_t want = num_blocks + (graphs ? 1 : 0);  // + the padding rows' scratch block
  if (cache_ && cache_->shape().num_blocks >= want) return;
  graphs_.clear();
  graph_logits_.clear();
  device_step_.reset();
  cache_.reset();
  KvCacheShape shape;
  shape.num_layers = spec.num_layers;
  shape.num_kv_heads = spec.num_kv_heads;
  shape.head_dim = spec.head_dim;
  shape.block_size = options_.block_size;
  shape.num_blocks = static_cast<int>(want);
  shape.dtype = spec.dtype;
  cache_ = std::make_unique<KvCache>(shape, ctx_.allocator);
  scratch_block_ = graphs ? cache_->blocks().allocate() : -1;
  table_width_ = cache_->blocks_for(spec.max_positions);
  // On a GPU the step's metadata goes up in one copy and only sampled ids come back.
  if (ctx_.device.is_cuda())
    device_step_ = std::make_unique<DeviceStep>(options_.max_num_tokens, options_.max_batch_size,
                                                table_width_, spec.max_positions, ctx_);
}

Tensor Generator::decode_with_graph(std::vector<ScheduledChunk>& chunks) {
  int64_t bucket = 1;
  while (bucket < static_cast<int64_t>(chunks.size())) bucket *= 2;
  bucket = std::min(bucket, options_.max_batch_size);
  // Padding rows: a one-token sequence in the scratch block (it attends only to itself).
  std::vector<Sequence> pad(bucket - chunks.size());
  for (Sequence& p : pad) {
    p.tokens = {0};
    p.blocks = {scratch_block_};
    chunks.push_back({&p, 1, true});
  }
  layers::ForwardBatch host = build_batch(chunks, options_.block_size, table_width_);
  chunks.resize(chunks.size() - pad.size());
  // Launch arguments must not change between replays: bound the keys by the table's capacity.
  host.attn.max_kv_len = table_width_ * options_.block_size;
  const layers::ForwardBatch batch = device_step_->upload(host);
  layers::KvCacheView kv = cache_->view();
  auto it = graphs_.find(bucket);
  if (it == graphs_.end()) {
    model_.forward(batch, kv, ctx_);  // warm-up: kernel and GEMM algorithm selection
    ops::StepGraph g;
    Tensor logits;
    g.capture(ctx_, [&] { logits = model_.forward(batch, kv, ctx_); });
    graph_logits_[bucket] = logits;
    it = graphs_.emplace(bucket, std::move(g)).first;
  }
  it->second.launch(ctx_);
  return graph_logits_[bucket].slice(0, 0, static_cast<int64_t>(chunks.size()));
}

Generator::Generator(models::Model& model, const GeneratorOptions& options, ExecContext& ctx)
    : model_(model), options_(options), ctx_(ctx) {
  KILN_CHECK(options_.max_batch_size > 0, "max_batch_size must be positive");
  KILN_CHECK(options_.max_num_tokens >= options_.max_batch_size,
             "max_num_tokens ({}) must be >= max_batch_size ({})", options_.max_num_tokens,
             options_.max_batch_size);
  KILN_CHECK(options_.block_size > 0, "tokens_per_block must be positive");
  model_.reserve(options_.max_num_tokens, options_.max_batch_size);
}

std::vector<GenerationResult> Generator::generate(const std::vector<GenerationRequest>& requests,
                                                  GenerationStats* stats) {
  const models::ModelSpec& spec = model_.spec();
  for (size_t i = 0; i < requests.size(); ++i) validate_request(requests[i], i, spec);

  std::vector<Sequence> seqs(requests.size());
  int64_t demand = 0;
  const auto blocks_for = [&](int64_t tokens) {
    return (tokens + options_.block_size - 1) / options_.block_size;
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    Sequence& s = seqs[i];
    s.id = static_cast<int64_t>(i);
    s.tokens = requests[i].prompt;
    s.prompt_len = static_cast<int64_t>(s.tokens.size());
    s.params = requests[i].params;
    s.max_new = s.params.resolve_max_new(s.prompt_len);
    s.rng.seed(s.params.seed);
    demand += blocks_for(s.prompt_len + s.max_new);
  }
  ensure_cache(options_.num_blocks > 0 ? options_.num_blocks : std::max<int64_t>(demand, 1));
  KvCache& cache = *cache_;
  layers::KvCacheView kv = cache.view();
  const bool use_graphs = options_.cuda_graphs && ops::graphs_supported(ctx_);

  std::vector<GenerationResult> results(requests.size());
  std::deque<Sequence*> waiting;
  for (Sequence& s : seqs) {
    if (s.max_new == 0) {
      s.finished = true;
      results[s.id].finish_reason = "length";
    } else {
      waiting.push_back(&s);
    }
  }
  std::vector<Sequence*> running;
  GenerationStats st;
  const auto start = std::chrono::steady_clock::now();
  while (!waiting.empty() || !running.empty()) {
    // Admission: reserve the whole sequence's blocks up front (no eviction needed).
    while (!waiting.empty() && static_cast<int64_t>(running.size()) < options_.max_batch_size) {
      Sequence* s = waiting.front();
      const int64_t need = blocks_for(s->prompt_len + s->max_new);
      KILN_CHECK(need <= cache.blocks().num_blocks() - (scratch_block_ >= 0 ? 1 : 0),
                 "request {} needs {} KV blocks but the cache has only {}", s->id, need,
                 cache.blocks().num_blocks());
      if (!cache.blocks().allocate(static_cast<int32_t>(need), &s->blocks)) break;
      running.push_back(s);
      waiting.pop_front();
    }
    // Decode tokens first, then prefill chunks, within the step's token budget.
    std::stable_sort(running.begin(), running.end(), [](const Sequence* a, const Sequence* b) {
      const auto rem = [](const Sequence* s) { return s->tokens.size() - s->num_computed; };
      return (rem(a) == 1) > (rem(b) == 1);
    });
    std::vector<ScheduledChunk> chunks;
    int64_t budget = options_.max_num_tokens;
    bool any_prefill = false;
    for (Sequence* s : running) {
      const int64_t remaining = static_cast<int64_t>(s->tokens.size()) - s->num_computed;
      const int64_t take = std::min(remaining, budget);
      if (take <= 0) continue;
      budget -= take;
      any_prefill |= s->num_computed < s->prompt_len;
      chunks.push_back({s, take, take == remaining});
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<const Sequence*> sampled;
    for (const ScheduledChunk& c : chunks)
      if (c.wants_logits) sampled.push_back(c.seq);
    std::vector<int32_t> next;
    if (device_step_ && use_graphs && !any_prefill) {
      Tensor logits = decode_with_graph(chunks);  // [m, vocab] fp32 on the device
      next = device_step_->sample(logits, sampled);
    } else if (device_step_) {
      const layers::ForwardBatch batch =
          device_step_->upload(build_batch(chunks, options_.block_size, table_width_));
      Tensor logits = model_.forward(batch, kv, ctx_);  // [m, vocab] fp32 on the device
      next = device_step_->sample(logits, sampled);
    } else {
      const layers::ForwardBatch host_batch = build_batch(chunks, options_.block_size);
      Tensor logits = model_.forward(host_batch, kv, ctx_);  // [m, vocab]
      for (size_t r = 0; r < sampled.size(); ++r) {
        Sequence& s = *const_cast<Sequence*>(sampled[r]);
        next.push_back(choose_token(logits.data<float>() + r * spec.vocab_size, spec.vocab_size,
                                    s.params, s.tokens, s.num_generated(), s.rng));
      }
    }
    size_t row = 0;
    for (const ScheduledChunk& c : chunks) {
      Sequence& s = *c.seq;
      s.num_computed += c.num_tokens;
      if (!c.wants_logits) continue;
      const int32_t tok = next[row++];
      s.tokens.push_back(tok);
      const bool eos = std::find(s.params.eos_token_ids.begin(), s.params.eos_token_ids.end(),
                                 tok) != s.params.eos_token_ids.end();
      if (eos || s.num_generated() >= s.max_new) {
        s.finished = true;
        results[s.id] = {s.generated(), eos ? "stop" : "length"};
        for (int32_t b : s.blocks) cache.blocks().release(b);
        s.blocks.clear();
      }
    }
    const double dt =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    (any_prefill ? st.prefill_seconds : st.decode_seconds) += dt;
    ++(any_prefill ? st.prefill_steps : st.decode_steps);
    if (st.first_token_seconds == 0 && !next.empty())
      st.first_token_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++st.steps;
    std::erase_if(running, [](const Sequence* s) { return s->finished; });
  }
  for (const Sequence& s : seqs) {
    st.prompt_tokens += s.prompt_len;
    st.generated_tokens += s.num_generated();
  }
  if (stats) *stats = st;
  return results;
}

}  // namespace kiln::runtime
