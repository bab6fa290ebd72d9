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
  ~Impl() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
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
#else
  (void)fn;
#endif
}

void StepGraph::launch(ExecContext& ctx) {
  KILN_CHECK(ready(), "launching a graph that was not captured");
#ifdef KILN_WITH_CUDA
  KILN_CUDA_CHECK(cudaGraphLaunch(impl_->exec, static_cast<cudaStream_t>(ctx.stream)), "graph launch");
#endif
}

bool StepGraph::ready() const {
#ifdef KILN_WITH_CUDA
  return impl_->exec != nullptr;
#else
  return false;
#endif
}

}  // namespace kiln::ops
