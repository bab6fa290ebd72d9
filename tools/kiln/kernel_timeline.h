// `kiln bench --kernel_timeline FILE`: every GPU kernel of the measured runs (CUDA-graph nodes
// included) with its device start/end times, through CUPTI's activity API — an nsys-like
// timeline where nsys is not installed. CUPTI is loaded at run time (dlopen: KILN_CUPTI_LIB, else
// libcupti.so / libcupti.so.13 on the library path), so kiln neither links nor needs it otherwise.
// tools/kernel_timeline.py summarises the CSV (per kernel: time, gap to the previous kernel's
// end, overlap under PDL).
#pragma once

#include <string>

namespace kiln::cli {

class KernelTimeline {
 public:
  // Loads CUPTI, opens `path` (CSV header written) and starts recording (before any CUDA graph of
  // the run is captured); throws with the reason when either fails or this build has no CUDA.
  explicit KernelTimeline(const std::string& path);
  ~KernelTimeline();
  KernelTimeline(const KernelTimeline&) = delete;
  KernelTimeline& operator=(const KernelTimeline&) = delete;

  // Keeps the kernels that run between begin() and end() (begin drops everything earlier); end()
  // appends them to the CSV, each row prefixed with `label` (a case: "batch,in,out").
  void begin();
  void end(const std::string& label);
};

}  // namespace kiln::cli
