// CUDA RMSNorm (plain and fused with the residual add), rotary embedding (neox and interleaved,
// partial rotary, YaRN scaling) and gated activation vs their CPU twins × f32/f16/bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cpu/kernels.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;
namespace cpu = kiln::ops::cpu;
using kiln::ops::ActivationKind;

template <class T>
double tol() {
  if constexpr (std::is_same_v<T, float>) return 2e-6;
  if constexpr (std::is_same_v<T, __half>) return 2e-3;
  return 1.5e-2;
}

void sync_ok() {
  cuda_ok(cudaDeviceSynchronize(), "sync");
  cuda_ok(cudaGetLastError(), "last error");
}

template <class T>
class NormRotaryGpu : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};
using Types = ::testing::Types<float, __half, __nv_bfloat16>;
TYPED_TEST_SUITE(NormRotaryGpu, Types);

TYPED_TEST(NormRotaryGpu, RmsNormAndFusedAdd) {
  using T = TypeParam;
  for (int64_t d : {1, 7, 64, 4096, 12289}) {
    for (int64_t rows : {1, 3, 300}) {
      const auto x = round_to<T>(random_vec(rows * d, 3 + d + rows, 2.f, 0.5f));
      const auto delta = round_to<T>(random_vec(rows * d, 4 + d));
      const auto w = round_to<T>(random_vec(d, 5 + d, 0.5f, 1.f));
      std::vector<float> ref(rows * d);
      cpu::rms_norm(ref.data(), x.data(), w.data(), rows, d, 1e-6f);
      DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), dout(rows * d);
      dout.poison();
      cu::rms_norm<T>(dout.get(), nullptr, dx.get(), dw.get(), rows, d, 1e-6f, nullptr);
      sync_ok();
      EXPECT_LE(rel_error(to_float(dout.download()), ref), tol<T>() * 2)
          << type_name<T>() << " d=" << d << " rows=" << rows;
      // Fused: residual x += delta (rounded to T), normalise the stored sum.
      std::vector<float> sum(rows * d), res_ref(x), out_ref(rows * d);
      for (int64_t i = 0; i < rows * d; ++i) sum[i] = x[i] + delta[i];
      sum = round_to<T>(sum);
      cpu::rms_norm(out_ref.data(), sum.data(), w.data(), rows, d, 1e-6f);
      DeviceBuffer<T> dres(to_type<T>(x)), ddelta(to_type<T>(delta)), dout2(rows * d);
      cu::rms_norm<T>(dout2.get(), dres.get(), ddelta.get(), dw.get(), rows, d, 1e-6f, nullptr);
      sync_ok();
      EXPECT_EQ(rel_error(to_float(dres.download()), sum), 0.0) << "residual d=" << d;
      EXPECT_LE(rel_error(to_float(dout2.download()), out_ref), tol<T>() * 2) << "fused d=" << d;
    }
  }
}

TYPED_TEST(NormRotaryGpu, RotaryEmbedding) {
  using T = TypeParam;
  struct Case {
    int hq, hkv, head_dim, rotary_dim;
    bool interleaved;
    float scaling;
  };
  const Case cases[] = {{4, 2, 64, 64, false, 1.f},  {8, 1, 128, 128, false, 1.f},
                        {3, 3, 80, 40, false, 1.f},  {4, 4, 64, 64, true, 1.f},
                        {2, 2, 32, 16, true, 1.f},   {4, 2, 64, 64, false, 1.1386f}};
  for (const Case& c : cases) {
    for (int64_t n : {1, 5, 257}) {
      const int64_t width = static_cast<int64_t>(c.hq + 2 * c.hkv) * c.head_dim;
      const auto x = round_to<T>(random_vec(n * width, 7 + n + c.head_dim, 1.f));
      std::vector<int32_t> pos(n);
      for (int64_t t = 0; t < n; ++t) pos[t] = static_cast<int32_t>((t * 37 + 3) % 9000);
      std::vector<float> inv(c.rotary_dim / 2);
      for (int i = 0; i < c.rotary_dim / 2; ++i)
        inv[i] = 1.f / std::pow(500000.f, 2.f * i / c.rotary_dim);
      std::vector<float> ref(x);
      cpu::rotary_embedding(ref.data(), pos.data(), inv.data(), n, width, c.hq + c.hkv,
                            c.head_dim, c.rotary_dim, c.interleaved, c.scaling);
      DeviceBuffer<T> dx(to_type<T>(x));
      DeviceBuffer<int32_t> dpos(pos);
      DeviceBuffer<float> dinv(inv);
      cu::rotary_embedding<T>(dx.get(), dpos.get(), dinv.get(), n, width, c.hq + c.hkv,
                              c.head_dim, c.rotary_dim, c.interleaved, c.scaling, nullptr, nullptr,
                              0, 1, nullptr);
      sync_ok();
      // fp32: sincosf vs libm differ by an ulp at large angles.
      EXPECT_LE(rel_error(to_float(dx.download()), ref), std::max(tol<T>(), 1e-5))
          << type_name<T>() << " n=" << n << " head_dim=" << c.head_dim
          << " rotary_dim=" << c.rotary_dim << " interleaved=" << c.interleaved;
    }
  }
}

// Dynamic NTK: per-token rows of an inv_freq table chosen by each token's sequence length.
TYPED_TEST(NormRotaryGpu, RotaryEmbeddingTable) {
  using T = TypeParam;
  const int hq = 4, hkv = 2, head_dim = 64, rotary_dim = 64, half = rotary_dim / 2;
  const int64_t n = 40, width = (hq + 2 * hkv) * head_dim, rows = 9, base_len = 16;
  const auto x = round_to<T>(random_vec(n * width, 77, 1.f));
  std::vector<int32_t> pos(n), token_seq(n), seq_len = {3, 17, 20, 40};
  for (int64_t t = 0; t < n; ++t) {
    token_seq[t] = static_cast<int32_t>(t % 4);
    pos[t] = static_cast<int32_t>(t % 20);
  }
  std::vector<float> table(rows * half);
  for (int64_t r = 0; r < rows; ++r)
    for (int i = 0; i < half; ++i)
      table[r * half + i] = 1.f / std::pow(10000.f * (1 + 0.1f * r), 2.f * i / rotary_dim);
  std::vector<float> ref(x);
  cpu::rotary_embedding(ref.data(), pos.data(), table.data(), n, width, hq + hkv, head_dim,
                        rotary_dim, false, 1.f, {token_seq.data(), seq_len.data(), base_len, rows});
  DeviceBuffer<T> dx(to_type<T>(x));
  DeviceBuffer<int32_t> dpos(pos), dseq(token_seq), dlen(seq_len);
  DeviceBuffer<float> dtab(table);
  cu::rotary_embedding<T>(dx.get(), dpos.get(), dtab.get(), n, width, hq + hkv, head_dim,
                          rotary_dim, false, 1.f, dseq.get(), dlen.get(), base_len, rows, nullptr);
  sync_ok();
  EXPECT_LE(rel_error(to_float(dx.download()), ref), std::max(tol<T>(), 1e-5)) << type_name<T>();
}

TYPED_TEST(NormRotaryGpu, GatedActivation) {
  using T = TypeParam;
  for (ActivationKind kind : {ActivationKind::kSilu, ActivationKind::kGeluTanh,
                              ActivationKind::kGeluExact, ActivationKind::kRelu}) {
    for (int64_t d : {1, 7, 14336}) {
      for (int64_t rows : {1, 3, 65}) {
        const auto x = round_to<T>(random_vec(rows * 2 * d, 9 + d + rows, 3.f));
        std::vector<float> ref(rows * d);
        cpu::gated_activation(ref.data(), x.data(), rows, d, kind);
        DeviceBuffer<T> dx(to_type<T>(x)), dout(rows * d);
        dout.poison();
        cu::gated_activation<T>(dout.get(), dx.get(), rows, d, kind, nullptr);
        sync_ok();
        EXPECT_LE(rel_error(to_float(dout.download()), ref), tol<T>() * 2)
            << type_name<T>() << " kind=" << static_cast<int>(kind) << " d=" << d;
      }
    }
  }
}

}  // namespace
}  // namespace kiln::test
