#include "device_options.h"

namespace kiln::cli {

void add_device_options(CLI::App* sub, DeviceOptions& o) {
  sub->add_option("--device", o.device, "cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", o.dtype, "GPU compute dtype: float16 | bfloat16 | float32")
      ->capture_default_str();
  sub->add_option("--gpu_memory_fraction", o.gpu_memory_fraction,
                  "Share of the free GPU memory kiln may use (weights + workspace + KV cache)")
      ->capture_default_str();
  sub->add_option("--max_gpu_memory", o.max_gpu_memory_gib,
                  "Explicit GPU memory cap in GiB (overrides --gpu_memory_fraction)");
}

void add_scheduler_options(CLI::App* sub, EngineOptions& e) {
  sub->add_option("--max_batch_size", e.max_batch_size, "Sequences per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--max_num_tokens", e.max_num_tokens, "Tokens per step (chunked prefill)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--tokens_per_block", e.tokens_per_block, "KV cache block size")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
}

void apply_device_options(const DeviceOptions& o, EngineOptions& e) {
  e.device = o.device;
  e.dtype = o.dtype;
  e.gpu_memory_fraction = o.gpu_memory_fraction;
  e.max_gpu_memory_gib = o.max_gpu_memory_gib;
}

}  // namespace kiln::cli
