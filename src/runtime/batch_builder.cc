#include "runtime/batch_builder.h"

#include <algorithm>

#include "core/check.h"

namespace kiln::runtime {

namespace {

// Block tables [seqs, width] of the given block lists (width 0: the longest list).
Tensor block_table(const std::vector<const std::vector<int32_t>*>& lists, int64_t width,
                   const char* what) {
  size_t widest = 1;
  for (const auto* l : lists) widest = std::max(widest, l->size());
  if (width > 0) {
    KILN_CHECK(static_cast<int64_t>(widest) <= width,
               "a sequence holds {} {} blocks, more than the table width {}", widest, what, width);
  } else {
    width = static_cast<int64_t>(widest);
  }
  Tensor t = Tensor::zeros({static_cast<int64_t>(lists.size()), width}, DType::kInt32);
  for (size_t s = 0; s < lists.size(); ++s)
    std::copy(lists[s]->begin(), lists[s]->end(), t.data<int32_t>() + s * width);
  return t;
}

// Cross-attention metadata of the packed decoder tokens: every token sees its sequence's whole
// encoder output.
ops::AttentionMeta cross_meta(const std::vector<ScheduledChunk>& chunks, const ops::AttentionMeta& self,
                              int64_t n, int64_t width) {
  ops::AttentionMeta a;
  a.causal = false;
  std::vector<const std::vector<int32_t>*> lists;
  for (const ScheduledChunk& c : chunks) {
    KILN_CHECK(c.seq->is_encoder_decoder() && !c.seq->cross_blocks.empty(),
               "sequence {} has no cross-attention blocks", c.seq->id);
    lists.push_back(&c.seq->cross_blocks);
  }
  a.block_tables = block_table(lists, width, "cross-attention");
  a.token_seq = self.token_seq;
  a.cu_seqlens = self.cu_seqlens;
  a.kv_len = Tensor::empty({n}, DType::kInt32);
  a.seq_kv_len = Tensor::empty({static_cast<int64_t>(chunks.size())}, DType::kInt32);
  a.max_q_len = self.max_q_len;
  const int32_t* tseq = self.token_seq.data<int32_t>();
  for (size_t s = 0; s < chunks.size(); ++s) {
    const int64_t len = static_cast<int64_t>(chunks[s].seq->encoder_tokens.size());
    a.seq_kv_len.data<int32_t>()[s] = static_cast<int32_t>(len);
    a.max_kv_len = std::max(a.max_kv_len, len);
  }
  for (int64_t t = 0; t < n; ++t) a.kv_len.data<int32_t>()[t] = a.seq_kv_len.data<int32_t>()[tseq[t]];
  return a;
}

}  // namespace

layers::EncoderBatch build_encoder_batch(const std::vector<const Sequence*>& seqs,
                                         int block_size) {
  constexpr int64_t sb = kEncoderScratchBlock;
  int64_t n = 0, scratch = 0;
  for (const Sequence* s : seqs) {
    const int64_t len = static_cast<int64_t>(s->encoder_tokens.size());
    KILN_CHECK(len > 0, "sequence {} has no encoder input", s->id);
    KILN_CHECK(static_cast<int64_t>(s->cross_blocks.size()) * block_size >= len,
               "sequence {} holds {} cross blocks for {} encoder tokens", s->id,
               s->cross_blocks.size(), len);
    n += len;
    scratch += (len + sb - 1) / sb;
  }
  const int64_t num_seqs = static_cast<int64_t>(seqs.size());
  layers::EncoderBatch b;
  b.block_size = sb;
  b.scratch_blocks = std::max<int64_t>(scratch, 1);
  b.input_ids = Tensor::empty({n}, DType::kInt32);
  b.positions = Tensor::empty({n}, DType::kInt32);
  b.scratch_slots = Tensor::empty({n}, DType::kInt32);
  b.cross_slots = Tensor::empty({n}, DType::kInt32);
  ops::AttentionMeta& a = b.attn;
  a.causal = false;
  a.token_seq = Tensor::empty({n}, DType::kInt32);
  a.kv_len = Tensor::empty({n}, DType::kInt32);
  a.cu_seqlens = Tensor::empty({num_seqs + 1}, DType::kInt32);
  a.seq_kv_len = Tensor::empty({num_seqs}, DType::kInt32);
  int64_t width = 1;
  for (const Sequence* s : seqs)
    width = std::max<int64_t>(width, (static_cast<int64_t>(s->encoder_tokens.size()) + sb - 1) / sb);
  a.block_tables = Tensor::zeros({num_seqs, width}, DType::kInt32);
  int32_t* cu = a.cu_seqlens.data<int32_t>();
  cu[0] = 0;
  int64_t t = 0, next_block = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const Sequence& seq = *seqs[s];
    const int64_t len = static_cast<int64_t>(seq.encoder_tokens.size());
    const int64_t first = next_block;
    for (int64_t j = 0; j < (len + sb - 1) / sb; ++j)
      a.block_tables.data<int32_t>()[s * width + j] = static_cast<int32_t>(next_block++);
    cu[s + 1] = static_cast<int32_t>(cu[s] + len);
    a.seq_kv_len.data<int32_t>()[s] = static_cast<int32_t>(len);
    a.max_q_len = std::max(a.max_q_len, len);
    a.max_kv_len = std::max(a.max_kv_len, len);
    for (int64_t p = 0; p < len; ++p, ++t) {
      b.input_ids.data<int32_t>()[t] = seq.encoder_tokens[p];
      b.positions.data<int32_t>()[t] = static_cast<int32_t>(p);
      b.scratch_slots.data<int32_t>()[t] = static_cast<int32_t>((first + p / sb) * sb + p % sb);
      b.cross_slots.data<int32_t>()[t] =
          seq.cross_blocks[p / block_size] * block_size + static_cast<int32_t>(p % block_size);
      a.token_seq.data<int32_t>()[t] = static_cast<int32_t>(s);
      a.kv_len.data<int32_t>()[t] = static_cast<int32_t>(len);
    }
  }
  return b;
}

layers::ForwardBatch build_batch(const std::vector<ScheduledChunk>& chunks, int block_size,
                                 int64_t table_width, int64_t cross_table_width) {
  int64_t n = 0, m = 0;
  size_t max_blocks = 1;
  for (const ScheduledChunk& c : chunks) {
    n += c.num_tokens;
    m += c.wants_logits ? 1 : 0;
    max_blocks = std::max(max_blocks, c.seq->blocks.size());
  }
  if (table_width > 0) {
    KILN_CHECK(static_cast<int64_t>(max_blocks) <= table_width,
               "a sequence holds {} KV blocks, more than the table width {}", max_blocks,
               table_width);
    max_blocks = static_cast<size_t>(table_width);
  }
  const int64_t num_seqs = static_cast<int64_t>(chunks.size());
  layers::ForwardBatch b;
  b.input_ids = Tensor::empty({n}, DType::kInt32);
  b.positions = Tensor::empty({n}, DType::kInt32);
  b.slots = Tensor::empty({n}, DType::kInt32);
  ops::AttentionMeta& a = b.attn;
  a.token_seq = Tensor::empty({n}, DType::kInt32);
  a.kv_len = Tensor::empty({n}, DType::kInt32);
  a.block_tables = Tensor::zeros({num_seqs, static_cast<int64_t>(max_blocks)}, DType::kInt32);
  a.cu_seqlens = Tensor::empty({num_seqs + 1}, DType::kInt32);
  a.seq_kv_len = Tensor::empty({num_seqs}, DType::kInt32);
  b.logit_rows = Tensor::empty({m}, DType::kInt32);
  int32_t* ids = b.input_ids.data<int32_t>();
  int32_t* pos = b.positions.data<int32_t>();
  int32_t* slots = b.slots.data<int32_t>();
  int32_t* tseq = a.token_seq.data<int32_t>();
  int32_t* kvl = a.kv_len.data<int32_t>();
  int32_t* cu = a.cu_seqlens.data<int32_t>();
  int32_t* skv = a.seq_kv_len.data<int32_t>();
  int32_t* rows = b.logit_rows.data<int32_t>();
  int64_t t = 0, r = 0;
  cu[0] = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const ScheduledChunk& c = chunks[s];
    const Sequence& seq = *c.seq;
    std::copy(seq.blocks.begin(), seq.blocks.end(), a.block_tables.data<int32_t>() + s * max_blocks);
    cu[s + 1] = static_cast<int32_t>(cu[s] + c.num_tokens);
    skv[s] = static_cast<int32_t>(seq.num_computed + c.num_tokens);
    a.max_q_len = std::max(a.max_q_len, c.num_tokens);
    a.max_kv_len = std::max<int64_t>(a.max_kv_len, skv[s]);
    for (int64_t i = 0; i < c.num_tokens; ++i, ++t) {
      const int64_t p = seq.num_computed + i;
      KILN_CHECK(p / block_size < static_cast<int64_t>(seq.blocks.size()),
                 "sequence {} has no KV block for position {}", seq.id, p);
      ids[t] = seq.tokens[p];
      pos[t] = static_cast<int32_t>(p);
      slots[t] = seq.blocks[p / block_size] * block_size + static_cast<int32_t>(p % block_size);
      tseq[t] = static_cast<int32_t>(s);
      kvl[t] = static_cast<int32_t>(p + 1);
    }
    if (c.wants_logits) rows[r++] = static_cast<int32_t>(t - 1);
  }
  if (!chunks.empty() && chunks[0].seq->is_encoder_decoder())
    b.cross = cross_meta(chunks, a, n, cross_table_width);
  return b;
}

}  // namespace kiln::runtime
