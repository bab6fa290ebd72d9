// OpenBLAS picks its kernels once, when the library loads. Debian's 0.3.21 does not recognise
// recent Xeons (e.g. family 6 model 207) and falls back to its SSE3 "Prescott" kernels — measured
// 3.6x slower prefill than its AVX-512 "SkylakeX" kernels on such a machine. When that happens and
// the user has not chosen OPENBLAS_CORETYPE, the CLI re-executes itself once with the right one.
#pragma once

namespace kiln::cli {

// Returns only if no re-exec was needed (or it failed, which is harmless).
void maybe_reexec_for_blas(char** argv);

}  // namespace kiln::cli
