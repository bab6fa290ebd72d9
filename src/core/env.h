// Run-time switches read from the environment, for A/B measurements (KILN_PDL, KILN_LN_FOLD,
// KILN_ATTN_ROW, ...) and opt-ins (KILN_GEMM_TUNE). Callers read each once into a static.
#pragma once

namespace kiln {

// Whether the environment variable `name` is "0".
bool switched_off(const char* name);
// Whether the environment variable `name` is "1".
bool switched_on(const char* name);

}  // namespace kiln
