// `kiln bench`: per (batch, input, output) case, first-token latency, decode step latency, output
// tokens/s and peak GPU memory, with the roofline measured in the same run (DESIGN §8): copy
// bandwidth against the weight + KV bytes each decode step must read, and prefill FLOP/s against
// a large GEMM through the same linear op.
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "commands.h"
#include "core/check.h"
#include "device_options.h"
#include "kernel_timeline.h"
#include "model_source.h"
#include "ops/roofline.h"
#include "runtime/generator.h"

namespace kiln::cli {
namespace {

struct BenchArgs {
  ModelSource source;
  DeviceOptions device;
  std::string batch_sizes = "1;8";
  std::string io_lens = "128,128";
  std::string csv;
  std::string kernel_timeline;  // CSV of every kernel of the measured runs (CUPTI)
  int64_t tokens_per_block = 16;
  int64_t max_num_tokens = 0;  // 0: a whole batch's prompts in one step
  int64_t num_beams = 1;
  bool skip_roofline = false;
};

std::vector<int64_t> split_ints(const std::string& s, char sep, const char* flag) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (item.empty()) continue;
    size_t used = 0;
    int64_t x = 0;
    try {
      x = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    KILN_CHECK(used == item.size() && x > 0, "{}: '{}' is not a positive integer", flag, item);
    v.push_back(x);
  }
  KILN_CHECK(!v.empty(), "{}: empty list", flag);
  return v;
}

void bench(const BenchArgs& a) {
  const std::vector<int64_t> batches = split_ints(a.batch_sizes, ';', "--batch_size");
  std::vector<std::pair<int64_t, int64_t>> ios;
  std::stringstream ss(a.io_lens);
  std::string pair;
  while (std::getline(ss, pair, ';')) {
    if (pair.empty()) continue;
    const auto v = split_ints(pair, ',', "--input_output_len");
    KILN_CHECK(v.size() == 2, "--input_output_len: '{}' is not IN,OUT", pair);
    ios.emplace_back(v[0], v[1]);
  }
  KILN_CHECK(!ios.empty(), "--input_output_len: empty list");

  // Before the model loads (and the banner prints): the flag's error costs nothing.
  KILN_CHECK(a.kernel_timeline.empty() || a.device.device.rfind("cuda", 0) == 0,
             "--kernel_timeline needs a CUDA device (--device cuda)");
  DeviceSession session(a.device);
  ExecContext& ctx = session.ctx();
  auto model = a.source.load(session.load_options());
  const models::ModelSpec& spec = model->spec();
  std::printf("kiln bench: %s | model %s | %s | weights %.1f MiB\n", session.device_name().c_str(),
              a.source.describe().c_str(), std::string(dtype_name(spec.dtype)).c_str(),
              spec.weight_bytes / 1048576.0);

  double bw = 0, gemm = 0;
  if (!a.skip_roofline) {
    bw = ops::measure_copy_bandwidth(ctx, spec.device.is_cuda() ? (1ull << 30) : (256ull << 20));
    gemm = ops::measure_gemm_rate(ctx, spec.dtype, spec.device.is_cuda() ? 8192 : 1024);
    std::printf("roofline: copy bandwidth %.1f GB/s (read + write), GEMM %.3f TFLOP/s (%s)\n",
                bw / 1e9, gemm / 1e12, std::string(dtype_name(spec.dtype)).c_str());
  }
  std::unique_ptr<KernelTimeline> timeline;
  if (!a.kernel_timeline.empty()) {
    timeline = std::make_unique<KernelTimeline>(a.kernel_timeline);
  }
  std::ofstream csv;
  if (!a.csv.empty()) {
    csv.open(a.csv);
    KILN_CHECK(csv.good(), "cannot write --csv '{}'", a.csv);
    csv << "device,dtype,num_beams,batch,input_len,output_len,first_token_ms,decode_step_ms,output_"
           "tok_s,"
           "peak_gpu_mib,step_bytes_mib,roofline_step_ms,pct_roofline,prefill_tflops,"
           "pct_gemm,decode_gpu_ms,pct_roofline_gpu,decode_host_ms\n";
  }
  // step_ms: wall time per decode step (host work included); gpu_ms: device time of the step's
  // forward alone (its CUDA graph replay), the figure kernel work moves; host_ms: host work per
  // step while the GPU idles (before the forward's launch, after the sampled ids are back).
  std::printf("%6s %6s %6s | %10s %10s %11s %9s | %9s %9s %7s | %8s %7s %8s | %9s %6s\n", "batch",
              "in", "out", "first_ms", "step_ms", "out_tok/s", "peak_MiB", "step_MiB", "roof_ms",
              "%roof", "gpu_ms", "%rgpu", "host_ms", "pf_TFLOPs", "%gemm");
  const int64_t kv_bytes_per_token =
      2ll * spec.num_layers * spec.num_kv_heads * spec.head_dim * dtype_size(spec.dtype);
  // Matmul FLOPs per token: 2 x (weights read per token, excluding the embedding tables' rows).
  // Encoder–decoder: the prompt runs through the encoder, decode steps through the decoder.
  const bool encdec = spec.encoder_decoder;
  const double flops_per_token = 2.0 * spec.weight_bytes / dtype_size(spec.dtype);
  const double prompt_flops_per_token =
      encdec ? 2.0 * spec.encoder_weight_bytes / dtype_size(spec.dtype) : flops_per_token;
  const int64_t beams = a.num_beams;
  if (beams > 1) std::printf("beam search: %ld beams per request\n", static_cast<long>(beams));
  std::mt19937 rng(0);
  for (const auto& [in, out] : ios) {
    for (const int64_t b : batches) {
      if (encdec) {
        KILN_CHECK(in <= spec.max_encoder_positions && out + 1 <= spec.max_positions,
                   "case {},{} exceeds the model's {} encoder / {} decoder positions", in, out,
                   spec.max_encoder_positions, spec.max_positions);
      } else {
        KILN_CHECK(in + out <= spec.max_positions, "case {},{} exceeds the model's {} positions",
                   in, out, spec.max_positions);
      }
      const int64_t in_vocab =
          encdec && spec.encoder_vocab_size > 0 ? spec.encoder_vocab_size : spec.vocab_size;
      std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(in_vocab - 1));
      std::vector<runtime::GenerationRequest> reqs(b);
      for (auto& r : reqs) {
        r.prompt.resize(in);
        for (auto& t : r.prompt) t = tok(rng);
        r.params.max_new_tokens = out;
        r.params.min_new_tokens = out;  // never stop early: every case runs its full length
        r.params.num_beams = static_cast<int>(beams);
      }
      runtime::GeneratorOptions opts;
      opts.max_batch_size = b * beams;
      opts.max_num_tokens =
          a.max_num_tokens > 0 ? a.max_num_tokens : std::max(b * in + b * beams, b * beams);
      opts.block_size = static_cast<int>(a.tokens_per_block);
      runtime::Generator gen(*model, opts, ctx);
      // Warm-up (kernel selection, graph capture) on a short run of the same shapes.
      std::vector<runtime::GenerationRequest> warm = reqs;
      for (auto& r : warm)
        r.params.max_new_tokens = r.params.min_new_tokens = std::min<int64_t>(out, 4);
      gen.generate(warm);
      runtime::GenerationStats st;
      if (timeline) timeline->begin();
      const auto t0 = std::chrono::steady_clock::now();
      gen.generate(reqs, &st);
      const double total =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (timeline)
        timeline->end(std::to_string(b) + ',' + std::to_string(in) + ',' + std::to_string(out));
      const double step = st.decode_steps ? st.decode_seconds / st.decode_steps : 0;
      const double gpu_step =
          st.decode_graph_steps ? st.decode_graph_seconds / st.decode_graph_steps : 0;
      const double host_step =
          st.decode_host_steps ? st.decode_host_seconds / st.decode_host_steps : 0;
      const double tok_s = static_cast<double>(b * out) / total;
      // Bytes one decode step must read: every (decoder) weight once + each sequence's KV at the
      // mean context length over the decode; enc-dec: self-attention KV at the mean decoder
      // length + the cross-attention KV of the whole encoder input, per beam.
      const double ctx_tokens = encdec ? in + 1 + out / 2.0 : in + out / 2.0;
      const double step_bytes = spec.weight_bytes + b * beams * kv_bytes_per_token * ctx_tokens;
      const double roof = bw > 0 ? step_bytes / bw : 0;
      // Prefill FLOPs: the matmuls plus attention (QKᵀ and PV over in(in+1)/2 pairs when causal;
      // the encoder's bidirectional in² pairs for enc-dec).
      const double attn_flops =
          encdec ? 4.0 * spec.encoder_layers * spec.encoder_heads * spec.encoder_head_dim * in * in
                 : 4.0 * spec.num_layers * spec.num_heads * spec.head_dim * (in * (in + 1) / 2.0);
      const double pf_flops =
          (prompt_flops_per_token * in + attn_flops) * b / std::max(st.first_token_seconds, 1e-9);
      const double peak = session.peak_bytes() / 1048576.0;
      std::printf(
          "%6ld %6ld %6ld | %10.2f %10.3f %11.1f %9.0f | %9.1f %9.3f %6.1f%% | %8.3f %6.1f%% "
          "%8.3f | %9.3f %5.1f%%\n",
          static_cast<long>(b), static_cast<long>(in), static_cast<long>(out),
          st.first_token_seconds * 1e3, step * 1e3, tok_s, peak, step_bytes / 1048576.0, roof * 1e3,
          step > 0 ? 100.0 * roof / step : 0.0, gpu_step * 1e3,
          gpu_step > 0 ? 100.0 * roof / gpu_step : 0.0, host_step * 1e3, pf_flops / 1e12,
          gemm > 0 ? 100.0 * pf_flops / gemm : 0.0);
      std::fflush(stdout);
      if (csv.is_open())
        csv << '"' << session.device_name() << "\"," << dtype_name(spec.dtype) << ',' << beams
            << ',' << b << ',' << in << ',' << out << ',' << st.first_token_seconds * 1e3 << ','
            << step * 1e3 << ',' << tok_s << ',' << peak << ',' << step_bytes / 1048576.0 << ','
            << roof * 1e3 << ',' << (step > 0 ? 100.0 * roof / step : 0.0) << ',' << pf_flops / 1e12
            << ',' << (gemm > 0 ? 100.0 * pf_flops / gemm : 0.0) << ',' << gpu_step * 1e3 << ','
            << (gpu_step > 0 ? 100.0 * roof / gpu_step : 0.0) << ',' << host_step * 1e3 << '\n';
    }
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* sub = app.add_subcommand("bench", "Latency/throughput benchmark with the roofline");
  a->source.add_options(sub, /*allow_dirs=*/true);
  add_device_options(sub, a->device);
  sub->add_option("--batch_size", a->batch_sizes, "Batch sizes, ';'-separated")
      ->capture_default_str();
  sub->add_option("--input_output_len", a->io_lens, "IN,OUT pairs, ';'-separated")
      ->capture_default_str();
  sub->add_option("--csv", a->csv, "Also write the results as CSV");
  sub->add_option("--kernel_timeline", a->kernel_timeline,
                  "CSV of every GPU kernel of the measured runs with device start/end times "
                  "(CUPTI, loaded at run time; tools/kernel_timeline.py summarises it)");
  sub->add_option("--tokens_per_block", a->tokens_per_block, "KV cache block size")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--max_num_tokens", a->max_num_tokens, "Tokens per step (0: whole prompts)");
  sub->add_option("--num_beams", a->num_beams, "Beam width (every beam runs the full length)")
      ->check(CLI::Range(1, 64));
  sub->add_flag("--skip_roofline", a->skip_roofline, "Do not measure the ceilings");
  sub->callback([a] { bench(*a); });
}

}  // namespace kiln::cli
