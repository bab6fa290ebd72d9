#include "runtime/batch_builder.h"

#include <algorithm>

#include "core/check.h"

namespace kiln::runtime {

layers::ForwardBatch build_batch(const std::vector<ScheduledChunk>& chunks, int block_size,
                                 int64_t table_width) {
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
  return b;
}

}  // namespace kiln::runtime
