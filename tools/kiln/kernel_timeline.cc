#include "kernel_timeline.h"

#include "core/check.h"

#if KILN_WITH_CUDA && __has_include(<cupti.h>)
#define KILN_HAS_CUPTI 1
#include <cuda_runtime_api.h>
#include <cupti.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <vector>
#endif

namespace kiln::cli {

#if KILN_HAS_CUPTI
namespace {

// The CUPTI entry points kiln uses, resolved from the dlopen'd library.
struct Cupti {
  void* lib = nullptr;
  CUptiResult (*register_callbacks)(CUpti_BuffersCallbackRequestFunc,
                                    CUpti_BuffersCallbackCompleteFunc) = nullptr;
  CUptiResult (*enable)(CUpti_ActivityKind) = nullptr;
  CUptiResult (*disable)(CUpti_ActivityKind) = nullptr;
  CUptiResult (*flush_all)(uint32_t) = nullptr;
  CUptiResult (*next_record)(uint8_t*, size_t, CUpti_Activity**) = nullptr;
  CUptiResult (*dropped)(CUcontext, uint32_t, size_t*) = nullptr;
};

struct Kernel {
  uint64_t start, end;
  int32_t grid, block;
  uint32_t stream, graph, correlation;
  std::string name;
};

// CUPTI hands buffers back on its own thread: records collect here under a lock.
std::mutex g_mu;
std::vector<Kernel> g_kernels;
Cupti g_cupti;
size_t g_dropped = 0;

constexpr size_t kBufferBytes = 8u << 20;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t* buffer, size_t,
                               size_t valid) {
  std::lock_guard<std::mutex> lock(g_mu);
  CUpti_Activity* rec = nullptr;
  while (g_cupti.next_record(buffer, valid, &rec) == CUPTI_SUCCESS) {
    if (rec->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL &&
        rec->kind != CUPTI_ACTIVITY_KIND_KERNEL)
      continue;
    // start … name lie in the prefix every CUpti_ActivityKernel version shares; graphId is read at
    // this build's layout (load_cupti refuses a CUPTI older than the headers).
    const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(rec);
    g_kernels.push_back({k->start, k->end, k->gridX * k->gridY * k->gridZ,
                         k->blockX * k->blockY * k->blockZ, k->streamId, k->graphId,
                         k->correlationId, k->name ? k->name : "?"});
  }
  size_t dropped = 0;
  if (g_cupti.dropped && g_cupti.dropped(ctx, stream, &dropped) == CUPTI_SUCCESS)
    g_dropped += dropped;
  std::free(buffer);
}

void load_cupti() {
  if (g_cupti.lib) return;
  std::vector<std::string> names;
  if (const char* e = std::getenv("KILN_CUPTI_LIB"); e && *e) names.emplace_back(e);
  names.insert(names.end(), {"libcupti.so", "libcupti.so.13", "libcupti.so.12",
                             "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so"});
  std::string tried;
  for (const std::string& n : names) {
    if ((g_cupti.lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
    tried += (tried.empty() ? "" : ", ") + n;
  }
  KILN_CHECK(g_cupti.lib, "--kernel_timeline: CUPTI not found (tried {}; set KILN_CUPTI_LIB)",
             tried);
  auto sym = [](const char* name) {
    void* p = dlsym(g_cupti.lib, name);
    KILN_CHECK(p, "--kernel_timeline: {} missing from the CUPTI library", name);
    return p;
  };
  g_cupti.register_callbacks =
      reinterpret_cast<decltype(g_cupti.register_callbacks)>(sym("cuptiActivityRegisterCallbacks"));
  g_cupti.enable = reinterpret_cast<decltype(g_cupti.enable)>(sym("cuptiActivityEnable"));
  g_cupti.disable = reinterpret_cast<decltype(g_cupti.disable)>(sym("cuptiActivityDisable"));
  g_cupti.flush_all = reinterpret_cast<decltype(g_cupti.flush_all)>(sym("cuptiActivityFlushAll"));
  g_cupti.next_record =
      reinterpret_cast<decltype(g_cupti.next_record)>(sym("cuptiActivityGetNextRecord"));
  g_cupti.dropped = reinterpret_cast<decltype(g_cupti.dropped)>(
      dlsym(g_cupti.lib, "cuptiActivityGetNumDroppedRecords"));
  // Records are read through this build's CUpti_ActivityKernel10; an older CUPTI writes an older
  // layout, whose trailing fields (graphId) would be read from the wrong place.
  if (auto version_of =
          reinterpret_cast<CUptiResult (*)(uint32_t*)>(dlsym(g_cupti.lib, "cuptiGetVersion"))) {
    uint32_t v = 0;
    KILN_CHECK(version_of(&v) == CUPTI_SUCCESS && v >= CUPTI_API_VERSION,
               "--kernel_timeline: CUPTI API version {} is older than this build's {} (set "
               "KILN_CUPTI_LIB to a newer libcupti)",
               v, CUPTI_API_VERSION);
  }
  KILN_CHECK(g_cupti.register_callbacks(buffer_requested, buffer_completed) == CUPTI_SUCCESS,
             "--kernel_timeline: cuptiActivityRegisterCallbacks failed");
}

std::ofstream g_csv;

}  // namespace

KernelTimeline::KernelTimeline(const std::string& path) {
  load_cupti();
  g_csv.open(path);
  KILN_CHECK(g_csv.good(), "cannot write --kernel_timeline '{}'", path);
  g_csv << "batch,input_len,output_len,start_ns,end_ns,grid,block,stream,graph,correlation,"
           "name\n";
  // On from here, before any warm-up captures a CUDA graph, so graph nodes are traced too.
  KILN_CHECK(g_cupti.enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) == CUPTI_SUCCESS,
             "--kernel_timeline: cannot enable kernel activity records");
}

KernelTimeline::~KernelTimeline() {
  g_cupti.disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  g_csv.close();
}

void KernelTimeline::begin() {  // drop what ran before (loading, warm-up)
  cudaDeviceSynchronize();
  g_cupti.flush_all(1);  // CUPTI_ACTIVITY_FLAG_FLUSH_FORCED
  std::lock_guard<std::mutex> lock(g_mu);
  g_kernels.clear();
  g_dropped = 0;
}

void KernelTimeline::end(const std::string& label) {
  cudaDeviceSynchronize();
  g_cupti.flush_all(1);
  std::lock_guard<std::mutex> lock(g_mu);
  for (const Kernel& k : g_kernels)
    g_csv << label << ',' << k.start << ',' << k.end << ',' << k.grid << ',' << k.block << ','
          << k.stream << ',' << k.graph << ',' << k.correlation << ",\"" << k.name << "\"\n";
  g_csv.flush();
  if (g_dropped > 0) std::fprintf(stderr, "kernel timeline: %zu records dropped\n", g_dropped);
  g_kernels.clear();
  g_dropped = 0;
}

#else  // no CUDA, or built without the CUPTI headers

KernelTimeline::KernelTimeline(const std::string&) {
  KILN_CHECK(false, "--kernel_timeline needs a CUDA build of kiln with the CUPTI headers");
}
KernelTimeline::~KernelTimeline() = default;
void KernelTimeline::begin() {}
void KernelTimeline::end(const std::string&) {}

#endif

}  // namespace kiln::cli
