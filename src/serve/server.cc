#include "serve/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "core/check.h"
#include "serve/api_error.h"
#include "serve/connection.h"
#include "serve/metrics.h"

namespace kiln::serve {

using nlohmann::json;

namespace {

// httplib's ThreadPool queues accepted connections without limit; this one holds at most
// `backlog` of them and then blocks the accept loop (the kernel's listen backlog does the rest).
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t backlog) : backlog_(backlog) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~BoundedPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return jobs_.size() < backlog_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    lock.unlock();
    ready_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    space_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shutting down and drained
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      space_.notify_one();
      fn();
    }
  }

  size_t backlog_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::mutex mu_;
  std::condition_variable ready_, space_;
};

// httplib 0.11 listens with a backlog of 5, which resets clients when a few hundred connect at
// once; the subclass reaches the listening socket to raise it (listen() again updates it).
class HttpServer : public httplib::Server {
 public:
  void raise_backlog(int backlog) {
    const auto fd = svr_sock_.load();
    if (fd != INVALID_SOCKET) ::listen(fd, backlog);
  }
};

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id())};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* kJson = "application/json";

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(dump(error_body(e)), kJson);
}

struct Counters {
  std::atomic<int64_t> http_requests{0}, rejected_400{0}, rejected_429{0}, disconnects{0};
};

// The engine requests of one HTTP request (one per prompt) and what they produced so far.
class Generation {
 public:
  Generation(Engine& engine, GenerationPlan plan, ResponseMeta meta, TokenText token_text,
             int socket_fd, std::chrono::milliseconds slice, Counters& counters)
      : engine_(engine),
        plan_(std::move(plan)),
        meta_(std::move(meta)),
        token_text_(std::move(token_text)),
        fd_(socket_fd),
        slice_(slice),
        counters_(counters),
        choices_(plan_.prompts.size() * plan_.choices_per_prompt) {}

  ~Generation() { cancel_all(); }

  // Enqueues every prompt; QueueFullError -> 429, RequestError -> 400 (nothing left queued).
  void start() {
    for (const auto& prompt : plan_.prompts) {
      Request r = plan_.request;
      r.prompt_ids = prompt;
      try {
        streams_.push_back(engine_.enqueue(r));
      } catch (const QueueFullError& e) {
        cancel_all();
        counters_.rejected_429++;
        throw ApiError(429, fmt::format("the server is overloaded: {}; retry later", e.what()),
                       std::nullopt, "rate_limit_exceeded", "queue_full");
      } catch (const RequestError& e) {
        cancel_all();
        throw bad_request(e.what());
      } catch (const ApiError&) {
        cancel_all();
        throw;
      } catch (const std::exception& e) {
        cancel_all();
        throw ApiError(503, fmt::format("the engine cannot take requests: {}", e.what()));
      }
      done_.push_back(false);
    }
  }

  void cancel_all() {
    for (size_t i = 0; i < streams_.size(); ++i)
      if (!done_[i]) streams_[i]->cancel();
  }

  bool all_done() const {
    return std::all_of(done_.begin(), done_.end(), [](bool d) { return d; });
  }

  bool client_gone() const { return peer_closed(fd_); }

  // Waits up to one slice for news; appends (choice index, delta) pairs to `deltas`.
  void poll(std::vector<std::pair<int, ChoiceOutput>>* deltas) {
    bool got = false;
    if (streams_.size() > 1) {
      for (size_t i = 0; i < streams_.size(); ++i)
        if (!done_[i]) got |= take(i, streams_[i]->next(std::chrono::milliseconds(0)), deltas);
      if (got) return;
    }
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (done_[i]) continue;
      take(i, streams_[i]->next(slice_), deltas);
      return;
    }
  }

  // Non-streamed: waits for the end, returns the response body.
  json collect() {
    while (!all_done()) {
      poll(nullptr);
      if (!all_done() && client_gone()) {
        cancel_all();
        counters_.disconnects++;
        return json(nullptr);
      }
    }
    if (error_) throw ApiError(500, fmt::format("generation failed: {}", *error_));
    return plan_.endpoint == Endpoint::kChat
               ? chat_response(meta_, plan_, choices_, token_text_)
               : completion_response(meta_, plan_, choices_, token_text_);
  }

  // Streamed: one call of httplib's chunked content provider. Writes what arrives within a few
  // slices; false ends the response (client gone: the requests are cancelled).
  bool pump(httplib::DataSink& sink) {
    auto write = [&](const json& chunk) {
      const std::string s = "data: " + dump(chunk) + "\n\n";
      return sink.write(s.data(), s.size());
    };
    if (!opened_) {  // chat: a role chunk per choice; completions with echo: the prompt
      opened_ = true;
      for (size_t i = 0; i < choices_.size(); ++i) {
        if (plan_.endpoint == Endpoint::kChat) {
          if (!write(chat_chunk(meta_, plan_, static_cast<int>(i), {}, token_text_, true)))
            return gone();
        } else if (plan_.echo) {
          ChoiceOutput echo;
          echo.text = plan_.echo_texts.at(i / plan_.choices_per_prompt);
          if (!write(completion_chunk(meta_, plan_, static_cast<int>(i), echo, token_text_, 0)))
            return gone();
        }
      }
    }
    std::vector<std::pair<int, ChoiceOutput>> deltas;
    for (;;) {
      if (client_gone()) return gone();
      deltas.clear();
      poll(&deltas);
      for (auto& [index, d] : deltas) {
        const bool worth = !d.text.empty() || d.finish_reason ||
                           (!d.token_ids.empty() && (plan_.logprobs >= 0 || plan_.return_token_ids));
        if (!worth) continue;
        json chunk;
        if (plan_.endpoint == Endpoint::kChat) {
          chunk = chat_chunk(meta_, plan_, index, d, token_text_, false);
        } else {
          const size_t prompt = index / plan_.choices_per_prompt;
          const int64_t offset =  // characters, as OpenAI counts text_offset
              utf8_chars(choices_[index].text) - utf8_chars(d.text) +
              (plan_.echo ? utf8_chars(plan_.echo_texts.at(prompt)) : 0);
          chunk = completion_chunk(meta_, plan_, index, d, token_text_, offset);
        }
        if (!write(chunk)) return gone();
      }
      if (all_done()) {
        if (error_) {
          write(error_body(500, fmt::format("generation failed: {}", *error_)));
        } else if (plan_.include_usage) {
          int64_t completion = 0;
          for (const auto& c : choices_) completion += static_cast<int64_t>(c.token_ids.size());
          write(usage_chunk(meta_, plan_, total_prompt_tokens(plan_), completion));
        }
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      }
      if (!deltas.empty()) return true;  // let httplib check the connection between chunks
    }
  }

 private:
  bool gone() {
    if (!all_done()) counters_.disconnects++;
    cancel_all();
    return false;
  }

  bool take(size_t i, std::optional<RequestUpdate> update,
            std::vector<std::pair<int, ChoiceOutput>>* deltas) {
    if (!update) {
      if (streams_[i]->finished()) done_[i] = true;
      return false;
    }
    for (const SequenceDelta& d : update->sequences) {
      if (d.index < 0 || d.index >= plan_.choices_per_prompt) continue;
      const int index = static_cast<int>(i) * plan_.choices_per_prompt + d.index;
      const std::vector<int32_t>& before = choices_[index].token_ids;
      const int32_t prev = before.empty() ? -1 : before.back();
      choices_[index].append(d);
      if (deltas) {
        ChoiceOutput one;
        one.prev_token = prev;
        one.append(d);
        deltas->emplace_back(index, std::move(one));
      }
    }
    if (update->error && !error_) error_ = update->error;
    if (update->finished) done_[i] = true;
    return true;
  }

  Engine& engine_;
  GenerationPlan plan_;
  ResponseMeta meta_;
  TokenText token_text_;
  int fd_;
  std::chrono::milliseconds slice_;
  Counters& counters_;
  std::vector<std::shared_ptr<RequestStream>> streams_;  // [num_prompts]
  std::vector<bool> done_;                               // [num_prompts]
  std::vector<ChoiceOutput> choices_;  // [num_prompts * choices_per_prompt]
  std::optional<std::string> error_;
  bool opened_ = false;
};

const std::vector<std::pair<std::string, std::string>> kRoutes = {
    {"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"}, {"/v1/models", "GET"},
    {"/health", "GET"},          {"/metrics", "GET"}};

}  // namespace

struct Server::Impl {
  Engine& engine;
  ServerOptions options;
  std::optional<ChatRenderer> chat;
  ModelInfo info;
  ModelContext model;
  int64_t created = std::time(nullptr);
  Counters counters;
  HttpServer http;
  int bound_port = -1;
  std::atomic<bool> draining{false};

  Impl(Engine& e, ServerOptions o, std::optional<ChatRenderer> c)
      : engine(e), options(std::move(o)), chat(std::move(c)), info(e.info()) {
    if (options.served_model_name.empty())
      options.served_model_name = info.name.empty() ? "kiln" : info.name;
    model.served_name = options.served_model_name;
    model.vocab_size = info.vocab_size;
    model.max_positions = info.max_positions;
    model.encoder_decoder = info.encoder_decoder;
    model.max_encoder_positions = info.max_encoder_positions;
    model.has_tokenizer = e.has_tokenizer();
    KILN_CHECK(options.max_connections >= 1, "max_connections must be >= 1");
    const size_t threads = static_cast<size_t>(options.max_connections);
    http.new_task_queue = [threads] { return new BoundedPool(threads, 64); };
    http.set_payload_max_length(options.max_body_bytes);
    http.set_keep_alive_max_count(1000);
    http.set_keep_alive_timeout(5);
    http.set_read_timeout(30);
    http.set_write_timeout(10);
    routes();
  }

  TokenText token_text() {
    if (!model.has_tokenizer)
      return [](int32_t id, int32_t) { return fmt::format("token_id:{}", id); };
    return [this](int32_t id, int32_t prev) {
      try {
        // After the previous token, as the text reads (vLLM's incremental detokenization).
        if (prev >= 0) {
          const std::string base = engine.decode({prev}, /*skip_special_tokens=*/false);
          const std::string both = engine.decode({prev, id}, /*skip_special_tokens=*/false);
          if (both.compare(0, base.size(), base) == 0) return both.substr(base.size());
        }
        return engine.decode({id}, /*skip_special_tokens=*/false);
      } catch (const std::exception&) {
        return fmt::format("token_id:{}", id);
      }
    };
  }

  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    counters.http_requests++;
    try {
      if (draining) throw ApiError(503, "the server is shutting down");
      const json body = parse_json_body(req.body);
      const Encoder encode = [this](const std::string& text, bool add_special) {
        return engine.encode(text, add_special);
      };
      GenerationPlan plan = endpoint == Endpoint::kChat
                                ? parse_chat_request(body, model, encode, chat ? &*chat : nullptr)
                                : parse_completion_request(body, model, encode);
      if (plan.echo) {
        for (size_t i = 0; i < plan.prompts.size(); ++i)
          if (plan.echo_texts[i].empty())
            plan.echo_texts[i] = engine.decode(plan.prompts[i], plan.request.skip_special_tokens);
      }
      ResponseMeta meta{random_id(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-"),
                        static_cast<int64_t>(std::time(nullptr)), plan.model};
      const bool stream = plan.stream;
      const int fd = find_connection_socket(req.remote_addr, req.remote_port, req.local_port);
      auto gen = std::make_shared<Generation>(engine, std::move(plan), std::move(meta),
                                              token_text(), fd, options.poll_interval, counters);
      gen->start();
      if (stream) {
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Accel-Buffering", "no");
        res.set_chunked_content_provider(
            "text/event-stream",
            [gen](size_t, httplib::DataSink& sink) {
              try {
                return gen->pump(sink);
              } catch (const std::exception& e) {
                std::fprintf(stderr, "kiln serve: stream failed: %s\n", e.what());
                gen->cancel_all();
                return false;
              }
            },
            [gen](bool success) {
              if (!success) gen->cancel_all();
            });
        return;
      }
      const json r = gen->collect();
      if (r.is_null()) {  // the client went away; nobody reads this
        res.status = 499;
        res.set_content("", kJson);
        return;
      }
      res.set_content(dump(r), kJson);
    } catch (const ApiError& e) {
      if (e.status() == 400) counters.rejected_400++;
      send_error(res, e);
    } catch (const RequestError& e) {
      counters.rejected_400++;
      send_error(res, bad_request(e.what()));
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, fmt::format("internal error: {}", e.what())));
    }
  }

  json model_card() const {
    return {{"id", options.served_model_name},
            {"object", "model"},
            {"created", created},
            {"owned_by", "kiln"},
            {"root", info.name},
            {"parent", nullptr},
            {"max_model_len", info.max_positions}};
  }

  void routes() {
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      generate(req, res, Endpoint::kCompletions);
    });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) {
                generate(req, res, Endpoint::kChat);
              });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      counters.http_requests++;
      res.set_content(dump({{"object", "list"}, {"data", json::array({model_card()})}}), kJson);
    });
    http.Get("/v1/models/(.+)", [this](const httplib::Request& req, httplib::Response& res) {
      counters.http_requests++;
      if (req.matches[1] != options.served_model_name) {
        send_error(res, ApiError(404, fmt::format("The model '{}' does not exist",
                                                  req.matches[1].str()),
                                 "model", "invalid_request_error", "model_not_found"));
        return;
      }
      res.set_content(dump(model_card()), kJson);
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      counters.http_requests++;
      res.set_content(dump({{"status", "ok"}}), kJson);
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      counters.http_requests++;
      ServerCounters c;
      c.http_requests = counters.http_requests;
      c.rejected_400 = counters.rejected_400;
      c.rejected_429 = counters.rejected_429;
      c.client_disconnects = counters.disconnects;
      res.set_content(format_prometheus(engine.stats(), c), "text/plain; version=0.0.4; charset=utf-8");
    });
    // Responses httplib makes itself (no route, body too large, bad request line) get JSON.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || res.has_header("Content-Type"))
        return httplib::Server::HandlerResponse::Unhandled;
      if (res.status == 404) {
        std::string allow;
        for (const auto& [path, method] : kRoutes)
          if (path == req.path) allow = method;
        if (!allow.empty()) {
          res.status = 405;
          res.set_header("Allow", allow);
          send_error(res, ApiError(405, fmt::format("method {} is not allowed on {} (use {})",
                                                    req.method, req.path, allow)));
          return httplib::Server::HandlerResponse::Handled;
        }
        send_error(res, ApiError(404, fmt::format("no route {} {}", req.method, req.path)));
      } else if (res.status == 413) {
        send_error(res, ApiError(413, fmt::format("the request body is larger than {} bytes",
                                                  options.max_body_bytes)));
      } else if (res.status == 400) {
        send_error(res, bad_request("malformed HTTP request"));
      } else {
        send_error(res, ApiError(res.status, fmt::format("HTTP error {}", res.status)));
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          send_error(res, ApiError(500, fmt::format("internal error: {}", what)));
        });
  }
};

Server::Server(Engine& engine, ServerOptions options, std::optional<ChatRenderer> chat)
    : impl_(std::make_unique<Impl>(engine, std::move(options), std::move(chat))) {}

Server::~Server() { stop(); }

int Server::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    impl_->bound_port = impl_->http.bind_to_any_port(o.host);
  } else {
    impl_->bound_port = impl_->http.bind_to_port(o.host, o.port) ? o.port : -1;
  }
  KILN_CHECK(impl_->bound_port > 0, "cannot listen on {}:{} (address in use or not available)",
             o.host, o.port);
  impl_->http.raise_backlog(1024);
  return impl_->bound_port;
}

bool Server::listen() { return impl_->http.listen_after_bind(); }

void Server::drain() { impl_->draining = true; }

void Server::stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}

const std::string& Server::served_model_name() const { return impl_->options.served_model_name; }

}  // namespace kiln::serve
