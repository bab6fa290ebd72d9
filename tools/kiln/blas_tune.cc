#include "blas_tune.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" char* openblas_get_corename(void);

namespace kiln::cli {

void maybe_reexec_for_blas(char** argv) {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("KILN_BLAS_REEXEC")) return;
  const char* core = openblas_get_corename();
  if (!core || (std::strcmp(core, "Prescott") != 0 && std::strcmp(core, "prescott") != 0)) return;
  const char* want = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    want = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    want = "Haswell";
  if (!want) return;
  setenv("OPENBLAS_CORETYPE", want, 1);
  setenv("KILN_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the slow kernels
#else
  (void)argv;
#endif
}

}  // namespace kiln::cli
