#include "planner/secure_path.h"
#include "core/clock.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "attest/sim_root.h"
#include "client/client.h"
#include "enclave/messages.h"
#include "host/enclave_process.h"
#include "host/split_io.h"
#include "runtime/session.h"

namespace teesplit::planner {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using enclave::MsgType;

namespace {

// The reply must have the expected type; an ErrorReply becomes an Error with its text.
void expect_reply(const channel::Frame& f, MsgType want, const char* what) {
  if (f.type == static_cast<uint8_t>(want)) return;
  if (f.type == static_cast<uint8_t>(MsgType::kError))
    fail(what, ": the enclave worker refused: ", enclave::decode_error_reply(f.payload).message);
  fail(what, ": unexpected reply type ", int(f.type), " from the enclave worker");
}

}  // namespace

struct SecurePathProbe::Impl {
  ProbeOptions opts;
  SplitManifest manifest;
  std::unique_ptr<Session> back;
  std::unique_ptr<EnclaveProcess> worker;
  std::unique_ptr<client::Attestation> attestation;
  attest::Policy policy;
  // Where each feature map is read to, straight from the worker's socket, as
  // serve reads it into its batch row (EnclaveProcess::call_into).
  Tensor feature;
};

SecurePathProbe::SecurePathProbe(const ProbeOptions& opts) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.opts = opts;
  TS_CHECK(!opts.split_dir.empty(), "secure path probe: no split directory");
  TS_CHECK(!opts.attestation_key.empty() && !opts.seal_root.empty(),
           "secure path probe: the simulated attestation and sealing roots must be named");
  auto back = open_split_back(opts.split_dir, {opts.back, opts.threads});
  if (!back) fail(back.error());
  s.manifest = back->manifest;
  s.back = std::move(back->session);
  s.feature = Tensor(DType::F32, s.manifest.feature_shape);
  attest::load_or_create_sim_root(opts.attestation_key);

  EnclaveLaunch l;
  l.binary = opts.enclave_binary;
  l.split_dir = opts.split_dir;
  l.attestation_key = opts.attestation_key;
  l.seal_root = opts.seal_root;
  l.threads = opts.threads;
  l.secret_arena_bytes = opts.secret_arena_bytes;
  s.worker = std::make_unique<EnclaveProcess>(l);
  TS_CHECK(s.worker->info().provisioned, "secure path probe: the worker for ", opts.split_dir,
           " has no front key (profile splits are written unsealed)");

  s.policy = client::policy_from_manifest(opts.split_dir + "/manifest.json", std::nullopt);
  s.policy.simulated_root = attest::sim_root_public_key(opts.attestation_key);
  s.policy.allow_simulated = true;
  attest();
}

SecurePathProbe::~SecurePathProbe() = default;

double SecurePathProbe::attest() {
  Impl& s = *impl_;
  const auto t0 = Clock::now();
  auto a = std::make_unique<client::Attestation>();
  const channel::Frame f = s.worker->call(MsgType::kAttest, enclave::encode(a->request()));
  expect_reply(f, MsgType::kAttestReply, "attestation");
  const attest::Verdict v = a->finish(enclave::decode_attest_reply(f.payload), s.policy);
  TS_CHECK(v.accepted, "attestation refused: ", v.to_text());
  s.attestation = std::move(a);
  return ms_since(t0);
}

StageSample SecurePathProbe::run(const Tensor& input, Tensor* result) {
  Impl& s = *impl_;
  client::Attestation& a = *s.attestation;
  StageSample t;
  const auto t0 = Clock::now();
  const enclave::SealedRequest req = client::seal_input(a, input);
  t.client_seal = ms_since(t0);

  const auto t1 = Clock::now();
  enclave::FeatureView fv;
  Tensor feature = s.feature;
  auto place = [&]() -> uint8_t* { return static_cast<uint8_t*>(s.feature.raw()); };
  if (std::optional<channel::Frame> f = s.worker->call_into(MsgType::kInfer, enclave::encode(req),
                                                            s.manifest.feature_shape, place, &fv)) {
    // Not a feature map of the manifest's layout: an error, or a reply to refuse.
    expect_reply(*f, MsgType::kFeature, "infer");
    enclave::FeatureReply fr = enclave::decode_feature_reply(f->payload, s.manifest.feature_shape);
    fv.times = fr.times;
    feature = std::move(fr.feature);
  }
  const double round_trip = ms_since(t1);
  t.decrypt = fv.times.crypto_ns / 1e6;
  t.front = fv.times.run_ns / 1e6;
  t.transfer_in = round_trip - t.decrypt - t.front;

  const auto t2 = Clock::now();
  Tensor back_out = s.back->run({feature})[0];
  t.back = ms_since(t2);
  // A back partition of reshapes alone may return its input's buffer, which the
  // next run overwrites.
  if (back_out.raw() == s.feature.raw()) back_out = back_out.clone();

  if (s.manifest.tail) {
    const auto t3 = Clock::now();
    enclave::TailRequest tq;
    tq.session = a.session_id();
    tq.back_output = std::move(back_out);
    const channel::Frame f = s.worker->call(MsgType::kTail, enclave::encode(tq));
    expect_reply(f, MsgType::kTailReply, "tail");
    const enclave::TailReply tr = enclave::decode_tail_reply(f.payload);
    const double rt_tail = ms_since(t3);
    t.tail = tr.times.run_ns / 1e6;
    t.seal = tr.times.crypto_ns / 1e6;
    t.transfer_tail = rt_tail - t.tail - t.seal;
    const auto t4 = Clock::now();
    Tensor out = client::open_result(a, tr.message);
    t.client_open = ms_since(t4);
    if (result) *result = std::move(out);
  } else if (result) {
    *result = std::move(back_out);
  }
  t.end_to_end = ms_since(t0);
  return t;
}

const SplitManifest& SecurePathProbe::manifest() const {
  return impl_->manifest;
}
pid_t SecurePathProbe::worker_pid() const {
  return impl_->worker->pid();
}
bool SecurePathProbe::worker_gramine() const {
  return impl_->worker->info().gramine;
}

double process_status_bytes(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return 1024.0 * std::stod(line.substr(key.size() + 1));
  return 0;
}

double mapped_file_bytes(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::set<std::string> files;
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash != std::string::npos) files.insert(line.substr(slash));
  }
  double total = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const auto n = fs::file_size(f, ec);
    if (!ec) total += static_cast<double>(n);
  }
  return total;
}

}  // namespace teesplit::planner
