// The HTTP layer over a scripted engine (serve_fake_engine.h), on a loopback port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "serve/server.h"
#include "serve_fake_engine.h"

namespace kiln::serve {
namespace {

using nlohmann::json;
using testing::FakeEngine;

class ServeServer : public ::testing::Test {
 protected:
  void start(std::optional<ChatRenderer> chat = std::nullopt) {
    ServerOptions o;
    o.port = 0;
    o.max_connections = 8;
    o.max_body_bytes = 1 << 16;
    o.poll_interval = std::chrono::milliseconds(10);
    server_ = std::make_unique<Server>(engine_, o, chat);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(10);
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // (status, parsed body or the raw text as a JSON string)
  std::pair<int, json> post(const std::string& path, const std::string& body) {
    auto r = client_->Post(path.c_str(), body, "application/json");
    if (!r) return {-1, json()};
    json j = json::parse(r->body, nullptr, false);
    return {r->status, j.is_discarded() ? json(r->body) : j};
  }
  std::pair<int, json> post(const std::string& path, const json& body) {
    return post(path, body.dump());
  }

  // The `data:` payloads of an SSE body.
  static std::vector<std::string> events(const std::string& body) {
    std::vector<std::string> out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
      else EXPECT_TRUE(line.empty()) << "unexpected SSE line: " << line;
    }
    return out;
  }

  // Raw socket: sends a request, returns the fd.
  int send_raw(const std::string& body) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            "application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    return fd;
  }

  bool wait_for_cancels(int n) {
    for (int i = 0; i < 300 && engine_.cancels < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return engine_.cancels >= n;
  }

  FakeEngine engine_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServeServer, HealthModelsMetrics) {
  start();
  auto h = client_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body), json({{"status", "ok"}}));
  auto m = client_->Get("/v1/models");
  ASSERT_TRUE(m);
  const json models = json::parse(m->body);
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "fake");
  EXPECT_EQ(models["data"][0]["object"], "model");
  EXPECT_EQ(client_->Get("/v1/models/fake")->status, 200);
  EXPECT_EQ(client_->Get("/v1/models/other")->status, 404);
  auto met = client_->Get("/metrics");
  ASSERT_TRUE(met);
  EXPECT_EQ(met->status, 200);
  EXPECT_NE(met->get_header_value("Content-Type").find("text/plain; version=0.0.4"),
            std::string::npos);
  EXPECT_NE(met->body.find("kiln_kv_blocks_total 10\n"), std::string::npos);
}

TEST_F(ServeServer, CompletionAndStreamAgree) {
  start();
  auto [status, r] = post("/v1/completions", json{{"prompt", "hi"}, {"max_tokens", 4},
                                                  {"model", "fake"}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << r;
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(r["model"], "fake");
  EXPECT_TRUE(r["created"].is_number_integer());
  EXPECT_EQ(r["choices"][0]["text"], "abcd");
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["usage"], json({{"prompt_tokens", 3}, {"completion_tokens", 4},
                              {"total_tokens", 7}}));
  EXPECT_EQ(engine_.last().prompt_ids, (std::vector<int32_t>{1, 'h', 'i'}));
  EXPECT_EQ(engine_.last().sampling.do_sample, false);

  auto s = client_->Post("/v1/completions",
                         json{{"prompt", "hi"}, {"max_tokens", 4}, {"stream", true},
                              {"stream_options", {{"include_usage", true}}}}
                             .dump(),
                         "application/json");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200);
  EXPECT_EQ(s->get_header_value("Content-Type"), "text/event-stream");
  const auto ev = events(s->body);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 2 < ev.size(); ++i) {
    const json c = json::parse(ev[i]);
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_TRUE(c["usage"].is_null());
    text += c["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "abcd");
  const json usage = json::parse(ev[ev.size() - 2]);
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
}

TEST_F(ServeServer, SeveralPromptsAndChoices) {
  start();
  auto [status, r] = post("/v1/completions",
                          json{{"prompt", {{5, 6}, {7}}}, {"max_tokens", 2}, {"n", 2},
                               {"logprobs", 1}, {"return_token_ids", true}});
  ASSERT_EQ(status, 200) << r;
  ASSERT_EQ(r["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r["choices"][i]["index"], i);
  EXPECT_EQ(r["choices"][0]["text"], "ab");
  EXPECT_EQ(r["choices"][1]["text"], "bc");
  EXPECT_EQ(r["choices"][2]["prompt_token_ids"], json({7}));
  EXPECT_EQ(r["choices"][3]["token_ids"], json({'b', 'c'}));
  EXPECT_EQ(r["choices"][0]["logprobs"]["tokens"], json({"a", "b"}));
  EXPECT_EQ(r["choices"][0]["logprobs"]["top_logprobs"][0], json({{"A", -1.0}, {"a", -0.5}}));
  EXPECT_EQ(r["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(r["usage"]["completion_tokens"], 8);
  // streaming several prompts: every choice ends once, then [DONE]
  auto s = client_->Post("/v1/completions",
                         json{{"prompt", {"a", "b"}}, {"max_tokens", 3}, {"stream", true}}.dump(),
                         "application/json");
  ASSERT_TRUE(s);
  std::map<int, std::string> texts;
  int finished = 0;
  for (const auto& e : events(s->body)) {
    if (e == "[DONE]") continue;
    const json c = json::parse(e);
    texts[c["choices"][0]["index"]] += c["choices"][0]["text"].get<std::string>();
    finished += !c["choices"][0]["finish_reason"].is_null();
  }
  EXPECT_EQ(texts, (std::map<int, std::string>{{0, "abc"}, {1, "abc"}}));
  EXPECT_EQ(finished, 2);
}

TEST_F(ServeServer, EchoPrependsThePrompt) {
  start();
  auto [status, r] = post("/v1/completions", json{{"prompt", "hi"}, {"max_tokens", 2},
                                                  {"echo", true}});
  ASSERT_EQ(status, 200) << r;
  EXPECT_EQ(r["choices"][0]["text"], "hiab");
}

TEST_F(ServeServer, Chat) {
  start();
  const json body = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 3}};
  auto [status, r] = post("/v1/chat/completions", body);
  EXPECT_EQ(status, 400);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("chat template"), std::string::npos);
  TearDown();
  start([](const json& messages, bool gen, const json&) {
    return "<" + messages[0]["content"].get<std::string>() + ">" + (gen ? "A:" : "");
  });
  std::tie(status, r) = post("/v1/chat/completions", body);
  ASSERT_EQ(status, 200) << r;
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"], json({{"role", "assistant"}, {"content", "abc"}}));
  EXPECT_EQ(engine_.last().prompt_ids.size(), std::string("<hi>A:").size());  // no BOS added
  json sbody = body;
  sbody["stream"] = true;
  auto s = client_->Post("/v1/chat/completions", sbody.dump(), "application/json");
  ASSERT_TRUE(s);
  const auto ev = events(s->body);
  ASSERT_GE(ev.size(), 3u);
  const json first = json::parse(ev[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 1; i + 1 < ev.size(); ++i)
    text += json::parse(ev[i])["choices"][0]["delta"].value("content", "");
  EXPECT_EQ(text, "abc");
  EXPECT_EQ(json::parse(ev[ev.size() - 2])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(ev.back(), "[DONE]");
}

void expect_error(const std::pair<int, json>& got, int status, const std::string& type) {
  EXPECT_EQ(got.first, status) << got.second;
  const json& e = got.second["error"];
  ASSERT_TRUE(e.is_object()) << got.second;
  EXPECT_TRUE(e["message"].is_string());
  EXPECT_EQ(e["type"], type);
  EXPECT_TRUE(e.contains("param"));
  EXPECT_TRUE(e.contains("code"));
}

TEST_F(ServeServer, Errors) {
  start();
  expect_error(post("/v1/completions", std::string("{not json")), 400, "invalid_request_error");
  expect_error(post("/v1/completions", json{{"prompt", "x"}, {"nope", 1}}), 400,
               "invalid_request_error");
  expect_error(post("/v1/completions", json{{"prompt", {999}}}), 400, "invalid_request_error");
  expect_error(post("/v1/completions", json{{"prompt", {5000}}}), 400, "invalid_request_error");
  expect_error(post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", -3}}), 400,
               "invalid_request_error");
  engine_.queue_full = true;
  expect_error(post("/v1/completions", json{{"prompt", "x"}}), 429, "rate_limit_exceeded");
  engine_.queue_full = false;
  expect_error(post("/v1/nothing", json::object()), 404, "not_found_error");
  auto g = client_->Get("/v1/completions");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 405);
  EXPECT_EQ(g->get_header_value("Allow"), "POST");
  EXPECT_EQ(json::parse(g->body)["error"]["type"], "method_not_allowed");
  expect_error(post("/health", json::object()), 405, "method_not_allowed");
  expect_error(post("/v1/completions", json{{"prompt", std::string(1 << 17, 'x')}}), 413,
               "request_too_large");
  // still serving
  EXPECT_EQ(post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1}}).first, 200);
  auto met = client_->Get("/metrics");
  EXPECT_NE(met->body.find("kiln_http_queue_full_total 1\n"), std::string::npos);
}

TEST_F(ServeServer, DrainingRefusesNewGenerations) {
  start();
  server_->drain();
  expect_error(post("/v1/completions", json{{"prompt", "x"}}), 503, "service_unavailable");
  EXPECT_EQ(client_->Get("/health")->status, 200);
}

TEST_F(ServeServer, StreamClientDisconnectCancels) {
  start();
  engine_.hang = true;
  const int fd = send_raw(json{{"prompt", "x"}, {"stream", true}}.dump());
  char buf[256];
  ASSERT_GT(read(fd, buf, sizeof(buf)), 0);  // headers
  close(fd);
  EXPECT_TRUE(wait_for_cancels(1));
  auto met = client_->Get("/metrics");
  EXPECT_NE(met->body.find("kiln_http_client_disconnects_total 1\n"), std::string::npos)
      << met->body;
}

TEST_F(ServeServer, NonStreamClientDisconnectCancels) {
  start();
  engine_.hang = true;
  const int fd = send_raw(json{{"prompt", "x"}}.dump());
  for (int i = 0; i < 200 && engine_.enqueued == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  close(fd);
  EXPECT_TRUE(wait_for_cancels(1));
}

}  // namespace
}  // namespace kiln::serve
