#include <gtest/gtest.h>

#include <sstream>

#include "serve/metrics.h"

namespace kiln::serve {
namespace {

TEST(ServeMetrics, NumbersAsPrometheusWritesThem) {
  EXPECT_EQ(prometheus_number(0), "0");
  EXPECT_EQ(prometheus_number(3), "3");
  EXPECT_EQ(prometheus_number(0.005), "0.005");
  EXPECT_EQ(prometheus_number(1.0 / 0.0), "+Inf");
  EXPECT_EQ(prometheus_number(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(prometheus_number(0.0 / 0.0), "NaN");
}

TEST(ServeMetrics, GaugesCountersAndHelp) {
  EngineStats s;
  s.queued = 2;
  s.running = 3;
  s.kv_blocks_total = 100;
  s.kv_blocks_used = 40;
  s.requests_finished = 7;
  s.requests_cancelled = 1;
  s.preemptions = 4;
  s.prompt_tokens_total = 123;
  s.generation_tokens_total = 456;
  s.generation_tokens_per_s = 12.5;
  const std::string t = format_prometheus(s);
  for (const char* line :
       {"# TYPE kiln_requests_queued gauge\nkiln_requests_queued 2\n",
        "kiln_requests_running 3\n", "kiln_kv_blocks_used 40\n", "kiln_kv_blocks_free 60\n",
        "kiln_kv_blocks_total 100\n", "# TYPE kiln_requests_finished_total counter\n",
        "kiln_requests_finished_total 7\n", "kiln_requests_cancelled_total 1\n",
        "kiln_preemptions_total 4\n", "kiln_prompt_tokens_total 123\n",
        "kiln_generation_tokens_total 456\n", "kiln_generation_tokens_per_second 12.5\n",
        "# HELP kiln_requests_queued "}) {
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
  }
  // Every sample line belongs to a metric announced by TYPE and HELP before it.
  std::istringstream in(t);
  std::string line, typed;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      typed = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line[0] == '#') continue;
    EXPECT_EQ(line.rfind(typed, 0), 0u) << line;
  }
  EXPECT_EQ(t.back(), '\n');
}

TEST(ServeMetrics, HistogramBucketsAreCumulative) {
  EngineStats s;
  s.time_to_first_token.bounds = {0.01, 0.1, 1};
  s.time_to_first_token.counts = {2, 0, 3, 1};  // the last: above 1 s
  s.time_to_first_token.sum = 4.25;
  s.time_to_first_token.count = 6;
  const std::string t = format_prometheus(s);
  const std::string expected =
      "# TYPE kiln_time_to_first_token_seconds histogram\n"
      "kiln_time_to_first_token_seconds_bucket{le=\"0.01\"} 2\n"
      "kiln_time_to_first_token_seconds_bucket{le=\"0.1\"} 2\n"
      "kiln_time_to_first_token_seconds_bucket{le=\"1\"} 5\n"
      "kiln_time_to_first_token_seconds_bucket{le=\"+Inf\"} 6\n"
      "kiln_time_to_first_token_seconds_sum 4.25\n"
      "kiln_time_to_first_token_seconds_count 6\n";
  EXPECT_NE(t.find(expected), std::string::npos) << t;
  // An empty histogram still has its +Inf bucket, sum and count.
  EXPECT_NE(t.find("kiln_inter_token_latency_seconds_bucket{le=\"+Inf\"} 0\n"
                   "kiln_inter_token_latency_seconds_sum 0\n"
                   "kiln_inter_token_latency_seconds_count 0\n"),
            std::string::npos)
      << t;
}

TEST(ServeMetrics, ServerCounters) {
  ServerCounters c;
  c.rejected_429 = 5;
  c.client_disconnects = 2;
  const std::string t = format_prometheus({}, c);
  EXPECT_NE(t.find("kiln_http_queue_full_total 5\n"), std::string::npos);
  EXPECT_NE(t.find("kiln_http_client_disconnects_total 2\n"), std::string::npos);
}

}  // namespace
}  // namespace kiln::serve
