#include "ops/activation_kind.h"

#include <string>

#include "core/check.h"

namespace kiln::ops {

ActivationKind activation_from_name(std::string_view name) {
  struct Entry {
    std::string_view name;
    ActivationKind kind;
  };
  static constexpr Entry kTable[] = {
      {"gelu", ActivationKind::kGeluExact},        {"gelu_python", ActivationKind::kGeluExact},
      {"gelu_new", ActivationKind::kGeluTanh},     {"gelu_pytorch_tanh", ActivationKind::kGeluTanh},
      {"gelu_accurate", ActivationKind::kGeluAccurate}, {"gelu_fast", ActivationKind::kGeluFast},
      {"quick_gelu", ActivationKind::kQuickGelu},  {"relu", ActivationKind::kRelu},
      {"silu", ActivationKind::kSilu},             {"swish", ActivationKind::kSilu},
      {"tanh", ActivationKind::kTanh},             {"sigmoid", ActivationKind::kSigmoid},
      {"linear", ActivationKind::kLinear},         {"mish", ActivationKind::kMish},
      {"relu6", ActivationKind::kRelu6},           {"relu2", ActivationKind::kRelu2},
      {"leaky_relu", ActivationKind::kLeakyRelu},  {"gelu_10", ActivationKind::kGelu10},
  };
  for (const auto& e : kTable)
    if (e.name == name) return e.kind;
  std::string known;
  for (const auto& e : kTable) known += (known.empty() ? "" : ", ") + std::string(e.name);
  KILN_FAIL("unknown activation_function '{}' (supported: {})", name, known);
}

}  // namespace kiln::ops
