// /metrics: kiln::EngineStats in the Prometheus text exposition format 0.0.4 (HELP/TYPE lines,
// gauges, `_total` counters, histograms with cumulative `_bucket{le=...}`, `_sum`, `_count`).
#pragma once

#include <cstdint>
#include <string>

#include "kiln/engine.h"

namespace kiln::serve {

// Counters kept by the HTTP layer itself.
struct ServerCounters {
  int64_t http_requests = 0;  // every request handled
  int64_t rejected_400 = 0;   // invalid requests
  int64_t rejected_429 = 0;   // queue full
  int64_t client_disconnects = 0;  // generations cancelled because the client went away
};

std::string format_prometheus(const EngineStats& stats, const ServerCounters& server = {});

// A sample value as Prometheus writes it: shortest round-trip decimal, +Inf, -Inf, NaN.
std::string prometheus_number(double v);

}  // namespace kiln::serve
