#include "runtime/device_step.h"

#include <algorithm>
#include <cstring>

#include "ops/ops.h"

namespace kiln::runtime {
namespace {

// Sequential int32 carving of a staging buffer and its device twin.
class Packer {
 public:
  Packer(Tensor& host, Tensor& device) : host_(host), device_(device) {}
  // Copies src (int32 or 4-byte elements) in; returns the device view.
  Tensor put(const Tensor& src, DType dtype = DType::kInt32) {
    const int64_t words = static_cast<int64_t>(src.nbytes() / 4);
    KILN_CHECK(offset_ + words <= host_.numel(), "device step staging overflow");
    if (words) std::memcpy(host_.data<int32_t>() + offset_, src.raw(), src.nbytes());
    Tensor d = device_.slice(0, offset_, offset_ + words);
    offset_ += (words + 63) / 64 * 64;  // 256-byte aligned views
    return Tensor::borrow(d.raw(), src.shape(), dtype, device_.device());
  }
  int64_t words() const { return offset_; }

 private:
  Tensor& host_;
  Tensor& device_;
  int64_t offset_ = 0;
};

// A whole attention metadata set through the staging area: the device views, same max lengths.
ops::AttentionMeta put_meta(Packer& p, const ops::AttentionMeta& h) {
  ops::AttentionMeta d = h;
  d.token_seq = p.put(h.token_seq);
  d.kv_len = p.put(h.kv_len);
  d.block_tables = p.put(h.block_tables);
  d.cu_seqlens = p.put(h.cu_seqlens);
  d.seq_kv_len = p.put(h.seq_kv_len);
  return d;
}

Tensor host_vec(const void* data, int64_t count, DType dtype) {
  Tensor t = Tensor::empty({count}, dtype);
  if (count) std::memcpy(t.raw(), data, count * dtype_size(dtype));
  return t;
}

}  // namespace

DeviceStep::DeviceStep(int64_t max_tokens, int64_t max_seqs, int64_t table_width,
                       int64_t max_positions, ExecContext& ctx, int64_t cross_table_width,
                       int64_t encoder_table_width)
    : max_tokens_(max_tokens),
      max_seqs_(max_seqs),
      table_width_(table_width),
      max_positions_(max_positions),
      cross_table_width_(cross_table_width),
      encoder_table_width_(encoder_table_width),
      ctx_(ctx) {
  // 5 per-token arrays, 3 per-sequence, the block table, logit rows; 64-word alignment each;
  // enc-dec: cross kv_len per token, seq_kv_len and the cross table per sequence.
  const int64_t words =
      6 * max_tokens + (4 + table_width + cross_table_width) * max_seqs + 64 * 20 + 4;
  host_buf_ = Tensor::empty({words}, DType::kInt32, ops::pinned_allocator());
  device_buf_ = Tensor::empty({words}, DType::kInt32, ctx.allocator);
  if (cross_table_width > 0) {
    // ids, positions, scratch slots, cross slots, token_seq, kv_len; cu_seqlens, seq_kv_len and
    // the scratch table per sequence.
    const int64_t enc_words = 6 * max_tokens + (3 + encoder_table_width) * max_seqs + 64 * 16 + 4;
    enc_host_ = Tensor::empty({enc_words}, DType::kInt32, ops::pinned_allocator());
    enc_device_ = Tensor::empty({enc_words}, DType::kInt32, ctx.allocator);
  }
  const int64_t sample_words = (10 + kMaxEndIds + max_positions) * max_seqs + 64 * 12 + 4;
  sample_host_ = Tensor::empty({sample_words}, DType::kInt32, ops::pinned_allocator());
  sample_device_ = Tensor::empty({sample_words}, DType::kInt32, ctx.allocator);
  ids_host_ = Tensor::empty({max_seqs}, DType::kInt32, ops::pinned_allocator());
  ids_device_ = Tensor::empty({max_seqs}, DType::kInt32, ctx.allocator);
  const int64_t beam_words = (1 + kMaxBeamMask) * max_seqs + 64 * 2;
  beam_host_ = Tensor::empty({beam_words}, DType::kInt32, ops::pinned_allocator());
  beam_device_ = Tensor::empty({beam_words}, DType::kInt32, ctx.allocator);
  const int64_t cands = max_seqs * ops::kMaxBeamCandidates;
  cand_lp_device_ = Tensor::empty({cands}, DType::kFloat32, ctx.allocator);
  cand_tok_device_ = Tensor::empty({cands}, DType::kInt32, ctx.allocator);
  cand_lp_host_ = Tensor::empty({cands}, DType::kFloat32, ops::pinned_allocator());
  cand_tok_host_ = Tensor::empty({cands}, DType::kInt32, ops::pinned_allocator());
}

layers::ForwardBatch DeviceStep::upload(const layers::ForwardBatch& h) {
  KILN_CHECK(h.num_tokens() <= max_tokens_ && h.attn.block_tables.size(0) <= max_seqs_ &&
                 h.attn.block_tables.size(1) == table_width_,
             "device step: batch of {} tokens / {} sequences exceeds the configured capacity",
             h.num_tokens(), h.attn.block_tables.size(0));
  ops::synchronize(ctx_);  // the previous step may still read the staging buffer
  Packer p(host_buf_, device_buf_);
  layers::ForwardBatch d;
  d.input_ids = p.put(h.input_ids);
  d.positions = p.put(h.positions);
  d.slots = p.put(h.slots);
  d.attn = put_meta(p, h.attn);
  d.logit_rows = p.put(h.logit_rows);
  if (h.cross.block_tables.defined()) {
    KILN_CHECK(h.cross.block_tables.size(1) == cross_table_width_,
               "device step: cross-attention table width {} (configured {})",
               h.cross.block_tables.size(1), cross_table_width_);
    d.cross = h.cross;
    d.cross.token_seq = d.attn.token_seq;
    d.cross.cu_seqlens = d.attn.cu_seqlens;
    d.cross.kv_len = p.put(h.cross.kv_len);
    d.cross.seq_kv_len = p.put(h.cross.seq_kv_len);
    d.cross.block_tables = p.put(h.cross.block_tables);
  }
  Tensor src = host_buf_.slice(0, 0, p.words()), dst = device_buf_.slice(0, 0, p.words());
  ops::copy(src, dst, ctx_);
  return d;
}

layers::EncoderBatch DeviceStep::upload(const layers::EncoderBatch& h) {
  KILN_CHECK(enc_host_.defined(), "device step: not configured for an encoder");
  KILN_CHECK(h.num_tokens() <= max_tokens_ && h.attn.block_tables.size(0) <= max_seqs_ &&
                 h.attn.block_tables.size(1) <= encoder_table_width_,
             "device step: encoder batch of {} tokens / {} sequences exceeds the configured "
             "capacity",
             h.num_tokens(), h.attn.block_tables.size(0));
  ops::synchronize(ctx_);  // the previous encoder batch may still be read
  Packer p(enc_host_, enc_device_);
  layers::EncoderBatch d = h;
  d.input_ids = p.put(h.input_ids);
  d.positions = p.put(h.positions);
  d.scratch_slots = p.put(h.scratch_slots);
  d.cross_slots = p.put(h.cross_slots);
  d.attn = put_meta(p, h.attn);
  Tensor src = enc_host_.slice(0, 0, p.words()), dst = enc_device_.slice(0, 0, p.words());
  ops::copy(src, dst, ctx_);
  return d;
}

std::vector<int32_t> banned_end_ids(const std::vector<const Sequence*>& seqs, int64_t* width) {
  std::vector<std::vector<int32_t>> rows(seqs.size());
  *width = 1;
  for (size_t r = 0; r < seqs.size(); ++r) {
    if (seqs[r]->num_generated() < seqs[r]->params.min_new_tokens)
      rows[r] = seqs[r]->params.end_ids();
    *width = std::max<int64_t>(*width, static_cast<int64_t>(rows[r].size()));
  }
  std::vector<int32_t> out(seqs.size() * static_cast<size_t>(*width), -1);
  for (size_t r = 0; r < seqs.size(); ++r)
    std::copy(rows[r].begin(), rows[r].end(), out.begin() + r * static_cast<size_t>(*width));
  return out;
}

std::vector<int32_t> DeviceStep::sample(Tensor& logits, const std::vector<const Sequence*>& seqs) {
  const int64_t rows = static_cast<int64_t>(seqs.size());
  KILN_CHECK(rows == logits.size(0) && rows <= max_seqs_, "device step: {} rows for {} sequences",
             logits.size(0), rows);
  std::vector<float> temperature(rows), top_p(rows), penalty(rows);
  std::vector<int32_t> top_k(rows), step(rows), offsets(rows + 1, 0), history;
  std::vector<int64_t> seed(rows);
  std::vector<uint8_t> do_sample(rows);
  int64_t max_eos = 1;
  const std::vector<int32_t> eos = banned_end_ids(seqs, &max_eos);
  KILN_CHECK(max_eos <= kMaxEndIds, "at most {} end token ids per request on the GPU sampler",
             kMaxEndIds);
  for (int64_t r = 0; r < rows; ++r) {
    const SamplingParams& sp = seqs[r]->params;
    temperature[r] = sp.temperature;
    top_p[r] = sp.top_p;
    penalty[r] = sp.repetition_penalty;
    top_k[r] = static_cast<int32_t>(sp.top_k);
    step[r] = static_cast<int32_t>(seqs[r]->num_generated());
    seed[r] = static_cast<int64_t>(sp.seed);
    do_sample[r] = sp.do_sample ? 1 : 0;
    if (sp.repetition_penalty != 1.f)
      history.insert(history.end(), seqs[r]->tokens.begin(), seqs[r]->tokens.end());
    offsets[r + 1] = static_cast<int32_t>(history.size());
  }
  // Sampling parameters ride in a staging area of their own, allocated once.
  Packer p(sample_host_, sample_device_);
  ops::SamplingTensors t;
  t.temperature = p.put(host_vec(temperature.data(), rows, DType::kFloat32), DType::kFloat32);
  t.top_p = p.put(host_vec(top_p.data(), rows, DType::kFloat32), DType::kFloat32);
  t.repetition_penalty = p.put(host_vec(penalty.data(), rows, DType::kFloat32), DType::kFloat32);
  t.top_k = p.put(host_vec(top_k.data(), rows, DType::kInt32));
  t.step = p.put(host_vec(step.data(), rows, DType::kInt32));
  t.seed = p.put(host_vec(seed.data(), rows, DType::kInt64), DType::kInt64);
  // uint8 flags padded to whole words
  std::vector<int32_t> flags((rows + 3) / 4, 0);
  std::memcpy(flags.data(), do_sample.data(), rows);
  Tensor fl = p.put(host_vec(flags.data(), static_cast<int64_t>(flags.size()), DType::kInt32));
  t.do_sample = Tensor::borrow(fl.raw(), {rows}, DType::kUInt8, fl.device());
  t.history_ids =
      p.put(host_vec(history.data(), static_cast<int64_t>(history.size()), DType::kInt32));
  t.history_offsets = p.put(host_vec(offsets.data(), rows + 1, DType::kInt32));
  t.eos_mask = p.put(host_vec(eos.data(), rows * max_eos, DType::kInt32)).view({rows, max_eos});
  Tensor hsrc = sample_host_.slice(0, 0, p.words()), hdst = sample_device_.slice(0, 0, p.words());
  ops::copy(hsrc, hdst, ctx_);
  Tensor ids = ids_device_.slice(0, 0, rows);
  ops::sample(logits, t, ids, ctx_);
  Tensor ids_h = ids_host_.slice(0, 0, rows);
  ops::copy(ids, ids_h, ctx_);
  ops::synchronize(ctx_);
  return {ids_h.data<int32_t>(), ids_h.data<int32_t>() + rows};
}

DeviceStep::BeamCandidates DeviceStep::beam_candidates(const Tensor& logits,
                                                       const std::vector<int32_t>& rows,
                                                       const std::vector<int32_t>& mask_ids,
                                                       int64_t mask_width, int64_t k) {
  const int64_t n = static_cast<int64_t>(rows.size());
  KILN_CHECK(n <= max_seqs_ && mask_width >= 1 && mask_width <= kMaxBeamMask &&
                 static_cast<int64_t>(mask_ids.size()) == n * mask_width && k >= 1 &&
                 k <= ops::kMaxBeamCandidates,
             "device step: beam candidates for {} rows, mask width {}, k {} exceed the staging "
             "({} rows, {} mask ids, k <= {})",
             n, mask_width, k, max_seqs_, kMaxBeamMask, ops::kMaxBeamCandidates);
  // The previous call's copies have completed (it synchronised); the staging is free.
  Packer p(beam_host_, beam_device_);
  const Tensor row_ids = p.put(host_vec(rows.data(), n, DType::kInt32));
  const Tensor masks =
      p.put(host_vec(mask_ids.data(), n * mask_width, DType::kInt32)).view({n, mask_width});
  Tensor src = beam_host_.slice(0, 0, p.words()), dst = beam_device_.slice(0, 0, p.words());
  ops::copy(src, dst, ctx_);
  Tensor lp = cand_lp_device_.slice(0, 0, n * k).view({n, k});
  Tensor tok = cand_tok_device_.slice(0, 0, n * k).view({n, k});
  ops::beam_candidates(logits, row_ids, masks, k, lp, tok, ctx_);
  BeamCandidates out{cand_lp_host_.slice(0, 0, n * k).view({n, k}),
                     cand_tok_host_.slice(0, 0, n * k).view({n, k})};
  ops::copy(lp, out.logprobs, ctx_);
  ops::copy(tok, out.tokens, ctx_);
  ops::synchronize(ctx_);
  return out;
}

}  // namespace kiln::runtime
