// Activation functions by their Hugging Face names (ACT2FN), parsed once from config strings.
#pragma once

#include <string_view>

namespace kiln::ops {

enum class ActivationKind {
  kGeluExact,    // "gelu": x/2 (1 + erf(x/√2))
  kGeluTanh,     // "gelu_new", "gelu_pytorch_tanh", "gelu_fast" (same function, HF codes differ)
  kGeluFast,     // "gelu_fast": 0.5x(1 + tanh(0.7978845608x(1 + 0.044715x²)))
  kQuickGelu,    // "quick_gelu": x σ(1.702x)
  kRelu,         // "relu"
  kSilu,         // "silu", "swish"
  kTanh,         // "tanh"
  kSigmoid,      // "sigmoid"
  kLinear,       // "linear"
  kMish,         // "mish"
  kRelu6,        // "relu6"
  kRelu2,        // "relu2": relu(x)²
  kLeakyRelu,    // "leaky_relu" (slope 0.01)
  kGeluAccurate, // "gelu_accurate"
  kGelu10,       // "gelu_10": gelu clipped to [-10, 10]
};

// Throws kiln::Error naming the value for an unknown activation.
ActivationKind activation_from_name(std::string_view name);

}  // namespace kiln::ops
