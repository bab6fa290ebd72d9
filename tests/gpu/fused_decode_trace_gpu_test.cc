// Timeline of the persistent fused decode kernel (cuda::fused_gpt_decode) at the gpt2-xl shape,
// batch 1, 192 keys, from its per-CTA timestamps (FusedDecodeArgs::trace): per op kind, the
// input staging, the work, the grid barrier (last CTA done → first CTA released) and how far the
// weight producer runs ahead of the consumers. Printed for kernel work, with the step time beside
// the weight bytes at the measured copy bandwidth; asserted only for the timestamps' order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cuda/device.h"
#include "ops/cuda/fused_decode.h"
#include "ops/roofline.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(FusedDecodeTraceGpu, Gpt2XlBatch1) {
  KILN_SKIP_WITHOUT_GPU();
  constexpr int L = 48, E = 1600, I = 6400, H = 25, D = 64, BS = 16, KV = 192;
  constexpr int blocks = KV / BS + 1;
  std::vector<DeviceBuffer<__half>> w;
  std::vector<DeviceBuffer<float>> rs;
  std::vector<cu::FusedDecodeLayer> layers(L);
  size_t weight_bytes = 0;
  for (int l = 0; l < L; ++l) {
    cu::FusedDecodeLayer& y = layers[l];
    const size_t sizes[] = {size_t{3} * E * E,
                            size_t{3} * E,
                            size_t{E} * E,
                            E,
                            size_t{I} * E,
                            I,
                            size_t{E} * I,
                            E,
                            size_t{blocks} * H * BS * D,
                            size_t{blocks} * H * BS * D};
    for (size_t n : sizes) {
      w.emplace_back(n);
      cuda_ok(cudaMemset(w.back().get(), 0x2c, n * 2), "fill");  // ~0.06 in fp16
    }
    const __half* p[10];
    for (int i = 0; i < 10; ++i) p[i] = w[w.size() - 10 + i].get();
    y.qkv_w = p[0], y.qkv_b = p[1], y.out_w = p[2], y.out_b = p[3], y.fc_w = p[4], y.fc_b = p[5];
    y.proj_w = p[6], y.proj_b = p[7];
    y.k_pool = const_cast<__half*>(p[8]), y.v_pool = const_cast<__half*>(p[9]);
    rs.emplace_back(std::vector<float>(3 * E, 1.f));
    y.qkv_rowsum = rs.back().get();
    rs.emplace_back(std::vector<float>(I, 1.f));
    y.fc_rowsum = rs.back().get();
    y.scale_log2 = 0.18f;
    weight_bytes += (size_t{3} * E * E + size_t{E} * E + size_t{2} * I * E) * 2;
  }
  DeviceBuffer<__half> h(E), qkv(I), attn(E);
  cuda_ok(cudaMemset(h.get(), 0x2c, E * 2), "fill");
  std::vector<int32_t> table(blocks);
  for (int i = 0; i < blocks; ++i) table[i] = i;
  DeviceBuffer<int32_t> bt(table), cu_seq(std::vector<int32_t>{0, 1}),
      kvlen(std::vector<int32_t>{KV}), slots(std::vector<int32_t>{KV - 1});
  DeviceBuffer<unsigned> counters(std::vector<unsigned>(2, 0u));
  cu::FusedDecodeArgs a;
  a.layers = L, a.n = 1, a.hidden = E, a.heads = H, a.head_dim = D, a.inner = I;
  a.block_size = BS, a.max_blocks = blocks, a.eps = 1e-5f;
  a.h = h.get(), a.qkv = qkv.get(), a.attn = attn.get();
  a.block_tables = bt.get(), a.cu_seqlens = cu_seq.get(), a.seq_kv_len = kvlen.get();
  a.slots = slots.get(), a.counters = counters.get();
  cudaStream_t s = nullptr;
  ASSERT_TRUE(cu::fused_gpt_decode(false, layers.data(), a, s)) << "fused kernel declined";
  const double us = time_us(
      s, 20, [&](int) { cu::fused_gpt_decode(false, layers.data(), a, s); }, 2);
  // Copy bandwidth for the roofline beside it, as kiln bench measures it (bytes read + written).
  double bw = 0;
  {
    ops::cuda::CudaContext gpu(0, size_t{3} << 30);
    bw = ops::measure_copy_bandwidth(gpu.exec(), size_t{1} << 30);
  }
  std::printf(
      "fused decode, gpt2-xl shape, batch 1, %d keys: %.1f us per step; weights %.1f MB "
      "at copy bandwidth %.0f GB/s = %.1f us (%.1f%%)\n",
      KV, us, weight_bytes / 1e6, bw / 1e9, weight_bytes / bw * 1e6,
      100.0 * weight_bytes / bw * 1e6 / us);

  const int G = [] {
    int d = 0, n = 0;
    cudaGetDevice(&d);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, d);
    return n;
  }();
  DeviceBuffer<unsigned long long> trace(size_t{L} * 5 * G * 4);
  cuda_ok(cudaMemset(trace.get(), 0, trace.size() * 8), "trace");
  a.trace = trace.get();
  ASSERT_TRUE(cu::fused_gpt_decode(false, layers.data(), a, s));
  cuda_ok(cudaStreamSynchronize(s), "traced run");
  std::vector<unsigned long long> t(trace.size());
  cuda_ok(cudaMemcpy(t.data(), trace.get(), t.size() * 8, cudaMemcpyDeviceToHost), "download");
  auto at = [&](int l, int op, int c, int k) { return t[((size_t{l} * 5 + op) * G + c) * 4 + k]; };
  const char* names[] = {"qkv", "attn", "out", "fc1", "fc2"};
  std::printf(
      "  op    stage_us  work_med  work_max  barrier_us  producer_lead_us  (median over "
      "layers 1..%d)\n",
      L - 2);
  for (int op = 0; op < 5; ++op) {
    std::vector<double> stage, wmed, wmax, bar, lead;
    for (int l = 1; l + 1 < L; ++l) {
      std::vector<double> st, wk, ld;
      unsigned long long last_done = 0, first_next = ~0ull;
      for (int c = 0; c < G; ++c) {
        const auto t0 = at(l, op, c, 0), t1 = at(l, op, c, 1), t2 = at(l, op, c, 2);
        ASSERT_LE(t0, t1);
        ASSERT_LE(t1, t2);
        if (t1 > t0) st.push_back((t1 - t0) * 1e-3);
        wk.push_back((t2 - t0) * 1e-3);
        last_done = std::max(last_done, t2);
        const int nl = op == 4 ? l + 1 : l, nop = (op + 1) % 5;
        first_next = std::min(first_next, at(nl, nop, c, 0));
        if (op != 1) ld.push_back((static_cast<double>(t0) - at(l, op, c, 3)) * 1e-3);
      }
      stage.push_back(median(st));
      wmed.push_back(median(wk));
      wmax.push_back(*std::max_element(wk.begin(), wk.end()));
      bar.push_back((static_cast<double>(first_next) - last_done) * 1e-3);
      lead.push_back(median(ld));
    }
    std::printf("  %-5s %8.2f %9.2f %9.2f %11.2f %17.2f\n", names[op], median(stage), median(wmed),
                median(wmax), median(bar), median(lead));
  }
  std::vector<double> per_layer;
  for (int l = 1; l + 1 < L; ++l) {
    std::vector<double> v;
    for (int c = 0; c < G; ++c) v.push_back((at(l + 1, 0, c, 0) - at(l, 0, c, 0)) * 1e-3);
    per_layer.push_back(median(v));
  }
  std::printf("  per layer: %.2f us (weights at copy bandwidth: %.2f us)\n", median(per_layer),
              weight_bytes / L / bw * 1e6);
}

}  // namespace
}  // namespace kiln::test
