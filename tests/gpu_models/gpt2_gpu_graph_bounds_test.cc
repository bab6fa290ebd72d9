// Decode graphs per key bound (runtime/step_runner.h): as the contexts grow past 256 and 512 keys
// the runner captures a graph for each bound, whose attention split plan covers exactly the keys
// the graph-free step's plan covers, so greedy tokens are bit-identical with and without graphs —
// in fp32 and in fp16 (the one-wave decode-row kernel with its prefetch, LayerNorm folding).
#include <gtest/gtest.h>

#include "models/registry.h"
#include "ops/cuda/device.h"
#include "runtime/generator.h"
#include "runtime/step_runner.h"

namespace kiln {
namespace {

TEST(Gpt2GpuGraphBounds, TokensEqualWithoutGraphsAcrossKeyBounds) {
  if (ops::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  ops::cuda::CudaContext gpu(0, size_t{2} << 30);
  const nlohmann::json arch = {{"model_type", "gpt2"},
                               {"n_layer", 2},
                               {"n_embd", 64},
                               {"n_head", 4},
                               {"vocab_size", 300},
                               {"n_positions", 1024},
                               {"activation_function", "gelu_new"}};
  for (const DType dtype : {DType::kFloat32, DType::kFloat16}) {
    models::LoadOptions lo;
    lo.device = gpu.exec().device;
    lo.allocator = &gpu.allocator();
    lo.dtype = dtype;
    auto model = models::random_model(arch, 7, lo);
    // Longest context 230 + 400 = 630: decode steps under the bounds 256, 512 and 1024.
    std::vector<runtime::GenerationRequest> reqs(3);
    const int lens[] = {100, 230, 20};
    for (size_t i = 0; i < reqs.size(); ++i) {
      for (int t = 0; t < lens[i]; ++t) reqs[i].prompt.push_back((37 * t + 11 * i + 5) % 300);
      reqs[i].params.max_new_tokens = reqs[i].params.min_new_tokens = 400;
      reqs[i].params.ignore_eos = true;
    }
    ASSERT_GT(lens[1] + 400, 2 * runtime::kMinKeyBound);
    for (const auto& batch : {reqs, std::vector<runtime::GenerationRequest>{reqs[1]}}) {
      runtime::GeneratorOptions with, without;
      without.cuda_graphs = false;
      const auto a = runtime::Generator(*model, with, gpu.exec()).generate(batch);
      const auto b = runtime::Generator(*model, without, gpu.exec()).generate(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        ASSERT_EQ(a[i].output_ids.size(), 400u);
        EXPECT_EQ(a[i].output_ids, b[i].output_ids)
            << dtype_name(dtype) << ", " << batch.size() << " requests, request " << i;
      }
    }
  }
}

}  // namespace
}  // namespace kiln
