// `kiln serve`: the OpenAI-compatible HTTP server (src/serve) over one kiln::Engine. SIGINT and
// SIGTERM stop it gracefully: the engine finishes every request ("cancelled"), the streams get
// their last chunk, then the HTTP server stops.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "commands.h"
#include "core/check.h"
#include "device_options.h"
#include "kiln/engine.h"
#include "serve/chat_renderer.h"
#include "serve/server.h"

namespace kiln::cli {
namespace {

struct ServeArgs {
  std::string model_dir, engine_dir, tokenizer_dir;
  DeviceOptions device;
  EngineOptions engine;
  serve::ServerOptions server;
};

void serve_main(ServeArgs a) {
  KILN_CHECK(a.model_dir.empty() != a.engine_dir.empty(),
             "give exactly one of --model_dir and --engine_dir");
  const std::string dir = a.model_dir.empty() ? a.engine_dir : a.model_dir;
  KILN_CHECK(std::filesystem::is_directory(dir), "model folder '{}' does not exist", dir);
  a.engine.model_dir = dir;
  a.engine.tokenizer_dir = a.tokenizer_dir;
  apply_device_options(a.device, a.engine);
  KILN_CHECK(a.server.port >= 0 && a.server.port <= 65535, "--port must be in [0, 65535]");

  // Signals go to the one thread that waits for them (every thread inherits this mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Engine> engine = Engine::create(a.engine);
  std::optional<serve::ChatRenderer> chat;
  const std::string tok_dir = a.tokenizer_dir.empty() ? dir : a.tokenizer_dir;
  try {
    chat = serve::load_chat_renderer(tok_dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln serve: warning: chat template unusable, /v1/chat/completions "
                 "disabled: %s\n", e.what());
  }
  serve::Server server(*engine, a.server, chat);
  const int port = server.bind();
  const ModelInfo info = engine->info();
  std::printf("kiln serve: listening on http://%s:%d (model '%s', %s, %s; chat template: %s; "
              "up to %d connections)\n",
              a.server.host.c_str(), port, server.served_model_name().c_str(),
              info.model_type.c_str(), info.device.c_str(), chat ? "yes" : "no",
              a.server.max_connections);
  std::fflush(stdout);

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "kiln serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server.drain();      // new generation requests: 503
    engine->shutdown();  // every request finishes ("cancelled"); streams send their last chunk
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server.stop();
  });
  const bool ok = server.listen();
  pthread_kill(waiter.native_handle(), SIGTERM);  // when listen ended by itself
  waiter.join();
  KILN_CHECK(ok, "the HTTP server stopped unexpectedly");
  std::fprintf(stderr, "kiln serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server (/v1/completions, "
                                          "/v1/chat/completions, /v1/models, /health, /metrics)");
  sub->add_option("--model_dir", a->model_dir, "Hugging Face model folder");
  sub->add_option("--engine_dir", a->engine_dir, "kiln checkpoint folder (from `kiln convert`)");
  sub->add_option("--tokenizer_dir", a->tokenizer_dir, "Tokenizer folder (default: the model's)");
  sub->add_option("--host", a->server.host, "Address to listen on")->capture_default_str();
  sub->add_option("--port", a->server.port, "Port (0: any free port, printed at start)")
      ->capture_default_str();
  sub->add_option("--served_model_name", a->server.served_model_name,
                  "Model name in the API (default: the model folder's name)");
  add_scheduler_options(sub, a->engine);
  sub->add_option("--num_kv_blocks", a->engine.num_kv_blocks,
                  "KV cache blocks (0: what the GPU memory allows / max_batch_size full "
                  "sequences on the CPU)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  sub->add_flag("--enable_prefix_caching", a->engine.enable_prefix_caching,
                "Reuse the KV blocks of identical prompt prefixes");
  sub->add_option("--max_queue_size", a->engine.max_queue_size,
                  "Waiting requests beyond this are refused with HTTP 429")
      ->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--max_connections", a->server.max_connections,
                  "Concurrent HTTP connections served (one thread each); more wait to be accepted")
      ->check(CLI::Range(1, 4096))->capture_default_str();
  sub->add_flag("--no_cuda_graphs", [a](int64_t) { a->engine.cuda_graphs = false; },
                "Do not capture decode steps in CUDA graphs");
  add_device_options(sub, a->device);
  sub->callback([a] { serve_main(*a); });
}

}  // namespace kiln::cli
