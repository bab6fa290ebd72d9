// CUDA row/elementwise kernels vs their CPU twins (ops/cpu) over odd and large shapes ×
// f32/f16/bf16. Inputs are rounded to T before the CPU reference sees them; outputs are
// NaN-poisoned first.
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
  if constexpr (std::is_same_v<T, float>) return 1e-6;
  if constexpr (std::is_same_v<T, __half>) return 1e-3;
  return 1e-2;
}
// Norm statistics: fp32 on the GPU vs double on the CPU.
template <class T>
double norm_tol() {
  if constexpr (std::is_same_v<T, float>) return 1e-5;
  return tol<T>();
}

void sync_ok() {
  cuda_ok(cudaDeviceSynchronize(), "sync");
  cuda_ok(cudaGetLastError(), "last error");
}

template <class T>
class OpsGpu : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};
using Types = ::testing::Types<float, __half, __nv_bfloat16>;
TYPED_TEST_SUITE(OpsGpu, Types);

const std::vector<int64_t> kDims = {1, 7, 64, 1600, 4097};
const std::vector<int64_t> kRows = {1, 3, 300};

TYPED_TEST(OpsGpu, Embedding) {
  using T = TypeParam;
  for (int64_t d : kDims) {
    for (int64_t n : kRows) {
      for (bool acc : {false, true}) {
        const int64_t vocab = 97;
        const auto table = round_to<T>(random_vec(vocab * d, 1 + d));
        std::vector<int32_t> ids(n);
        std::mt19937 rng(n * 31 + d);
        for (auto& id : ids) id = static_cast<int32_t>(rng() % vocab);
        const auto init = round_to<T>(random_vec(n * d, 7 + n));
        std::vector<float> ref = init;
        ASSERT_EQ(cpu::embedding(ref.data(), ids.data(), table.data(), n, vocab, d, acc), -1);

        DeviceBuffer<T> dt(to_type<T>(table)), dout(n * d);
        DeviceBuffer<int32_t> dids(ids);
        if (acc)
          dout.upload(to_type<T>(init));
        else
          dout.poison();
        cu::embedding<T>(dout.get(), dids.get(), dt.get(), n, vocab, d, acc, nullptr);
        sync_ok();
        const auto got = to_float(dout.download());
        EXPECT_LE(rel_error(got, ref), tol<T>())
            << type_name<T>() << " d=" << d << " n=" << n << " acc=" << acc;
      }
    }
  }
}

TYPED_TEST(OpsGpu, EmbeddingOutOfRangeReadsRowZero) {
  using T = TypeParam;
  const int64_t vocab = 5, d = 16;
  const auto table = round_to<T>(random_vec(vocab * d, 3));
  DeviceBuffer<T> dt(to_type<T>(table)), dout(3 * d);
  DeviceBuffer<int32_t> dids(std::vector<int32_t>{-1, 2, 5});
  dout.poison();
  cu::embedding<T>(dout.get(), dids.get(), dt.get(), 3, vocab, d, false, nullptr);
  sync_ok();
  const auto got = to_float(dout.download());
  for (int64_t j = 0; j < d; ++j) {
    EXPECT_EQ(got[j], table[j]);
    EXPECT_EQ(got[d + j], table[2 * d + j]);
    EXPECT_EQ(got[2 * d + j], table[j]);
  }
}

TYPED_TEST(OpsGpu, GatherRows) {
  using T = TypeParam;
  for (int64_t d : kDims) {
    for (int64_t m : kRows) {
      const int64_t src_rows = 301;
      const auto x = round_to<T>(random_vec(src_rows * d, 11 + d));
      std::vector<int32_t> rows(m);
      std::mt19937 rng(m + d);
      for (auto& r : rows) r = static_cast<int32_t>(rng() % src_rows);
      std::vector<float> ref(m * d);
      cpu::gather_rows(ref.data(), x.data(), rows.data(), m, d);
      DeviceBuffer<T> dx(to_type<T>(x)), dout(m * d);
      DeviceBuffer<int32_t> drows(rows);
      dout.poison();
      cu::gather_rows<T>(dout.get(), dx.get(), drows.get(), m, d, nullptr);
      sync_ok();
      EXPECT_EQ(rel_error(to_float(dout.download()), ref), 0.0) << "d=" << d << " m=" << m;
    }
  }
}

TYPED_TEST(OpsGpu, LayerNorm) {
  using T = TypeParam;
  std::vector<int64_t> dims = kDims;
  dims.push_back(12289);  // longer than the register cache: the re-reading path
  dims.push_back(16384);
  for (int64_t d : dims) {
    for (int64_t rows : kRows) {
      for (bool with_bias : {true, false}) {
        // Offset mean: a one-pass E[x²]-E[x]² would lose digits here.
        const auto x = round_to<T>(random_vec(rows * d, 5 + d + rows, 2.f, 3.f));
        const auto w = round_to<T>(random_vec(d, 6 + d, 0.5f, 1.f));
        const auto b = round_to<T>(random_vec(d, 8 + d, 0.5f));
        std::vector<float> ref(rows * d);
        cpu::layer_norm(ref.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, rows, d,
                        1e-5f);
        DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), db(to_type<T>(b)), dout(rows * d);
        dout.poison();
        cu::layer_norm<T>(dout.get(), dx.get(), dw.get(), with_bias ? db.get() : nullptr, rows, d,
                          1e-5f, nullptr);
        sync_ok();
        EXPECT_LE(rel_error(to_float(dout.download()), ref), norm_tol<T>())
            << type_name<T>() << " d=" << d << " rows=" << rows << " bias=" << with_bias;
      }
    }
  }
}

TYPED_TEST(OpsGpu, AddLayerNorm) {
  using T = TypeParam;
  std::vector<int64_t> dims = kDims;
  dims.push_back(12289);
  for (int64_t d : dims) {
    for (int64_t rows : kRows) {
      const auto res = round_to<T>(random_vec(rows * d, 21 + d, 2.f, 1.f));
      const auto delta = round_to<T>(random_vec(rows * d, 22 + d));
      const auto w = round_to<T>(random_vec(d, 23 + d, 0.5f, 1.f));
      const auto b = round_to<T>(random_vec(d, 24 + d, 0.5f));
      std::vector<float> sum(rows * d), ref(rows * d);
      cpu::add(sum.data(), res.data(), delta.data(), rows * d);
      sum = round_to<T>(sum);  // the residual as stored in T
      cpu::layer_norm(ref.data(), sum.data(), w.data(), b.data(), rows, d, 1e-5f);
      DeviceBuffer<T> dres(to_type<T>(res)), ddelta(to_type<T>(delta)), dw(to_type<T>(w)),
          db(to_type<T>(b)), dout(rows * d);
      dout.poison();
      cu::add_layer_norm<T>(dres.get(), dout.get(), ddelta.get(), dw.get(), db.get(), rows, d,
                            1e-5f, nullptr);
      sync_ok();
      EXPECT_EQ(rel_error(to_float(dres.download()), sum), 0.0) << "residual d=" << d;
      EXPECT_LE(rel_error(to_float(dout.download()), ref), norm_tol<T>())
          << type_name<T>() << " d=" << d << " rows=" << rows;
    }
  }
}

TYPED_TEST(OpsGpu, Activation) {
  using T = TypeParam;
  const ActivationKind kinds[] = {
      ActivationKind::kGeluExact, ActivationKind::kGeluTanh,     ActivationKind::kGeluFast,
      ActivationKind::kQuickGelu, ActivationKind::kRelu,         ActivationKind::kSilu,
      ActivationKind::kTanh,      ActivationKind::kSigmoid,      ActivationKind::kLinear,
      ActivationKind::kMish,      ActivationKind::kRelu6,        ActivationKind::kRelu2,
      ActivationKind::kLeakyRelu, ActivationKind::kGeluAccurate, ActivationKind::kGelu10};
  for (ActivationKind kind : kinds) {
    for (int64_t count : {int64_t{1}, int64_t{7}, int64_t{4097}, int64_t{300 * 1600 + 3}}) {
      for (int64_t offset : {0, 1}) {  // 1: unaligned pointer, scalar path
        const auto x = round_to<T>(random_vec(count + offset, 31 + count, 4.f));
        std::vector<float> ref(x.begin() + offset, x.end());
        cpu::activation(ref.data(), count, kind);
        DeviceBuffer<T> dx(to_type<T>(x));
        cu::activation<T>(dx.get() + offset, count, kind, nullptr);
        sync_ok();
        auto got = to_float(dx.download());
        got.erase(got.begin(), got.begin() + offset);
        EXPECT_LE(rel_error(got, ref), tol<T>() * 2)
            << type_name<T>() << " kind=" << static_cast<int>(kind) << " count=" << count
            << " offset=" << offset;
      }
    }
  }
}

TYPED_TEST(OpsGpu, Add) {
  using T = TypeParam;
  for (int64_t count :
       {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{4097}, int64_t{300 * 1600 + 5}}) {
    for (int64_t offset : {0, 1}) {
      const auto a = round_to<T>(random_vec(count + offset, 41 + count));
      const auto b = round_to<T>(random_vec(count + offset, 42 + count));
      std::vector<float> ref(count);
      cpu::add(ref.data(), a.data() + offset, b.data() + offset, count);
      DeviceBuffer<T> da(to_type<T>(a)), db(to_type<T>(b)), dout(count + offset);
      dout.poison();
      cu::add<T>(dout.get() + offset, da.get() + offset, db.get() + offset, count, nullptr);
      sync_ok();
      auto got = to_float(dout.download());
      got.erase(got.begin(), got.begin() + offset);
      EXPECT_LE(rel_error(got, ref), tol<T>()) << "count=" << count << " offset=" << offset;
      // in place (out aliases a)
      cu::add<T>(da.get() + offset, da.get() + offset, db.get() + offset, count, nullptr);
      sync_ok();
      got = to_float(da.download());
      got.erase(got.begin(), got.begin() + offset);
      EXPECT_LE(rel_error(got, ref), tol<T>()) << "in place, count=" << count;
    }
  }
}

template <class S, class D>
void check_convert() {
  for (int64_t count : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{4097}, int64_t{1000003}}) {
    for (int64_t offset : {0, 1}) {
      const auto src = to_type<S>(random_vec(count + offset, 51 + count, 3.f));
      std::vector<D> ref(count);
      for (int64_t i = 0; i < count; ++i) ref[i] = from_f<D>(to_f(src[i + offset]));
      DeviceBuffer<S> din(src);
      DeviceBuffer<D> dout(count + offset);
      dout.poison();
      cu::convert<S, D>(dout.get() + offset, din.get() + offset, count, nullptr);
      sync_ok();
      const auto got = dout.download();
      int64_t bad = 0;
      for (int64_t i = 0; i < count; ++i) bad += to_f(got[i + offset]) != to_f(ref[i]);
      EXPECT_EQ(bad, 0) << type_name<S>() << "->" << type_name<D>() << " count=" << count
                        << " offset=" << offset;
    }
  }
}

TEST(OpsGpuConvert, AllPairs) {
  KILN_SKIP_WITHOUT_GPU();
  check_convert<float, float>();
  check_convert<float, __half>();
  check_convert<float, __nv_bfloat16>();
  check_convert<__half, float>();
  check_convert<__half, __half>();
  check_convert<__half, __nv_bfloat16>();
  check_convert<__nv_bfloat16, float>();
  check_convert<__nv_bfloat16, __half>();
  check_convert<__nv_bfloat16, __nv_bfloat16>();
}

// Batched copy-on-write block copies across several pools (aligned and byte-sized blocks) equal
// the CPU twin; blocks that are not destinations stay untouched.
TEST(OpsGpuCopyBlocks, MatchesCpu) {
  KILN_SKIP_WITHOUT_GPU();
  for (int64_t block_bytes : {int64_t{4096}, int64_t{48}, int64_t{10}}) {
    const int64_t num_blocks = 37, num_pools = 6;
    const std::vector<int32_t> pairs = {3, 30, 0, 1, 36, 2, 5, 35, 3, 17};  // (src, dst)
    std::vector<std::vector<char>> host(num_pools);
    std::vector<DeviceBuffer<char>> dev;
    std::vector<int64_t> dev_addr;
    std::vector<char*> host_addr;
    for (int64_t p = 0; p < num_pools; ++p) {
      host[p].resize(num_blocks * block_bytes);
      for (size_t i = 0; i < host[p].size(); ++i) host[p][i] = static_cast<char>((i * 7 + p) % 251);
      dev.emplace_back(host[p]);
      dev_addr.push_back(reinterpret_cast<int64_t>(dev.back().get()));
      host_addr.push_back(host[p].data());
    }
    DeviceBuffer<int64_t> d_addr(dev_addr);
    DeviceBuffer<int32_t> d_pairs(pairs);
    const int64_t n = static_cast<int64_t>(pairs.size() / 2);
    cu::copy_blocks(reinterpret_cast<char* const*>(d_addr.get()), num_pools, d_pairs.get(), n,
                    block_bytes, nullptr);
    sync_ok();
    cpu::copy_blocks(host_addr.data(), num_pools, pairs.data(), n, block_bytes);
    for (int64_t p = 0; p < num_pools; ++p)
      EXPECT_EQ(dev[p].download(), host[p]) << "pool " << p << ", block bytes " << block_bytes;
  }
}

}  // namespace
}  // namespace kiln::test
