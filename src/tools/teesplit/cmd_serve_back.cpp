// teesplit serve-back SPLIT_DIR [--listen ADDR] [--model-name NAME]: a split's
// back partition served over the KServe v2 gRPC inference protocol
// (serve/kserve.h), for `teesplit serve --back kserve://...` on another
// machine, without Triton. Prints "listening on HOST:PORT" once it serves;
// stops on SIGINT or SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "serve/kserve.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct ServeBackArgs {
  std::string split, listen = "127.0.0.1:8001", model_name = "back", backend = "auto";
  int threads = 0;
  int64_t max_batch = 64;
};

int serve_back_cmd(const ServeBackArgs& a) {
  block_stop_signals();  // before any thread starts: StopOnSignal takes them
  serve::BackServerOptions o;
  o.split_dir = a.split;
  o.listen = a.listen;
  o.model_name = a.model_name;
  o.session.backend = parse_backend(a.backend);
  o.session.threads = a.threads;
  o.max_batch = a.max_batch;
  o.server_version = TEESPLIT_VERSION;
  serve::BackServer server(o);
  std::fprintf(stderr, "teesplit serve-back: model '%s' (%s backend), batches up to %lld\n",
               a.model_name.c_str(), backend_kind_name(o.session.backend),
               static_cast<long long>(a.max_batch));
  std::printf("listening on %s\n", server.address().c_str());
  std::fflush(stdout);
  StopOnSignal on_signal("teesplit serve-back", [&] { server.shutdown(); });
  server.wait();
  return 0;
}

}  // namespace

Subcommand add_serve_back_command(CLI::App& root) {
  auto a = std::make_shared<ServeBackArgs>();
  CLI::App* app = root.add_subcommand(
      "serve-back",
      "serve a split's back partition over the KServe v2 gRPC protocol (for serve --back)");
  app->add_option("split", a->split, "split directory (teesplit split)")->required();
  app->add_option("--listen", a->listen, "address to listen on; port 0 picks a free one")
      ->capture_default_str();
  app->add_option("--model-name", a->model_name, "the model name clients ask for")
      ->capture_default_str();
  app->add_option("--max-batch", a->max_batch, "the largest batch one request may carry")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  add_backend_option(app, &a->backend, "the back partition's backend");
  add_threads_option(app, &a->threads);
  return {app, [a] { return serve_back_cmd(*a); }};
}

}  // namespace teesplit
