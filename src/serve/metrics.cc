#include "serve/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace kiln::serve {

std::string prometheus_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void gauge(std::string& out, const char* name, double v, const char* help) {
  header(out, name, "gauge", help);
  out += fmt::format("{} {}\n", name, prometheus_number(v));
}

void counter(std::string& out, const char* name, double v, const char* help) {
  header(out, name, "counter", help);
  out += fmt::format("{} {}\n", name, prometheus_number(v));
}

void histogram(std::string& out, const char* name, const Histogram& h, const char* help) {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, prometheus_number(h.bounds[i]),
                       cumulative);
  }
  // +Inf holds every observation (the engine's count, should the buckets lag behind).
  cumulative += h.counts.size() > h.bounds.size() ? h.counts[h.bounds.size()] : 0;
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, std::max<uint64_t>(cumulative, h.count));
  out += fmt::format("{}_sum {}\n", name, prometheus_number(h.sum));
  out += fmt::format("{}_count {}\n", name, std::max<uint64_t>(cumulative, h.count));
}

}  // namespace

std::string format_prometheus(const EngineStats& s, const ServerCounters& c) {
  std::string out;
  gauge(out, "kiln_requests_queued", s.queued, "Requests waiting for admission (incl. preempted).");
  gauge(out, "kiln_requests_running", s.running, "Requests holding KV cache blocks.");
  gauge(out, "kiln_kv_blocks_used", s.kv_blocks_used, "KV cache blocks in use.");
  gauge(out, "kiln_kv_blocks_free", s.kv_blocks_total - s.kv_blocks_used,
        "KV cache blocks free.");
  gauge(out, "kiln_kv_blocks_total", s.kv_blocks_total, "KV cache blocks in the pool.");
  gauge(out, "kiln_kv_cache_usage_ratio",
        s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0,
        "Share of the KV cache blocks in use.");
  counter(out, "kiln_requests_finished_total", s.requests_finished, "Requests finished.");
  counter(out, "kiln_requests_cancelled_total", s.requests_cancelled,
          "Requests cancelled (client gone, shutdown).");
  counter(out, "kiln_preemptions_total", s.preemptions,
          "Sequences preempted (KV blocks freed, recomputed later).");
  counter(out, "kiln_prompt_tokens_total", s.prompt_tokens_total, "Prompt tokens processed.");
  counter(out, "kiln_generation_tokens_total", s.generation_tokens_total, "Tokens generated.");
  gauge(out, "kiln_generation_tokens_per_second", s.generation_tokens_per_s,
        "Generated tokens per second over the last few seconds.");
  histogram(out, "kiln_time_to_first_token_seconds", s.time_to_first_token,
            "Seconds from enqueue to a request's first generated token.");
  histogram(out, "kiln_inter_token_latency_seconds", s.inter_token_latency,
            "Seconds between consecutive tokens of a sequence.");
  counter(out, "kiln_http_requests_total", c.http_requests, "HTTP requests handled.");
  counter(out, "kiln_http_invalid_requests_total", c.rejected_400,
          "Requests rejected as invalid (HTTP 400).");
  counter(out, "kiln_http_queue_full_total", c.rejected_429,
          "Requests rejected because the engine queue was full (HTTP 429).");
  counter(out, "kiln_http_client_disconnects_total", c.client_disconnects,
          "Generations cancelled because the client disconnected.");
  return out;
}

}  // namespace kiln::serve
