#include "ops/graph.h"

#include "core/check.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/cuda_check.h"
#endif

namespace kiln::ops {

struct StepGraph::Impl {
#ifdef KILN_WITH_CUDA
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t begin = nullptr, end = nullptr;  // around the latest replay
  bool pending = false;                        // a replay's events not yet read
  double seconds = 0;                          // completed replays' device time
  int64_t replays = 0;
  ~Impl() {
    if (begin) cudaEventDestroy(begin);
    if (end) cudaEventDestroy(end);
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
  }
  // Adds the latest replay's time (waiting for it when `wait`; else a replay still running is
  // left out of the figures rather than waited for).
  void collect(bool wait) {
    if (!pending) return;
    if (wait) {
      KILN_CUDA_CHECK(cudaEventSynchronize(end), "graph timing");
    } else if (const cudaError_t e = cudaEventQuery(end); e != cudaSuccess) {
      if (e == cudaErrorNotReady) cudaGetLastError();  // not an error: do not leave it recorded
      pending = false;  // not finished (a failure is reported by the stream's next sync)
      return;
    }
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, begin, end), "graph timing");
    seconds += ms * 1e-3;
    ++replays;
    pending = false;
  }
#endif
};

StepGraph::StepGraph() : impl_(std::make_unique<Impl>()) {}
StepGraph::~StepGraph() = default;
StepGraph::StepGraph(StepGraph&&) noexcept = default;
StepGraph& StepGraph::operator=(StepGraph&&) noexcept = default;

bool graphs_supported(const ExecContext& ctx) {
#ifdef KILN_WITH_CUDA
  return ctx.device.is_cuda();
#else
  return false;
#endif
}

void StepGraph::capture(ExecContext& ctx, const std::function<void()>& fn) {
  KILN_CHECK(graphs_supported(ctx), "CUDA graphs need a CUDA device");
#ifdef KILN_WITH_CUDA
  const auto s = static_cast<cudaStream_t>(ctx.stream);
  KILN_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "graph capture");
  try {
    fn();
  } catch (...) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  KILN_CUDA_CHECK(cudaStreamEndCapture(s, &impl_->graph), "graph capture");
  KILN_CUDA_CHECK(cudaGraphInstantiate(&impl_->exec, impl_->graph, 0), "graph capture");
  KILN_CUDA_CHECK(cudaEventCreate(&impl_->begin), "graph capture");
  KILN_CUDA_CHECK(cudaEventCreate(&impl_->end), "graph capture");
#else
  (void)fn;
#endif
}

void StepGraph::launch(ExecContext& ctx) {
  KILN_CHECK(ready(), "launching a graph that was not captured");
#ifdef KILN_WITH_CUDA
  const auto s = static_cast<cudaStream_t>(ctx.stream);
  impl_->collect(/*wait=*/false);  // never blocks the launch on the previous replay
  KILN_CUDA_CHECK(cudaEventRecord(impl_->begin, s), "graph launch");
  KILN_CUDA_CHECK(cudaGraphLaunch(impl_->exec, s), "graph launch");
  KILN_CUDA_CHECK(cudaEventRecord(impl_->end, s), "graph launch");
  impl_->pending = true;
#endif
}

std::pair<double, int64_t> StepGraph::take_device_time() {
  std::pair<double, int64_t> t{0.0, 0};
#ifdef KILN_WITH_CUDA
  impl_->collect(/*wait=*/true);
  t = {impl_->seconds, impl_->replays};
  impl_->seconds = 0;
  impl_->replays = 0;
#endif
  return t;
}

bool StepGraph::ready() const {
#ifdef KILN_WITH_CUDA
  return impl_->exec != nullptr;
#else
  return false;
#endif
}

}  // namespace kiln::ops
