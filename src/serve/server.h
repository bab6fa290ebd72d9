// `kiln serve`: an OpenAI-compatible HTTP server over one kiln::Engine (public API only).
// Threading: cpp-httplib serves each connection on a worker of a fixed pool (max_connections
// threads; the accept loop blocks when all are busy and a short backlog of accepted connections
// is full, so memory stays bounded). A generation request is enqueued on the engine and its
// worker waits on its own RequestStream in short slices (poll_interval), which lets it notice a
// client that went away and cancel the request (freeing its KV blocks). The engine's step loop
// is never blocked by HTTP: its only contact is enqueue/next/cancel.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "kiln/engine.h"
#include "serve/openai_schema.h"

namespace kiln::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                           // 0: any free port (see Server::bind)
  std::string served_model_name;             // default: the model folder's name
  int max_connections = 512;                 // HTTP worker threads (concurrent connections)
  size_t max_body_bytes = 16u << 20;         // larger request bodies: HTTP 413
  std::chrono::milliseconds poll_interval{50};  // stream wait slice (disconnect detection)
};

class Server {
 public:
  // chat: the model's chat template, nullopt when it has none (/v1/chat/completions -> 400).
  Server(Engine& engine, ServerOptions options, std::optional<ChatRenderer> chat = std::nullopt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port; returns the bound port. Throws kiln::Error when it cannot.
  int bind();
  // Serves until stop() (blocks). Returns false when the server could not run.
  bool listen();
  // From now on generation requests get 503 (call before Engine::shutdown()); thread-safe.
  void drain();
  // Stops accepting and ends listen(); safe from any thread.
  void stop();
  const std::string& served_model_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::serve
