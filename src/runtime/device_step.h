// DeviceStep: moves one packed step to the GPU and the chosen tokens back. All int32 metadata is
// packed into one pinned host buffer and sent with ONE copy into a device buffer of fixed
// capacity (fixed addresses, so captured CUDA graphs stay valid); sampling parameters go the same
// way, and only the sampled ids (rows x int32) come back.
#pragma once

#include <vector>

#include "core/exec_context.h"
#include "layers/forward_batch.h"
#include "runtime/sequence.h"

namespace kiln::runtime {

// The ids the GPU sampler bans per row (seqs[i] owns row i): the end ids of rows whose sequence
// has generated fewer than min_new_tokens, -1 padded to [rows, *width] (width >= 1).
std::vector<int32_t> banned_end_ids(const std::vector<const Sequence*>& seqs, int64_t* width);

class DeviceStep {
 public:
  // max_positions bounds each sequence's length (repetition-penalty history). Encoder–decoder
  // models: cross_table_width > 0 is the width of the cross-attention block tables, and
  // encoder_table_width that of the encoder's scratch-pool tables.
  DeviceStep(int64_t max_tokens, int64_t max_seqs, int64_t table_width, int64_t max_positions,
             ExecContext& ctx, int64_t cross_table_width = 0, int64_t encoder_table_width = 0);
  // host: a batch from build_batch (table widths == table_width, cross_table_width). Returns
  // device views.
  layers::ForwardBatch upload(const layers::ForwardBatch& host);
  // host: a batch from build_encoder_batch. Returns device views (a staging area of its own, so
  // the step's decoder batch can follow).
  layers::EncoderBatch upload(const layers::EncoderBatch& host);
  // Samples one token per logits row; seqs[i] owns row i. Blocks until the ids are on the host.
  // Rows still under min_new_tokens have their end ids banned (SamplingParams::end_ids, as the
  // host processors: eos unless ignore_eos, and stop_token_ids); at most kMaxEndIds of them —
  // requests with more take the host sampler (can_ban_end_ids).
  std::vector<int32_t> sample(Tensor& logits, const std::vector<const Sequence*>& seqs);
  static constexpr int64_t kMaxEndIds = 16;
  static bool can_ban_end_ids(const SamplingParams& p) {
    return p.min_new_tokens <= 0 || static_cast<int64_t>(p.end_ids().size()) <= kMaxEndIds;
  }

  // Beam-search candidates (ops::beam_candidates) of logits rows rows[i], with mask_ids
  // [rows, mask_width] (-1 padded) set to -inf, k per row. Only [rows, k] come back; blocks until
  // they are on the host. Returns pinned host views [rows, k] (logprobs fp32, tokens int32),
  // valid until the next call. Staging sized at construction: rows <= max_seqs,
  // mask_width <= kMaxBeamMask, k <= ops::kMaxBeamCandidates.
  static constexpr int64_t kMaxBeamMask = 16;
  struct BeamCandidates {
    Tensor logprobs;  // [rows, k] fp32, host
    Tensor tokens;    // [rows, k] int32, host
  };
  BeamCandidates beam_candidates(const Tensor& logits, const std::vector<int32_t>& rows,
                                 const std::vector<int32_t>& mask_ids, int64_t mask_width,
                                 int64_t k);

 private:
  int64_t max_tokens_, max_seqs_, table_width_, max_positions_, cross_table_width_,
      encoder_table_width_;
  ExecContext& ctx_;
  Tensor host_buf_;         // pinned int32 staging
  Tensor device_buf_;       // int32 on the device
  Tensor enc_host_;         // pinned int32 staging of encoder batches
  Tensor enc_device_;       // int32 on the device
  Tensor sample_host_;      // pinned int32 staging for sampling parameters
  Tensor sample_device_;    // int32 on the device
  Tensor ids_host_;         // pinned [max_seqs] int32
  Tensor ids_device_;       // [max_seqs] int32
  Tensor beam_host_;        // pinned int32 staging: row ids, mask ids
  Tensor beam_device_;      // int32 on the device
  Tensor cand_lp_device_;   // [max_seqs * kMaxBeamCandidates] fp32
  Tensor cand_tok_device_;  // [max_seqs * kMaxBeamCandidates] int32
  Tensor cand_lp_host_;     // pinned twins
  Tensor cand_tok_host_;
};

}  // namespace kiln::runtime
