#include "runtime/step_runner.h"

#include <algorithm>

#include "core/check.h"
#include "core/env.h"
#include "ops/ops.h"

namespace kiln::runtime {

int64_t decode_key_bound(int64_t max_kv_len, int64_t capacity) {
  KILN_CHECK(max_kv_len <= capacity, "decode step: {} keys exceed the block table's {}", max_kv_len,
             capacity);
  int64_t bound = kMinKeyBound;
  while (bound < max_kv_len) bound *= 2;
  return std::min(bound, capacity);
}

StepRunner::~StepRunner() = default;

StepRunner::StepRunner(models::Model& model, const StepRunnerOptions& options, ExecContext& ctx)
    : model_(model), options_(options), ctx_(ctx) {
  KILN_CHECK(options_.max_batch_size > 0, "max_batch_size must be positive");
  KILN_CHECK(options_.max_num_tokens >= options_.max_batch_size,
             "max_num_tokens ({}) must be >= max_batch_size ({})", options_.max_num_tokens,
             options_.max_batch_size);
  KILN_CHECK(options_.block_size > 0, "tokens_per_block must be positive");
  KILN_CHECK(options_.num_blocks > 0, "the KV cache needs at least one block");
  model_.reserve(options_.max_num_tokens, options_.max_batch_size);
  const models::ModelSpec& spec = model_.spec();
  const bool graphs = ops::graphs_supported(ctx_) && options_.cuda_graphs;
  KvCacheShape shape;
  shape.num_layers = spec.num_layers;
  shape.num_kv_heads = spec.num_kv_heads;
  shape.head_dim = spec.head_dim;
  shape.block_size = options_.block_size;
  shape.num_blocks = static_cast<int>(options_.num_blocks + (graphs ? 1 : 0));
  shape.dtype = spec.dtype;
  cache_ = std::make_unique<KvCache>(shape, ctx_.allocator);
  scratch_block_ = graphs ? cache_->blocks().allocate() : -1;
  // Every layer's K and V pool base address and (src, dst) staging for the batched block copies.
  {
    layers::KvCacheView kv = cache_->view();
    Tensor addrs = Tensor::empty({2 * static_cast<int64_t>(kv.k.size())}, DType::kInt64);
    for (size_t l = 0; l < kv.k.size(); ++l) {
      addrs.data<int64_t>()[2 * l] = reinterpret_cast<int64_t>(kv.k[l].raw());
      addrs.data<int64_t>()[2 * l + 1] = reinterpret_cast<int64_t>(kv.v[l].raw());
    }
    block_bytes_ = kv.k.empty() ? 0 : static_cast<int64_t>(kv.k[0].nbytes() / kv.k[0].size(0));
    pool_addresses_ =
        ctx_.device.is_cuda() ? ops::to_device(addrs, DType::kInt64, ctx_.allocator, ctx_) : addrs;
    const int64_t max_pairs = shape.num_blocks;  // a block is a copy's destination once per step
    copy_pairs_host_ =
        Tensor::empty({max_pairs, 2}, DType::kInt32,
                      ctx_.device.is_cuda() ? ops::pinned_allocator() : cpu_allocator());
    if (ctx_.device.is_cuda())
      copy_pairs_device_ = Tensor::empty({max_pairs, 2}, DType::kInt32, ctx_.allocator);
  }
  table_width_ = cache_->blocks_for(spec.max_positions);
  if (spec.encoder_decoder) {
    KILN_CHECK(spec.max_encoder_positions > 0, "{}: no encoder positions", spec.model_type);
    cross_table_width_ = cache_->blocks_for(spec.max_encoder_positions);
  }
  if (ctx_.device.is_cuda()) {
    const int64_t enc_width =
        (spec.max_encoder_positions + kEncoderScratchBlock - 1) / kEncoderScratchBlock;
    device_step_ =
        std::make_unique<DeviceStep>(options_.max_num_tokens, options_.max_batch_size, table_width_,
                                     spec.max_positions, ctx_, cross_table_width_, enc_width);
    host_logits_ = Tensor::empty({options_.max_batch_size, spec.vocab_size}, DType::kFloat32,
                                 ops::pinned_allocator());
  }
}

void StepRunner::copy_blocks(const std::vector<BlockCopy>& copies) {
  if (copies.empty()) return;
  const int64_t n = static_cast<int64_t>(copies.size());
  KILN_CHECK(n <= copy_pairs_host_.size(0), "{} block copies in one step, staging holds {}", n,
             copy_pairs_host_.size(0));
  if (device_step_) ops::synchronize(ctx_);  // the previous step's copy may still read staging
  int32_t* p = copy_pairs_host_.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    p[2 * i] = copies[i].src;
    p[2 * i + 1] = copies[i].dst;
  }
  Tensor pairs = copy_pairs_host_.slice(0, 0, n);
  if (device_step_) {
    Tensor dev = copy_pairs_device_.slice(0, 0, n);
    ops::copy(pairs, dev, ctx_);
    pairs = dev;
  }
  ops::copy_blocks(pool_addresses_, pairs, block_bytes_, ctx_);
}

Tensor StepRunner::decode_with_graph(std::vector<ScheduledChunk>& chunks) {
  int64_t bucket = 1;
  while (bucket < static_cast<int64_t>(chunks.size())) bucket *= 2;
  bucket = std::min(bucket, options_.max_batch_size);
  // Padding rows: a one-token sequence in the scratch block (it attends only to itself).
  std::vector<Sequence> pad(bucket - chunks.size());
  for (Sequence& p : pad) {
    p.tokens = {0};
    p.blocks = {scratch_block_};
    if (cross_table_width_ > 0) {  // and an encoder output of one token, in the same block
      p.encoder_tokens = {0};
      p.cross_blocks = {scratch_block_};
      p.cross_ready = true;
    }
    chunks.push_back({&p, 1, true});
  }
  layers::ForwardBatch host =
      build_batch(chunks, options_.block_size, table_width_, cross_table_width_);
  chunks.resize(chunks.size() - pad.size());
  // Launch arguments must not change between replays: the keys are bounded by a power of two
  // (>= kMinKeyBound) above the batch's longest context, capped by the table's capacity, and each
  // bound has its own graph. The bound sizes the decode attention's split-K grid: sized for the
  // capacity instead, a short context leaves most CTAs with nothing to do (gpt2-xl at batch 64:
  // 6,400 of 8,000 per layer) and a split combine where one split would do.
  // KILN_GRAPH_KEY_BOUND=0: every graph sized for the capacity, as before (A/B measurements).
  static const bool bounded = !switched_off("KILN_GRAPH_KEY_BOUND");
  const int64_t capacity = table_width_ * options_.block_size;
  host.attn.max_kv_len = bounded ? decode_key_bound(host.attn.max_kv_len, capacity) : capacity;
  if (cross_table_width_ > 0) host.cross.max_kv_len = cross_table_width_ * options_.block_size;
  const layers::ForwardBatch batch = device_step_->upload(host);
  layers::KvCacheView kv = cache_->view();
  const std::pair<int64_t, int64_t> key{bucket, host.attn.max_kv_len};
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    model_.forward(batch, kv, ctx_);  // warm-up: kernel and GEMM algorithm selection
    DecodeGraph g;
    g.graph.capture(ctx_, [&] { g.logits = model_.forward(batch, kv, ctx_); });
    it = graphs_.emplace(key, std::move(g)).first;
  }
  it->second.graph.launch(ctx_);
  return it->second.logits.slice(0, 0, static_cast<int64_t>(chunks.size()));
}

void StepRunner::encode(const std::vector<ScheduledChunk>& chunks) {
  std::vector<Sequence*> pending;
  for (const ScheduledChunk& c : chunks)
    if (c.seq->needs_encoding()) pending.push_back(c.seq);
  if (pending.empty()) return;
  const std::vector<const Sequence*> seqs(pending.begin(), pending.end());
  layers::KvCacheView kv = cache_->view();
  const layers::EncoderBatch host = build_encoder_batch(seqs, options_.block_size);
  if (device_step_) {
    model_.encode(device_step_->upload(host), kv, ctx_);
  } else {
    model_.encode(host, kv, ctx_);
  }
  for (Sequence* s : pending) s->cross_ready = true;
}

Tensor StepRunner::forward(std::vector<ScheduledChunk>& chunks, bool decode_only) {
  encode(chunks);
  layers::KvCacheView kv = cache_->view();
  if (!device_step_) return model_.forward(build_batch(chunks, options_.block_size), kv, ctx_);
  if (decode_only && scratch_block_ >= 0) return decode_with_graph(chunks);
  const layers::ForwardBatch batch = device_step_->upload(
      build_batch(chunks, options_.block_size, table_width_, cross_table_width_));
  return model_.forward(batch, kv, ctx_);
}

std::vector<int32_t> StepRunner::sample_on_device(Tensor& logits,
                                                  const std::vector<const Sequence*>& seqs) {
  KILN_CHECK(device_step_, "sample_on_device needs a GPU model");
  return device_step_->sample(logits, seqs);
}

DeviceStep::BeamCandidates StepRunner::beam_candidates_on_device(
    const Tensor& logits, const std::vector<int32_t>& rows, const std::vector<int32_t>& mask_ids,
    int64_t mask_width, int64_t k) {
  KILN_CHECK(device_step_, "beam_candidates_on_device needs a GPU model");
  return device_step_->beam_candidates(logits, rows, mask_ids, mask_width, k);
}

std::pair<double, int64_t> StepRunner::take_graph_time() {
  std::pair<double, int64_t> t{0.0, 0};
  for (auto& [key, g] : graphs_) {
    const auto [s, n] = g.graph.take_device_time();
    t.first += s;
    t.second += n;
  }
  return t;
}

Tensor StepRunner::logits_on_host(const Tensor& logits) {
  if (!device_step_) return logits;
  Tensor dst = host_logits_.slice(0, 0, logits.size(0));
  ops::copy(logits, dst, ctx_);
  ops::synchronize(ctx_);
  return dst;
}

}  // namespace kiln::runtime
