#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void rotary_embedding(Tensor& x, const Tensor& positions, const Tensor& inv_freq, int num_heads,
                      int head_dim, int rotary_dim, bool interleaved, float attention_scaling,
                      ExecContext& ctx) {
  constexpr const char* op = "rotary_embedding";
  KILN_CHECK(x.dim() == 2, "{}: x must be [n, row_width], got {}", op, x.shape_str());
  require_contiguous(op, x, "x");
  KILN_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim,
             "{}: rotary_dim {} must be even and in (0, head_dim {}]", op, rotary_dim, head_dim);
  KILN_CHECK(static_cast<int64_t>(num_heads) * head_dim <= x.size(1),
             "{}: {} heads of {} do not fit a row of {}", op, num_heads, head_dim, x.size(1));
  require_shape(op, positions, {x.size(0)}, "positions");
  require_shape(op, inv_freq, {rotary_dim / 2}, "inv_freq");
  KILN_CHECK(positions.dtype() == DType::kInt32 && inv_freq.dtype() == DType::kFloat32,
             "{}: positions must be int32 and inv_freq float32", op);
  KILN_CHECK(positions.device() == x.device() && inv_freq.device() == x.device(),
             "{}: positions and inv_freq must be on x's device", op);
  require_cuda_built(op, x);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::rotary_embedding<T>(x.data<T>(), positions.data<int32_t>(), inv_freq.data<float>(),
                                x.size(0), x.size(1), num_heads, head_dim, rotary_dim,
                                interleaved, attention_scaling, nullptr, nullptr, 0, 1,
                                stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  cpu::rotary_embedding(x.data<float>(), positions.data<int32_t>(), inv_freq.data<float>(),
                        x.size(0), x.size(1), num_heads, head_dim, rotary_dim, interleaved,
                        attention_scaling);
}

void rotary_embedding_table(Tensor& x, const Tensor& positions, const Tensor& inv_freq_table,
                            const Tensor& token_seq, const Tensor& seq_len, int64_t base_len,
                            int num_heads, int head_dim, int rotary_dim, bool interleaved,
                            float attention_scaling, ExecContext& ctx) {
  constexpr const char* op = "rotary_embedding_table";
  KILN_CHECK(x.dim() == 2, "{}: x must be [n, row_width], got {}", op, x.shape_str());
  require_contiguous(op, x, "x");
  KILN_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim,
             "{}: rotary_dim {} must be even and in (0, head_dim {}]", op, rotary_dim, head_dim);
  KILN_CHECK(static_cast<int64_t>(num_heads) * head_dim <= x.size(1),
             "{}: {} heads of {} do not fit a row of {}", op, num_heads, head_dim, x.size(1));
  KILN_CHECK(inv_freq_table.dim() == 2 && inv_freq_table.size(1) == rotary_dim / 2 &&
                 inv_freq_table.size(0) >= 1 && inv_freq_table.dtype() == DType::kFloat32,
             "{}: inv_freq_table must be float32 [rows, {}], got {}", op, rotary_dim / 2,
             inv_freq_table.shape_str());
  require_shape(op, positions, {x.size(0)}, "positions");
  require_shape(op, token_seq, {x.size(0)}, "token_seq");
  KILN_CHECK(positions.dtype() == DType::kInt32 && token_seq.dtype() == DType::kInt32 &&
                 seq_len.dtype() == DType::kInt32 && seq_len.dim() == 1,
             "{}: positions, token_seq and seq_len must be int32 vectors", op);
  for (const Tensor* t : {&positions, &inv_freq_table, &token_seq, &seq_len})
    KILN_CHECK(t->device() == x.device(), "{}: every tensor must be on x's device", op);
  require_cuda_built(op, x);
  const int64_t rows = inv_freq_table.size(0);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::rotary_embedding<T>(x.data<T>(), positions.data<int32_t>(),
                                inv_freq_table.data<float>(), x.size(0), x.size(1), num_heads,
                                head_dim, rotary_dim, interleaved, attention_scaling,
                                token_seq.data<int32_t>(), seq_len.data<int32_t>(), base_len, rows,
                                stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  for (int64_t t = 0; t < token_seq.numel(); ++t)
    KILN_CHECK(token_seq.data<int32_t>()[t] >= 0 && token_seq.data<int32_t>()[t] < seq_len.numel(),
               "{}: token {} names sequence {} of {}", op, t, token_seq.data<int32_t>()[t],
               seq_len.numel());
  cpu::rotary_embedding(x.data<float>(), positions.data<int32_t>(), inv_freq_table.data<float>(),
                        x.size(0), x.size(1), num_heads, head_dim, rotary_dim, interleaved,
                        attention_scaling,
                        {token_seq.data<int32_t>(), seq_len.data<int32_t>(), base_len, rows});
}

}  // namespace kiln::ops
