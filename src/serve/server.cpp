#include "serve/server.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "crypto/ed25519.h"
#include "enclave/messages.h"
#include "enclave/worker.h"
#include "host/split_io.h"
#include "serve/back_endpoint.h"
#include "serve/batcher.h"
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

uint64_t us_since(Clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
}

// A mutex whose waiters can give up at a deadline, on a condition variable.
// (std::timed_mutex::try_lock_until is pthread_mutex_clocklock, which GCC 12's
// ThreadSanitizer does not intercept: it then reports every unlock after one.)
class DeadlineMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return !held_; });
    held_ = true;
  }
  // False when `deadline` passed before the mutex was free.
  bool try_lock_until(Clock::time_point deadline) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_until(l, deadline, [this] { return !held_; })) return false;
    held_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> l(mu_);
      held_ = false;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
};

// A worker and the generation of the process behind it: a session made with
// one generation is gone once the worker restarts.
struct WorkerSlot {
  DeadlineMutex mu;  // a request waits for its worker until its deadline
  std::unique_ptr<EnclaveProcess> proc;
  std::atomic<uint64_t> generation{0};  // changed under mu; read without it
};

// A request's deadline on the steady clock: the client's (gRPC), or the
// server's default when the client sets none; Clock::time_point::max() for none.
Clock::time_point deadline_of(const grpc::ServerContext* ctx, double default_ms) {
  const auto now_sys = std::chrono::system_clock::now();
  const auto now = Clock::now();
  Clock::time_point d = Clock::time_point::max();
  if (ctx) {
    const auto cd = ctx->deadline();
    // gRPC says "none" with a time far in the future.
    if (cd < now_sys + std::chrono::hours(24 * 365))
      d = now + std::chrono::duration_cast<Clock::duration>(cd - now_sys);
  }
  if (default_ms > 0 && d == Clock::time_point::max())
    d = now + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double, std::milli>(default_ms));
  return d;
}

Status deadline_status(const char* where) {
  return Status(StatusCode::DEADLINE_EXCEEDED,
                std::string("the request's deadline passed ") + where + "; it was not computed");
}

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
  // Per worker, its sessions in the order they were made: a worker keeps at
  // most WorkerOptions::max_sessions (it drops its oldest), and so does the
  // host's table, which would otherwise grow with every attestation.
  std::vector<std::deque<uint64_t>> session_order;
  std::string sealed_key_path;
  std::unique_ptr<grpc::Server> server;
  std::string address;
  Metrics metrics;
  std::unique_ptr<MetricsHttpServer> metrics_http;  // --metrics-listen
  std::unique_ptr<BackBatcher> batcher;             // the back partition's stage
  // Admission: calls held (waiting or computing), bounded by max_queue.
  std::mutex held_mu;
  std::condition_variable held_cv;
  int64_t held = 0;
  bool draining = false;
  std::once_flag shutdown_once;

  explicit Impl(const ServeOptions& o) : opts(o) {
    TS_CHECK(opts.workers >= 1 && opts.workers <= 64, "--workers must be 1..64");
    TS_CHECK(opts.max_queue >= 1 && opts.max_queue <= 1000000, "--max-queue must be 1..1000000");
    TS_CHECK(opts.deadline_ms >= 0, "--deadline-ms must be 0 (none) or more");
    TS_CHECK(opts.drain_timeout_s >= 0, "--drain-timeout must be 0 or more seconds");
    SessionOptions so;
    so.backend = opts.backend;
    so.threads = opts.threads;
    // On the CPU, the back partition gets the cores the workers leave: OpenMP
    // threads that spin while the workers hold the cores cost more than they give.
    if (so.threads == 0 && opts.back.empty() && opts.backend != BackendKind::Cuda) {
      const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      so.threads = std::max(1, cores - opts.workers * std::max(1, opts.worker.threads));
      std::fprintf(stderr,
                   "teesplit serve: the back partition on %d CPU thread(s): %d core(s), %d "
                   "worker(s) of %d thread(s) (--threads sets it)\n",
                   so.threads, cores, opts.workers, std::max(1, opts.worker.threads));
    }
    back = open_back(opts.back, opts.split_dir, so, &manifest);
    // Compile the back partition now, not on the first request (a remote one:
    // check that it answers).
    output_shape = back->run(Tensor(DType::F32, manifest.feature_shape)).shape();
    BatchOptions bo;
    bo.max_batch = opts.max_batch;
    bo.max_delay = std::chrono::microseconds(static_cast<int64_t>(opts.max_delay_ms * 1000));
    batcher = std::make_unique<BackBatcher>(*back, manifest.feature_shape, bo, &metrics);
    // Compile every batch size the batches are padded to now, not on first use
    // (a remote back that takes any size: only the largest, as a check).
    std::set<int64_t> sizes;
    for (int64_t n = 2; n <= opts.max_batch; ++n)
      sizes.insert(back->padded_batch(n, opts.max_batch));
    if (sizes.size() > 16) sizes = {back->padded_batch(opts.max_batch, opts.max_batch)};
    for (const int64_t b : sizes) {
      Shape s = manifest.feature_shape;
      s[0] = b;
      back->run(Tensor(DType::F32, s));
    }
    opts.worker.split_dir = opts.split_dir;
    const std::string state = opts.state_dir.empty()
                                  ? (fs::path(opts.split_dir) / ".teesplit-state").string()
                                  : opts.state_dir;
    sealed_key_path = (fs::path(state) / "sealed-front-key.bin").string();
    if (fs::exists(sealed_key_path)) opts.worker.sealed_key = sealed_key_path;
    session_order.resize(static_cast<size_t>(opts.workers));
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
    std::fprintf(stderr,
                 "teesplit serve: back partition batches of up to %d (waiting at most %g ms); "
                 "at most %d calls held, more are refused; deadline %s\n",
                 opts.max_batch, opts.max_delay_ms, opts.max_queue,
                 opts.deadline_ms > 0 ? (std::to_string(opts.deadline_ms) + " ms unless the "
                                                                            "client sets one")
                                            .c_str()
                                      : "the client's");
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
  // answers UNAVAILABLE (retryable: attest again). `generation`: the worker
  // generation the caller's session belongs to (-1: any). A call still waiting
  // for its worker when `deadline` passes is answered DEADLINE_EXCEEDED.
  Status call(size_t index, int64_t generation, Clock::time_point deadline, MsgType type,
              const std::vector<uint8_t>& payload, channel::Frame& out) {
    return call_with(index, generation, deadline,
                     [&](EnclaveProcess& p) { out = p.call(type, payload); });
  }

  // call()'s worker handling around any exchange with the worker (fn).
  Status call_with(size_t index, int64_t generation, Clock::time_point deadline,
                   const std::function<void(EnclaveProcess&)>& fn) {
    WorkerSlot& w = *workers[index];
    std::unique_lock<DeadlineMutex> lock(w.mu, std::defer_lock);
    {
      const Metrics::Queued waiting = metrics.queued();
      if (deadline == Clock::time_point::max()) {
        lock.lock();
      } else if (!lock.try_lock_until(deadline)) {
        metrics.deadline_passed("front");
        return deadline_status("while it waited for its enclave worker");
      }
    }
    if (generation >= 0 && w.generation != static_cast<uint64_t>(generation))
      return Status(StatusCode::UNAVAILABLE,
                    "the session's enclave worker was restarted: attest again, then retry");
    if (Clock::now() >= deadline) {
      metrics.deadline_passed("front");
      return deadline_status("while it waited for its enclave worker");
    }
    // A worker that died, or stalled past --worker-timeout, is replaced; its
    // sessions end with it, so the client attests again.
    bool stalled = false;
    try {
      fn(*w.proc);
      return Status::OK;
    } catch (const WorkerStalled& e) {
      std::fprintf(stderr, "teesplit serve: worker %zu: %s; replacing it\n", index, e.what());
      stalled = true;
    } catch (const Error& e) {
      std::fprintf(stderr, "teesplit serve: worker %zu: %s; restarting it\n", index, e.what());
    }
    try {
      if (stalled) w.proc->kill();  // a stopped process does not stop when asked
      restart(w);
    } catch (const Error& e2) {
      return Status(StatusCode::INTERNAL,
                    std::string("cannot restart the enclave worker: ") + e2.what());
    }
    metrics.enclave_restarted();
    return Status(StatusCode::UNAVAILABLE,
                  stalled ? "the enclave worker did not answer within --worker-timeout and was "
                            "replaced: attest again, then retry"
                          : "the enclave worker died and was restarted: attest again, then retry");
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

  // The worker holding a session and its generation, or an error saying to attest again.
  Status find(uint64_t session, size_t& index, int64_t& generation) {
    std::lock_guard<std::mutex> lock(sessions_mu);
    auto it = sessions.find(session);
    if (it == sessions.end())
      return Status(StatusCode::FAILED_PRECONDITION, "unknown session: attest first");
    index = it->second.first;
    generation = static_cast<int64_t>(it->second.second);
    // Its worker was restarted since: the session died with the old process.
    if (workers[index]->generation != it->second.second) {
      sessions.erase(it);
      return Status(StatusCode::UNAVAILABLE,
                    "the session's enclave worker was restarted: attest again, then retry");
    }
    return Status::OK;
  }

  // Admission: a call is held until it answers. Refused at once while
  // draining or when max_queue calls are held.
  class Held {
   public:
    explicit Held(Impl& s) : s_(s) {}
    Status admit() {
      std::lock_guard<std::mutex> lock(s_.held_mu);
      if (s_.draining) {
        s_.metrics.refused("draining");
        return Status(StatusCode::UNAVAILABLE,
                      "the server is draining (shutting down): retry on another server");
      }
      if (s_.held >= s_.opts.max_queue) {
        s_.metrics.refused("queue_full");
        return Status(StatusCode::RESOURCE_EXHAUSTED,
                      "the server holds " + std::to_string(s_.held) +
                          " requests (--max-queue): retry later; this request did not reach "
                          "the enclave");
      }
      ++s_.held;
      admitted_ = true;
      return Status::OK;
    }
    ~Held() {
      if (!admitted_) return;
      std::lock_guard<std::mutex> lock(s_.held_mu);
      if (--s_.held == 0) s_.held_cv.notify_all();
    }

   private:
    Impl& s_;
    bool admitted_ = false;
  };

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
  // An admitted call (Held): refused at once when full or draining, else run
  // with its deadline.
  template <class F>
  Status admitted(const char* rpc, const grpc::ServerContext* c, F&& handler) {
    return counted(rpc, [&] {
      Held h(*this);
      if (Status s = h.admit(); !s.ok()) return s;
      return handler(deadline_of(c, opts.deadline_ms));
    });
  }
  Status Attest(grpc::ServerContext* c, const pb::AttestRequest* q, pb::AttestReply* r) override {
    return admitted("Attest", c, [&](Clock::time_point d) { return attest(d, q, r); });
  }
  Status Provision(grpc::ServerContext* c, const pb::SealedMessage* q,
                   pb::ProvisionReply* r) override {
    return admitted("Provision", c, [&](Clock::time_point d) { return provision(d, q, r); });
  }
  Status Infer(grpc::ServerContext* c, const pb::SealedMessage* q, pb::InferReply* r) override {
    return admitted("Infer", c, [&](Clock::time_point d) { return infer(d, q, r); });
  }

  Status info(const pb::InfoRequest*, pb::InfoReply* r) {
    std::lock_guard<DeadlineMutex> lock(workers[0]->mu);
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

  Status attest(Clock::time_point deadline, const pb::AttestRequest* q, pb::AttestReply* r) {
    if (q->nonce().size() != 32 || q->client_public_key().size() != 32)
      return Status(StatusCode::INVALID_ARGUMENT, "nonce and client public key have 32 bytes each");
    enclave::AttestRequest req;
    std::copy(q->nonce().begin(), q->nonce().end(), req.nonce.begin());
    std::copy(q->client_public_key().begin(), q->client_public_key().end(),
              req.client_public.begin());
    const size_t index = next_worker++ % workers.size();
    channel::Frame f;
    const uint64_t generation = workers[index]->generation;
    if (Status s = call(index, static_cast<int64_t>(generation), deadline, MsgType::kAttest,
                        enclave::encode(req), f);
        !s.ok())
      return s;
    if (f.type != uint8_t(MsgType::kAttestReply)) return from_worker_error(f);
    const enclave::AttestReply rep = enclave::decode_attest_reply(f.payload);
    {
      std::lock_guard<std::mutex> lock(sessions_mu);
      sessions[rep.session] = {index, generation};
      std::deque<uint64_t>& order = session_order[index];
      order.push_back(rep.session);
      while (order.size() > enclave::WorkerOptions{}.max_sessions) {
        auto it = sessions.find(order.front());
        if (it != sessions.end() && it->second.first == index) sessions.erase(it);
        order.pop_front();
      }
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

  Status provision(Clock::time_point deadline, const pb::SealedMessage* q, pb::ProvisionReply* r) {
    size_t index = 0;
    int64_t generation = 0;
    if (Status s = find(q->session(), index, generation); !s.ok()) return s;
    channel::Frame f;
    if (Status s =
            call(index, generation, deadline, MsgType::kProvision, enclave::encode(sealed(q)), f);
        !s.ok())
      return s;
    if (f.type != uint8_t(MsgType::kProvisionReply)) return from_worker_error(f);
    const enclave::ProvisionReply rep = enclave::decode_provision_reply(f.payload);
    try {
      fs::create_directories(fs::path(sealed_key_path).parent_path());
      crypto::write_key_file(sealed_key_path, rep.sealed_key, 0600, /*overwrite=*/true);
      // Every worker restarts and unseals the key before its lockdown.
      for (auto& w : workers) {
        std::lock_guard<DeadlineMutex> lock(w->mu);
        restart(*w);
      }
    } catch (const Error& e) {
      return Status(StatusCode::INTERNAL, e.what());
    }
    r->set_note("key sealed to the enclave measurement; workers restarted (sessions ended)");
    return Status::OK;
  }

  Status infer(Clock::time_point deadline, const pb::SealedMessage* q, pb::InferReply* r) {
    if (Clock::now() >= deadline) {
      metrics.deadline_passed("front");
      return deadline_status("before it was read");
    }
    size_t index = 0;
    int64_t generation = 0;
    if (Status s = find(q->session(), index, generation); !s.ok()) return s;
    const auto t0 = Clock::now();
    // The feature map goes from the worker's socket straight into its row of
    // a batch (BackBatcher::reserve), unless reads from the worker are
    // unbounded (--worker-timeout 0): a batch waits for its rows, so a worker
    // stalled inside its reply must not hold one for ever. Otherwise, and for
    // any reply that is not such a feature map, the reply is read whole and
    // kept until its feature map is copied into its batch.
    const bool direct = opts.worker.reply_timeout.count() > 0;
    auto f = std::make_shared<channel::Frame>();
    BackBatcher::Reservation row;
    bool placed = false;
    enclave::FeatureView fv;
    const std::vector<uint8_t> request = enclave::encode(sealed(q));
    Status called;
    if (direct) {
      auto place = [&]() -> uint8_t* {
        try {
          row = batcher->reserve(deadline);
          placed = true;
          return row.dst;
        } catch (const Error&) {
          return nullptr;  // stopping: read whole, and run() below says so
        }
      };
      called = call_with(index, generation, deadline, [&](EnclaveProcess& p) {
        if (auto whole = p.call_into(MsgType::kInfer, request, manifest.feature_shape, place, &fv))
          *f = std::move(*whole);
      });
    } else {
      called = call(index, generation, deadline, MsgType::kInfer, request, *f);
    }
    if (!called.ok()) {
      if (placed) batcher->abandon(std::move(row));
      return called;
    }
    if (!placed) {
      if (f->type != uint8_t(MsgType::kFeature)) return from_worker_error(*f);
      try {
        fv = enclave::decode_feature_view(f->payload, manifest.feature_shape);
      } catch (const Error& e) {
        return Status(StatusCode::INTERNAL, std::string("the enclave's reply: ") + e.what());
      }
    }
    const uint64_t front_us = us_since(t0);
    metrics.stage("front", static_cast<double>(front_us) * 1e-6);
    metrics.feature_map(placed);
    const auto t1 = Clock::now();
    Tensor out;
    try {
      out = placed ? batcher->finish(std::move(row))
                   : batcher->run(fv.feature, std::move(f), deadline);  // f is not used after
    } catch (const DeadlineExceeded& e) {
      return Status(StatusCode::DEADLINE_EXCEEDED, e.what());
    } catch (const RemoteError& e) {
      return Status(e.retryable() ? StatusCode::UNAVAILABLE : StatusCode::INTERNAL,
                    std::string("the back partition's server: ") + e.what());
    } catch (const Error& e) {
      return Status(StatusCode::INTERNAL, std::string("the back partition: ") + e.what());
    }
    r->set_back_us(us_since(t1));  // queued for the batch, then the batch's call
    r->set_front_us(front_us);
    if (protect_output) {
      // The enclave's tail runs on the back's output and seals the result.
      enclave::TailRequest tq;
      tq.session = q->session();
      tq.back_output = std::move(out);
      const auto t2 = Clock::now();
      // The tail is not skipped at a passed deadline: the enclave owes the client this result.
      channel::Frame tf;
      if (Status s = call(index, generation, Clock::time_point::max(), MsgType::kTail,
                          enclave::encode(tq), tf);
          !s.ok())
        return s;
      if (tf.type != uint8_t(MsgType::kTailReply)) return from_worker_error(tf);
      enclave::TailReply tr;
      try {
        tr = enclave::decode_tail_reply(tf.payload);
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
  if (impl_ && impl_->server) shutdown();
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
  Impl& s = *impl_;
  std::call_once(s.shutdown_once, [&s] {
    std::unique_lock<std::mutex> lock(s.held_mu);
    s.draining = true;
    s.metrics.set_draining();
    if (s.held > 0)
      std::fprintf(stderr, "teesplit serve: draining: %lld request(s) in flight\n",
                   static_cast<long long>(s.held));
    const bool drained = s.held_cv.wait_for(
        lock, std::chrono::duration<double>(s.opts.drain_timeout_s), [&s] { return s.held == 0; });
    if (!drained)
      std::fprintf(stderr,
                   "teesplit serve: %lld request(s) still running after the drain timeout "
                   "(%g s): cancelling them\n",
                   static_cast<long long>(s.held), s.opts.drain_timeout_s);
    lock.unlock();
    // What is still running is cancelled after a second; new calls are refused.
    s.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    s.batcher->stop();
  });
}
std::vector<pid_t> Server::worker_pids() const {
  std::vector<pid_t> out;
  for (auto& w : impl_->workers) {
    std::lock_guard<DeadlineMutex> lock(w->mu);
    out.push_back(w->proc->pid());
  }
  return out;
}

}  // namespace teesplit::serve
