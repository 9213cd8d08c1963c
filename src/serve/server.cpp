#include "serve/server.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>

#include "crypto/ed25519.h"
#include "enclave/messages.h"
#include "host/split_io.h"
#include "serve/back_endpoint.h"
#include "serve/metrics.h"
#include "serve/remote.h"
#include "serve/status_name.h"
#include "teesplit/v1/serving.grpc.pb.h"

namespace teesplit::serve {

namespace fs = std::filesystem;
namespace pb = ::teesplit::v1;
using enclave::MsgType;
using grpc::Status;
using grpc::StatusCode;

namespace {

using Clock = std::chrono::steady_clock;
uint64_t us_since(Clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
}

// A worker and the generation of the process behind it: a session made with
// one generation is gone once the worker restarts.
struct WorkerSlot {
  std::mutex mu;
  std::unique_ptr<EnclaveProcess> proc;
  uint64_t generation = 0;
};

}  // namespace

struct Server::Impl final : public pb::Enclave::Service {
  ServeOptions opts;
  SplitManifest manifest;
  std::unique_ptr<BackEndpoint> back;  // in process, or a KServe v2 server
  Shape output_shape;                  // the back partition's, from its warm-up run
  bool protect_output = false;         // a tail partition in the enclave seals the result
  std::vector<std::unique_ptr<WorkerSlot>> workers;
  std::atomic<uint64_t> next_worker{0};
  std::mutex sessions_mu;
  std::map<uint64_t, std::pair<size_t, uint64_t>> sessions;  // session -> (worker, generation)
  std::string sealed_key_path;
  std::unique_ptr<grpc::Server> server;
  std::string address;
  Metrics metrics;
  std::unique_ptr<MetricsHttpServer> metrics_http;  // --metrics-listen

  explicit Impl(const ServeOptions& o) : opts(o) {
    TS_CHECK(opts.workers >= 1 && opts.workers <= 64, "--workers must be 1..64");
    SessionOptions so;
    so.backend = opts.backend;
    so.threads = opts.threads;
    back = open_back(opts.back, opts.split_dir, so, &manifest);
    // Compile the back partition now, not on the first request (a remote one:
    // check that it answers).
    output_shape = back->run(Tensor(DType::F32, manifest.feature_shape)).shape();
    opts.worker.split_dir = opts.split_dir;
    const std::string state = opts.state_dir.empty()
                                  ? (fs::path(opts.split_dir) / ".teesplit-state").string()
                                  : opts.state_dir;
    sealed_key_path = (fs::path(state) / "sealed-front-key.bin").string();
    if (fs::exists(sealed_key_path)) opts.worker.sealed_key = sealed_key_path;
    for (int i = 0; i < opts.workers; ++i) {
      auto slot = std::make_unique<WorkerSlot>();
      slot->proc = std::make_unique<EnclaveProcess>(opts.worker);
      workers.push_back(std::move(slot));
    }
    const auto& info = workers[0]->proc->info();
    protect_output = manifest.tail.has_value();
    TS_CHECK(info.has_tail == protect_output, "the enclave worker ",
             info.has_tail ? "runs" : "has no", " tail partition, but ", opts.split_dir,
             "/manifest.json says the opposite");
    std::fprintf(stderr, "teesplit serve: %d worker(s), measurement %s, %s; %s; back: %s\n",
                 opts.workers, crypto::to_hex(info.measurement).c_str(),
                 info.provisioned ? "provisioned" : "NOT provisioned (teesplit provision)",
                 info.lockdown.c_str(), back->describe().c_str());
    if (protect_output)
      std::fprintf(stderr,
                   "teesplit serve: --protect-output split: the enclave runs the tail and "
                   "encrypts each result to its client\n");

    // Message sizes from the tensors: the largest request and reply, with room.
    auto bytes_of = [](const Shape& s) {
      size_t n = 4;
      for (int64_t d : s) n *= static_cast<size_t>(d);
      return n;
    };
    const size_t limit =
        std::max(bytes_of(manifest.input_shape), bytes_of(output_shape)) + (1 << 16);
    TS_CHECK(limit < (size_t{1} << 31), "tensors too large for one gRPC message");
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort(opts.listen, grpc::InsecureServerCredentials(), &port);
    b.SetMaxReceiveMessageSize(static_cast<int>(limit));
    b.SetMaxSendMessageSize(static_cast<int>(limit));
    b.RegisterService(this);
    server = b.BuildAndStart();
    TS_CHECK(server && port > 0, "cannot listen on ", opts.listen);
    address = opts.listen.substr(0, opts.listen.rfind(':')) + ":" + std::to_string(port);
    if (!opts.metrics_listen.empty())
      metrics_http = std::make_unique<MetricsHttpServer>(opts.metrics_listen, metrics);
  }

  // Restarts a worker that died (under its slot's lock).
  void restart(WorkerSlot& w) {
    w.proc.reset();
    if (fs::exists(sealed_key_path)) opts.worker.sealed_key = sealed_key_path;
    w.proc = std::make_unique<EnclaveProcess>(opts.worker);
    ++w.generation;
  }

  // Sends one message to a worker; a dead worker is restarted and the call
  // answers UNAVAILABLE (retryable: attest again).
  Status call(size_t index, MsgType type, const std::vector<uint8_t>& payload,
              channel::Frame& out) {
    WorkerSlot& w = *workers[index];
    std::unique_lock<std::mutex> lock(w.mu, std::defer_lock);
    {
      const Metrics::Queued waiting = metrics.queued();
      lock.lock();
    }
    try {
      out = w.proc->call(type, payload);
      return Status::OK;
    } catch (const Error& e) {
      std::fprintf(stderr, "teesplit serve: worker %zu: %s; restarting it\n", index, e.what());
      try {
        restart(w);
      } catch (const Error& e2) {
        return Status(StatusCode::INTERNAL,
                      std::string("cannot restart the enclave worker: ") + e2.what());
      }
      metrics.enclave_restarted();
      return Status(StatusCode::UNAVAILABLE,
                    "the enclave worker died and was restarted: attest again, then retry");
    }
  }

  static Status from_worker_error(const channel::Frame& f) {
    const enclave::ErrorReply e = enclave::decode_error_reply(f.payload);
    switch (e.code) {
      case enclave::ErrorCode::kNoSession:
        return Status(StatusCode::FAILED_PRECONDITION, e.message);
      case enclave::ErrorCode::kRejected:
        return Status(StatusCode::PERMISSION_DENIED, e.message);
      case enclave::ErrorCode::kNotProvisioned:
        return Status(StatusCode::FAILED_PRECONDITION, e.message);
      case enclave::ErrorCode::kBadRequest:
        return Status(StatusCode::INVALID_ARGUMENT, e.message);
      default:
        return Status(StatusCode::INTERNAL, e.message);
    }
  }

  // The worker holding a session, or an error saying to attest again.
  Status find(uint64_t session, size_t& index) {
    std::lock_guard<std::mutex> lock(sessions_mu);
    auto it = sessions.find(session);
    if (it == sessions.end())
      return Status(StatusCode::FAILED_PRECONDITION, "unknown session: attest first");
    index = it->second.first;
    std::lock_guard<std::mutex> wl(workers[index]->mu);
    if (workers[index]->generation != it->second.second) {
      sessions.erase(it);
      return Status(StatusCode::UNAVAILABLE,
                    "the session's enclave worker restarted: attest again");
    }
    return Status::OK;
  }

  // Every RPC is counted (requests, errors by status, in flight) around its handler.
  template <class F>
  Status counted(const char* rpc, F&& handler) {
    Status s;
    {
      const Metrics::Queued busy = metrics.in_flight();
      s = handler();
    }
    metrics.answered(rpc, status_code_name(s.error_code()));
    return s;
  }
  Status Info(grpc::ServerContext*, const pb::InfoRequest* q, pb::InfoReply* r) override {
    return counted("Info", [&] { return info(q, r); });
  }
  Status Attest(grpc::ServerContext*, const pb::AttestRequest* q, pb::AttestReply* r) override {
    return counted("Attest", [&] { return attest(q, r); });
  }
  Status Provision(grpc::ServerContext*, const pb::SealedMessage* q,
                   pb::ProvisionReply* r) override {
    return counted("Provision", [&] { return provision(q, r); });
  }
  Status Infer(grpc::ServerContext*, const pb::SealedMessage* q, pb::InferReply* r) override {
    return counted("Infer", [&] { return infer(q, r); });
  }

  Status info(const pb::InfoRequest*, pb::InfoReply* r) {
    std::lock_guard<std::mutex> lock(workers[0]->mu);
    const auto& info = workers[0]->proc->info();
    r->set_measurement(std::string(info.measurement.begin(), info.measurement.end()));
    r->set_provisioned(info.provisioned);
    r->set_insecure(info.insecure);
    r->set_lockdown(info.lockdown);
    for (int64_t d : manifest.input_shape) r->add_input_shape(d);
    for (int64_t d : output_shape) r->add_output_shape(d);
    r->set_workers(static_cast<uint32_t>(workers.size()));
    // A remote back is named by its kind only: its address is the operator's business.
    r->set_back_backend(opts.back.empty() ? backend_kind_name(opts.backend) : "kserve");
    r->set_protect_output(protect_output);
    if (protect_output) {
      r->clear_output_shape();
      for (int64_t d : info.output_shape) r->add_output_shape(d);
    }
    return Status::OK;
  }

  Status attest(const pb::AttestRequest* q, pb::AttestReply* r) {
    if (q->nonce().size() != 32 || q->client_public_key().size() != 32)
      return Status(StatusCode::INVALID_ARGUMENT, "nonce and client public key have 32 bytes each");
    enclave::AttestRequest req;
    std::copy(q->nonce().begin(), q->nonce().end(), req.nonce.begin());
    std::copy(q->client_public_key().begin(), q->client_public_key().end(),
              req.client_public.begin());
    const size_t index = next_worker++ % workers.size();
    channel::Frame f;
    if (Status s = call(index, MsgType::kAttest, enclave::encode(req), f); !s.ok()) return s;
    if (f.type != uint8_t(MsgType::kAttestReply)) return from_worker_error(f);
    const enclave::AttestReply rep = enclave::decode_attest_reply(f.payload);
    {
      std::lock_guard<std::mutex> lock(sessions_mu);
      std::lock_guard<std::mutex> wl(workers[index]->mu);
      sessions[rep.session] = {index, workers[index]->generation};
    }
    r->set_session(rep.session);
    r->set_enclave_public_key(std::string(rep.enclave_public.begin(), rep.enclave_public.end()));
    r->set_quote(std::string(rep.quote.begin(), rep.quote.end()));
    return Status::OK;
  }

  static enclave::SealedRequest sealed(const pb::SealedMessage* q) {
    enclave::SealedRequest s;
    s.session = q->session();
    s.message.assign(q->message().begin(), q->message().end());
    return s;
  }

  Status provision(const pb::SealedMessage* q, pb::ProvisionReply* r) {
    size_t index = 0;
    if (Status s = find(q->session(), index); !s.ok()) return s;
    channel::Frame f;
    if (Status s = call(index, MsgType::kProvision, enclave::encode(sealed(q)), f); !s.ok())
      return s;
    if (f.type != uint8_t(MsgType::kProvisionReply)) return from_worker_error(f);
    const enclave::ProvisionReply rep = enclave::decode_provision_reply(f.payload);
    try {
      fs::create_directories(fs::path(sealed_key_path).parent_path());
      crypto::write_key_file(sealed_key_path, rep.sealed_key, 0600, /*overwrite=*/true);
      // Every worker restarts and unseals the key before its lockdown.
      for (auto& w : workers) {
        std::lock_guard<std::mutex> lock(w->mu);
        restart(*w);
      }
    } catch (const Error& e) {
      return Status(StatusCode::INTERNAL, e.what());
    }
    r->set_note("key sealed to the enclave measurement; workers restarted (sessions ended)");
    return Status::OK;
  }

  Status infer(const pb::SealedMessage* q, pb::InferReply* r) {
    size_t index = 0;
    if (Status s = find(q->session(), index); !s.ok()) return s;
    const auto t0 = Clock::now();
    channel::Frame f;
    if (Status s = call(index, MsgType::kInfer, enclave::encode(sealed(q)), f); !s.ok()) return s;
    if (f.type != uint8_t(MsgType::kFeature)) return from_worker_error(f);
    const uint64_t front_us = us_since(t0);
    metrics.stage("front", static_cast<double>(front_us) * 1e-6);
    enclave::FeatureReply fr;
    try {
      fr = enclave::decode_feature_reply(f.payload, manifest.feature_shape);
    } catch (const Error& e) {
      return Status(StatusCode::INTERNAL, std::string("the enclave's reply: ") + e.what());
    }
    const auto t1 = Clock::now();
    Tensor out;
    try {
      out = back->run(fr.feature);
    } catch (const RemoteError& e) {
      return Status(e.retryable() ? StatusCode::UNAVAILABLE : StatusCode::INTERNAL,
                    std::string("the back partition's server: ") + e.what());
    } catch (const Error& e) {
      return Status(StatusCode::INTERNAL, std::string("the back partition: ") + e.what());
    }
    r->set_back_us(us_since(t1));
    metrics.stage("back", static_cast<double>(r->back_us()) * 1e-6);
    metrics.back_batch(fr.feature.shape().empty() ? 1 : fr.feature.shape()[0]);
    r->set_front_us(front_us);
    if (protect_output) {
      // The enclave's tail runs on the back's output and seals the result.
      enclave::TailRequest tq;
      tq.session = q->session();
      tq.back_output = std::move(out);
      const auto t2 = Clock::now();
      if (Status s = call(index, MsgType::kTail, enclave::encode(tq), f); !s.ok()) return s;
      if (f.type != uint8_t(MsgType::kTailReply)) return from_worker_error(f);
      enclave::TailReply tr;
      try {
        tr = enclave::decode_tail_reply(f.payload);
      } catch (const Error& e) {
        return Status(StatusCode::INTERNAL, std::string("the enclave's reply: ") + e.what());
      }
      if (tr.session != q->session())
        return Status(StatusCode::INTERNAL, "the enclave's tail reply names another session");
      r->set_tail_us(us_since(t2));
      metrics.stage("tail", static_cast<double>(r->tail_us()) * 1e-6);
      r->set_sealed_output(std::string(tr.message.begin(), tr.message.end()));
      return Status::OK;
    }
    for (int64_t d : out.shape()) r->add_shape(d);
    r->set_output(static_cast<const char*>(out.raw()), out.nbytes());
    return Status::OK;
  }
};

Server::Server(const ServeOptions& opts) : impl_(std::make_unique<Impl>(opts)) {}
Server::~Server() {
  if (impl_ && impl_->server) impl_->server->Shutdown();
}
const std::string& Server::address() const {
  return impl_->address;
}
std::string Server::metrics_address() const {
  return impl_->metrics_http ? impl_->metrics_http->address() : std::string();
}
void Server::wait() {
  impl_->server->Wait();
}
void Server::shutdown() {
  impl_->server->Shutdown();
}
std::vector<pid_t> Server::worker_pids() const {
  std::vector<pid_t> out;
  for (auto& w : impl_->workers) {
    std::lock_guard<std::mutex> lock(w->mu);
    out.push_back(w->proc->pid());
  }
  return out;
}

}  // namespace teesplit::serve
