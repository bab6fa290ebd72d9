// Include first in every .cu that expands KILN_CHECK / KILN_CUDA_CHECK (fmt 9 under nvcc in C++20):
// nvcc's front end cannot evaluate fmt's consteval format-string check, and fmt turns constexpr
// off whenever __NVCC__ is defined while still marking some functions constexpr, which g++ then
// rejects. So CUDA translation units get a run-time format check and constexpr as in the .cc
// units (FMT_USE_CONSTEXPR=1 is what g++ gets there). The formatted messages are identical.
#pragma once

#if defined(__CUDACC__)
#ifndef FMT_CONSTEVAL
#define FMT_CONSTEVAL
#endif
#ifndef FMT_USE_CONSTEXPR
#define FMT_USE_CONSTEXPR 1
#endif
#endif
