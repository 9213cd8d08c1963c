#include "enclave/worker.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "attest/measurement.h"
#include "attest/quote.h"
#include "attest/report_data.h"
#include "attest/sim_root.h"
#include "attest/verifier.h"
#include "backends/onednn/onednn_backend.h"
#include "channel/frame.h"
#include "channel/secure_channel.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/secret.h"
#include "crypto/primitives.h"
#include "enclave/messages.h"
#include "enclave/quote_source.h"
#include "enclave/sandbox.h"
#include "enclave/sealing.h"
#include "enclave/secret_arena.h"
#include "partition/split_dir.h"

namespace teesplit::enclave {

CompileOptions worker_compile_options(int threads) {
  CompileOptions co;
  co.threads = threads;
  co.tune_cache = false;
  return co;
}

std::string measured_config(const std::string& precision, bool has_tail) {
  // Keys sorted, no whitespace: the bytes are measured.
  return std::string("{\"backend\":\"onednn\",\"precision\":\"") + precision +
         "\",\"protocol\":" + std::to_string(channel::ProtocolVersion) +
         ",\"tail\":" + (has_tail ? "true" : "false") + "}";
}

namespace {

using Clock = std::chrono::steady_clock;

uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

void log_line(const std::string& s) {
  std::fprintf(stderr, "teesplit-enclave: %s\n", s.c_str());
}

struct ClientSession {
  channel::SecureChannel channel;
  Clock::time_point expires;
  // With a tail partition: an input ran through the front and its result is
  // owed to the client; exactly one tail request may follow each input.
  bool result_pending = false;
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& o) : opts_(o) {}

  // Everything that needs files or the JIT, before the lockdown.
  void prepare() {
    // Before oneDNN creates its first primitive and long before the lockdown
    // (which forbids arch_prctl): AMX's tile data needs the kernel's permission.
    const AmxPermission amx = request_amx_permission();
    files_ = read_split_files(opts_.split_dir, /*with_back=*/false);
    const SplitManifest& m = files_.manifest;
    const Precision precision = parse_precision(m.precision);
    const bool has_tail = m.tail.has_value();
    // The running binary as the kernel loaded it (its path may have changed).
    const std::string binary = read_file("/proc/self/exe", size_t{1} << 30);
    const std::span<const uint8_t> tail_span = byte_span(files_.tail_bytes);
    measurement_ = attest::compute_measurement_bytes(
        byte_span(binary), byte_span(files_.front_bytes), measured_config(m.precision, has_tail),
        has_tail ? &tail_span : nullptr);
    info_.measurement = measurement_;
    info_.input_shape = m.input_shape;
    info_.feature_shape = m.feature_shape;
    info_.has_tail = has_tail;

    // The key of a sealed front: unsealed (bound to this measurement), or
    // given in clear for development, or provisioned later.
    // The simulated sealing root is a host file: not for an SGX enclave, whose
    // sealing (Gramine's /dev/attestation/keys) is not built yet.
    const bool gramine = running_under_gramine();
    if (!opts_.seal_root.empty() && !gramine) seal_root_ = read_seal_root(opts_.seal_root);
    std::optional<FrontKey> key;
    if (m.encrypted) {
      if (!opts_.sealed_key.empty()) {
        key = unseal_front_key(seal_root_, read_file(opts_.sealed_key, 4096), measurement_);
      } else if (!opts_.dev_key.empty()) {
        key = read_key_file(opts_.dev_key);
        dev_key_ = true;
        log_line("INSECURE: the front's key was given in clear (--dev-key); development only");
      }
    }

    if (!m.encrypted || key) {
      Graph front = load_split_front(files_, key ? &*key : nullptr);
      std::optional<Graph> tail;
      if (has_tail) tail = load_split_tail(files_, key ? &*key : nullptr);
      if (key) secure_wipe(key->data(), key->size());
      const CompileOptions co = worker_compile_options(opts_.threads);
      CompileOptions front_co = co;
      front_co.precision = precision;                            // the tail stays fp32
      front_ = make_onednn_backend()->compile(front, front_co);  // the front file is specialised
      if (precision == Precision::BF16) check_bf16_on_amx(amx);
      // Warm-up: oneDNN's JIT code and the OpenMP threads exist from now on.
      Tensor zeros(DType::F32, m.input_shape);
      front_->run({zeros});
      front_->run({zeros});
      if (tail) {
        tail_input_shape_ = tail->value(tail->inputs[0]).shape;
        info_.output_shape = tail->value(tail->outputs[0]).shape;
        tail_ = make_onednn_backend()->compile(*tail, co);
        Tensor t0(DType::F32, tail_input_shape_);
        tail_->run({t0});
        tail_->run({t0});
      }
      info_.provisioned = true;
    }
    // Under Gramine a genuine DCAP quote from /dev/attestation; elsewhere
    // SIMULATED attestation: the machine's simulated root signs the quotes.
    quotes_ = make_quote_source(gramine, opts_.attestation_key);
    mr_signer_ = quotes_->mr_signer();
  }

  // bf16 must not silently run on AVX-512 where the CPU has AMX: every bf16
  // step's implementation is checked, and what ran where goes to the log.
  void check_bf16_on_amx(const AmxPermission& amx) {
    size_t bf16_steps = 0, on_amx = 0;
    for (const std::string& label : front_->step_labels()) {
      if (label.find(" bf16 ") == std::string::npos) continue;
      ++bf16_steps;
      if (label.find("amx") != std::string::npos) ++on_amx;
    }
    log_line("front in bf16 on oneDNN ISA " + onednn_cpu_isa() + ": " + std::to_string(on_amx) +
             " of " + std::to_string(bf16_steps) + " bf16 steps on AMX; " + amx.detail);
    if (!amx.cpu_has_amx) return;
    TS_CHECK(amx.granted, "bf16 front: the CPU has AMX but ", amx.detail,
             "; refusing to run bf16 on an AVX-512 fallback");
    TS_CHECK(bf16_steps == 0 || on_amx > 0,
             "bf16 front: the CPU has AMX and the kernel permits "
             "it, but none of the ",
             bf16_steps, " bf16 steps runs on AMX (oneDNN ISA ", onednn_cpu_isa(), ")");
  }

  // OpenSSL reads its configuration file on first use, and every primitive
  // the worker needs after the lockdown must have been used once before it:
  // one handshake, one message each way, one quote.
  void warm_up_crypto() {
    channel::ClientHandshake c;
    channel::EnclaveHandshake e;
    channel::SecureChannel enc = e.accept(c.public_key(), c.nonce());
    channel::SecureChannel cli = c.finish(e.public_key());
    const uint8_t probe[16] = {};
    cli.open(enc.seal(probe));
    enc.open(cli.seal(probe));
    attest::ReportBody body;
    (void)quotes_->quote(body);
    uint8_t r[8];
    crypto::random_bytes(r, sizeof r);
  }

  void lock(bool insecure_flag) {
    warm_up_crypto();
    LockdownOptions lo;
    lo.insecure = opts_.insecure;
    const LockdownReport r = lock_down(lo);
    // Under Gramine the quote must come from /dev/attestation/quote (SGX), never
    // from the simulated signer: a host that fakes /dev/attestation would
    // otherwise skip the lockdown and still get a quote.
    TS_CHECK(!r.gramine || !quotes_->simulated(),
             "running under Gramine: refusing to sign simulated quotes there");
    info_.lockdown = r.summary();
    info_.gramine = r.gramine;
    info_.insecure = insecure_flag || r.insecure || dev_key_;
    info_.secret_memory = secret_memory_kind();
    if (info_.insecure) log_line("INSECURE mode: " + info_.lockdown);
  }

  int serve() {
    channel::write_frame(opts_.fd, uint8_t(MsgType::kReady), encode(info_));
    while (true) {
      std::optional<channel::Frame> f;
      try {
        f = channel::read_frame(opts_.fd, kMaxWorkerFrame);
      } catch (const Error& e) {
        log_line(std::string("the host's connection failed: ") + e.what());
        return 1;
      }
      if (!f) return 0;  // the host closed the socket
      if (f->type == uint8_t(MsgType::kShutdown)) return 0;
      reply(*f);
    }
  }

 private:
  void send(MsgType t, const std::vector<uint8_t>& payload) {
    channel::write_frame(opts_.fd, uint8_t(t), payload);
  }
  void send_error(ErrorCode code, bool retryable, const std::string& msg) {
    ErrorReply e;
    e.code = code;
    e.retryable = retryable;
    e.message = msg;
    send(MsgType::kError, encode(e));
  }

  void reply(const channel::Frame& f) {
    try {
      switch (static_cast<MsgType>(f.type)) {
        case MsgType::kAttest:
          return attest(decode_attest_request(f.payload));
        case MsgType::kInfer:
          return infer(decode_sealed_request(f.payload, "infer request"));
        case MsgType::kTail:
          if (tail_) return run_tail(decode_tail_request(f.payload, tail_input_shape_));
          if (files_.manifest.tail)
            return send_error(ErrorCode::kNotProvisioned, false, not_provisioned());
          return send_error(ErrorCode::kBadRequest, false,
                            unexpected(f.type) + ": this split has no tail partition");
        case MsgType::kProvision:
          return provision(decode_sealed_request(f.payload, "provision request"));
        default:
          return send_error(ErrorCode::kBadRequest, false, unexpected(f.type));
      }
    } catch (const channel::Rejected& e) {
      send_error(ErrorCode::kRejected, false, e.what());
    } catch (const Error& e) {
      send_error(ErrorCode::kBadRequest, false, e.what());
    } catch (const std::bad_alloc&) {
      send_error(ErrorCode::kInternal, true, "out of memory in the enclave");
    }
  }

  static std::string unexpected(uint8_t type) {
    return std::string("unexpected message type ") + std::to_string(type) + " (" +
           msg_type_name(type) + ")";
  }

  // The live session with this id, or nullptr (unknown or expired).
  ClientSession* find_session(uint64_t id) {
    expire();
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : &it->second;
  }
  void send_no_session() {
    send_error(ErrorCode::kNoSession, true, "unknown or expired session: attest again");
  }

  void expire() {
    const auto now = Clock::now();
    for (auto it = sessions_.begin(); it != sessions_.end();)
      it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  }

  void attest(const AttestRequest& req) {
    expire();
    if (sessions_.size() >= opts_.max_sessions) {
      // The oldest session makes room: a client that comes back attests again.
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
        if (it->second.expires < oldest->second.expires) oldest = it;
      sessions_.erase(oldest);
    }
    channel::EnclaveHandshake hs;
    const crypto::Bytes32 enclave_public = hs.public_key();
    uint64_t id = 0;
    do crypto::random_bytes(&id, sizeof id);
    while (id == 0 || sessions_.count(id));
    attest::ReportBinding binding;
    binding.enclave_public_key = enclave_public;
    binding.nonce = req.nonce;
    binding.protocol_version = channel::ProtocolVersion;
    attest::ReportBody body;
    body.attributes_flags = attest::kAttrInit | attest::kAttrMode64;  // never DEBUG
    body.mr_enclave = measurement_;
    body.mr_signer = mr_signer_;
    body.report_data =
        attest::make_report_data(binding, info_.insecure ? attest::kReportFlagInsecure : 0);
    AttestReply rep;
    rep.session = id;
    rep.enclave_public = enclave_public;
    rep.quote = quotes_->quote(body);
    channel::Limits limits;
    limits.max_message_bytes = kMaxWorkerFrame;
    limits.lifetime = opts_.session_lifetime;
    sessions_.emplace(id, ClientSession{hs.accept(req.client_public, req.nonce, limits),
                                        Clock::now() + opts_.session_lifetime});
    send(MsgType::kAttestReply, encode(rep));
  }

  void infer(const SealedRequest& req) {
    ClientSession* s = find_session(req.session);
    if (!s) return send_no_session();
    // Opened first, so that the session's sequence numbers stay in step with
    // the client's even when the input cannot be run.
    const auto t0 = Clock::now();
    const SecretBytes plain = s->channel.open(req.message, channel_aad("input", req.session));
    const auto t1 = Clock::now();
    if (!front_) return send_error(ErrorCode::kNotProvisioned, false, not_provisioned());
    ByteReader r(plain, "client input");
    const Tensor input = read_tensor(r, info_.input_shape, "input");
    r.finish();
    FeatureReply rep;
    rep.session = req.session;
    const auto t2 = Clock::now();
    rep.feature = front_->run({input})[0];
    rep.times.crypto_ns = ns_between(t0, t1);
    rep.times.run_ns = ns_between(t2, Clock::now());
    s->result_pending = tail_ != nullptr;
    send(MsgType::kFeature, encode(rep));
  }

  // The tail partition on the back partition's output for the session's last
  // input; the result is sealed to the client, so the host never sees it.
  void run_tail(const TailRequest& req) {
    ClientSession* s = find_session(req.session);
    if (!s) return send_no_session();
    if (!s->result_pending)
      return send_error(ErrorCode::kBadRequest, false,
                        "a tail request must follow exactly one input of the session");
    s->result_pending = false;
    const auto t0 = Clock::now();
    const Tensor result = tail_->run({req.back_output})[0];
    const auto t1 = Clock::now();
    TailReply rep;
    rep.session = req.session;
    rep.message = seal_tensor(s->channel, result, channel_aad("result", req.session));
    rep.times.run_ns = ns_between(t0, t1);
    rep.times.crypto_ns = ns_between(t1, Clock::now());
    send(MsgType::kTailReply, encode(rep));
  }

  void provision(const SealedRequest& req) {
    if (!files_.manifest.encrypted)
      return send_error(ErrorCode::kBadRequest, false, "the front partition is not sealed");
    if (seal_root_.empty())
      return send_error(ErrorCode::kInternal, false,
                        "no sealing root (--seal-root) to keep the key");
    ClientSession* s = find_session(req.session);
    if (!s) return send_no_session();
    const SecretBytes key = s->channel.open(req.message, channel_aad("provision", req.session));
    if (key.size() != kFrontKeySize)
      return send_error(ErrorCode::kBadRequest, false, "a front key has 32 bytes");
    FrontKey k;
    std::copy(key.begin(), key.end(), k.begin());
    // The key must open this front file: a wrong key is refused now, not at restart.
    auto parsed = parse_front(files_.front_bytes, &k, files_.front_path);
    if (!parsed.ok()) {
      secure_wipe(k.data(), k.size());
      return send_error(ErrorCode::kRejected, false,
                        "the provisioned key does not open the front partition");
    }
    ProvisionReply rep;
    rep.sealed_key = seal_front_key(seal_root_, k, measurement_);
    secure_wipe(k.data(), k.size());
    send(MsgType::kProvisionReply, encode(rep));
  }

  std::string not_provisioned() const {
    return "the front partition is sealed and its key has not been provisioned "
           "(teesplit provision), so this worker cannot run it yet";
  }

  WorkerOptions opts_;
  SplitFiles files_;
  crypto::Bytes32 measurement_{};
  crypto::Bytes32 mr_signer_{};
  WorkerInfo info_;
  bool dev_key_ = false;
  SecretBytes seal_root_;  // in the memfd_secret arena
  std::unique_ptr<Executable> front_;
  std::unique_ptr<Executable> tail_;  // split --protect-output: the last layers
  Shape tail_input_shape_;
  std::unique_ptr<QuoteSource> quotes_;
  std::map<uint64_t, ClientSession> sessions_;
};

}  // namespace

int run_worker(const WorkerOptions& opts) {
  std::unique_ptr<MemfdSecretArena> arena;
  bool arena_failed = false;
  // Under Gramine-SGX there is no memfd_secret: all enclave memory is
  // encrypted by the CPU, so secrets stay in ordinary (enclave) memory.
  const bool gramine = running_under_gramine();
  if (gramine) log_line("gramine: secrets in SGX enclave memory (no memfd_secret arena)");
  try {
    const size_t bytes = opts.secret_arena_bytes ? opts.secret_arena_bytes : size_t{256} << 20;
    if (!gramine) arena = MemfdSecretArena::create(bytes);
    install_secret_arena(arena.get());
  } catch (const Error& e) {
    if (!opts.insecure) {
      log_line(std::string("cannot hold secrets in memfd_secret memory: ") + e.what() +
               " (refusing to start; --insecure runs with ordinary memory and says so)");
      return 3;
    }
    arena_failed = true;
    log_line(std::string("INSECURE: secrets in ordinary memory: ") + e.what());
  }
  try {
    Worker w(opts);
    w.prepare();
    w.lock(arena_failed);
    const int rc = w.serve();
    return rc;
  } catch (const Error& e) {
    log_line(e.what());
    return 1;
  }
  // The arena outlives every secret: the Worker (and its sessions) are gone here.
}

}  // namespace teesplit::enclave
