// The client's commands: attest, infer and provision against `teesplit serve`
// (src/serve/remote.h), each checking the enclave's quote first:
//   teesplit attest ADDR (--expect-manifest FILE | --mrenclave HEX) [--sim-root FILE]
//                        [--allow-simulated] [policy]
//   teesplit attest --quote FILE [--mrenclave HEX] [--mrsigner HEX] [--min-isvsvn N]
//                        [--isvprodid N] [--allow-debug] [--at TIME]   (offline)
//   teesplit infer ADDR (--input FILE [-o OUT.npy] | --dataset SPEC [--limit N]) (policy as attest)
//   teesplit provision ADDR --key KEYFILE --expect-manifest DIR/manifest.json (policy as attest)
// The quote's header picks its verifier (attest/verifier.h): simulated, or a
// genuine SGX DCAP quote checked up to Intel's root (attest/dcap.h).
#include <chrono>
#include <cstdio>
#include <thread>

#include "attest/dcap.h"
#include "attest/sim_root.h"
#include "client/client.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/numbers.h"
#include "core/progress.h"
#include "crypto/ed25519.h"
#include "data/dataset.h"
#include "io/npy.h"
#include "partition/front_file.h"
#include "partition/manifest.h"
#include "serve/remote.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {
namespace {

struct PolicyArgs {
  std::string manifest, mrenclave, mrsigner, sim_root, owner_pub, at;
  int min_isv_svn = 0, isv_prod_id = -1;
  bool allow_simulated = false, allow_debug = false, allow_insecure = false;
};

void add_policy_options(CLI::App* app, PolicyArgs* p) {
  app->add_option("--expect-manifest", p->manifest,
                  "the split's manifest.json: its enclave measurement is expected");
  app->add_option("--mrenclave", p->mrenclave, "expected measurement (64 hex digits)");
  app->add_option("--mrsigner", p->mrsigner, "expected MRSIGNER (64 hex digits)");
  app->add_option("--min-isvsvn", p->min_isv_svn, "the enclave's ISV SVN must be at least N")
      ->check(CLI::Range(0, 65535));
  app->add_option("--isvprodid", p->isv_prod_id, "the enclave's ISV product id must be N")
      ->check(CLI::Range(0, 65535));
  app->add_option("--sim-root", p->sim_root,
                  "the SIMULATED attestation root's public key to pin (PEM); default: this "
                  "machine's own");
  app->add_flag("--allow-simulated", p->allow_simulated,
                "accept a simulated quote (no SGX: proves only that the quote was made with the "
                "simulated root's key)");
  app->add_flag("--allow-debug", p->allow_debug, "accept an enclave with the DEBUG attribute");
  app->add_flag("--allow-insecure", p->allow_insecure,
                "accept a worker that runs without its full lockdown");
  app->add_option("--owner-pub", p->owner_pub,
                  "the model owner's public key: the manifest's signature must verify");
}

crypto::Bytes32 hex32(const std::string& hex, const char* what) {
  crypto::Bytes32 b{};
  if (!crypto::from_hex(hex, b)) throw UsageError(std::string(what) + " must be 64 hex digits");
  return b;
}

// need_sim_root: pin the simulated root (a genuine quote checked offline does
// not need it, and should not create one on this machine).
attest::Policy make_policy(const PolicyArgs& a, bool need_measurement, bool need_sim_root = true) {
  if (need_measurement && a.manifest.empty() && a.mrenclave.empty())
    throw UsageError("give --expect-manifest FILE or --mrenclave HEX: what the enclave must run");
  std::optional<crypto::Bytes32> owner;
  if (!a.owner_pub.empty()) owner = crypto::load_ed25519_public_key(a.owner_pub);
  if (owner && a.manifest.empty()) throw UsageError("--owner-pub needs --expect-manifest");
  attest::Policy p;
  if (!a.manifest.empty()) p = client::policy_from_manifest(a.manifest, owner);
  if (!a.mrenclave.empty()) {
    const crypto::Bytes32 mr = hex32(a.mrenclave, "--mrenclave");
    if (p.mr_enclave && !crypto::ct_equal(p.mr_enclave->data(), mr.data(), 32))
      throw UsageError("--mrenclave differs from the manifest's enclave measurement");
    p.mr_enclave = mr;
  }
  if (!a.mrsigner.empty()) p.mr_signer = hex32(a.mrsigner, "--mrsigner");
  p.min_isv_svn = static_cast<uint16_t>(a.min_isv_svn);
  if (a.isv_prod_id >= 0) p.isv_prod_id = static_cast<uint16_t>(a.isv_prod_id);
  if (!a.at.empty()) {
    try {
      p.verification_time = attest::parse_utc_time(a.at);
    } catch (const Error& e) {
      throw UsageError(std::string("--at: ") + e.what());
    }
  }
  if (need_sim_root || !a.sim_root.empty())
    p.simulated_root = attest::sim_root_public_key(a.sim_root);
  p.allow_simulated = a.allow_simulated;
  p.allow_debug = a.allow_debug;
  p.allow_insecure = a.allow_insecure;
  return p;
}

// Attests a fresh session; prints the verdict's first line; throws when refused.
void attest_or_fail(serve::RemoteEnclave& r, client::Attestation& a, const attest::Policy& p,
                    bool verbose) {
  const attest::Verdict v = r.attest(a, p);
  if (verbose || !v.accepted) std::fputs(v.to_text().c_str(), v.accepted ? stdout : stderr);
  if (!v.accepted) fail("the enclave's quote was refused (see the verdict above)");
}

struct AttestArgs {
  std::string address, quote;
  PolicyArgs policy;
};

int attest_cmd(const AttestArgs& a) {
  if (!a.quote.empty()) {
    if (!a.address.empty()) throw UsageError("give ADDR or --quote FILE, not both");
    const std::string bytes = read_file(a.quote, enclave::kMaxQuoteBytes);
    const Result<attest::Quote> q = capture([&] { return attest::parse_quote(byte_span(bytes)); });
    attest::Policy p = make_policy(a.policy, false, !q.ok() || q.value().simulated());
    const attest::Verdict v = attest::verify_quote(byte_span(bytes), p);
    std::fputs(v.to_text().c_str(), stdout);
    return v.accepted ? 0 : 1;
  }
  if (a.address.empty()) throw UsageError("give the server's ADDR (or --quote FILE)");
  serve::RemoteEnclave r(a.address);
  client::Attestation at;
  const attest::Verdict v = r.attest(at, make_policy(a.policy, true));
  std::fputs(v.to_text().c_str(), stdout);
  return v.accepted ? 0 : 1;
}

struct InferArgs {
  std::string address, input, output, dataset;
  int64_t limit = 0, deadline_ms = 0;
  PolicyArgs policy;
};

int infer_cmd(const InferArgs& a) {
  if (a.input.empty() == a.dataset.empty())
    throw UsageError("give exactly one of --input FILE and --dataset SPEC");
  if (!a.output.empty() && a.input.empty()) throw UsageError("-o needs --input");
  const attest::Policy policy = make_policy(a.policy, true);
  serve::RemoteEnclave r(a.address);
  if (a.deadline_ms > 0) r.set_infer_deadline(std::chrono::milliseconds(a.deadline_ms));
  const serve::RemoteInfo info = r.info();
  client::Attestation at;
  attest_or_fail(r, at, policy, false);
  std::printf("attested %s: measurement %s%s\n", a.address.c_str(),
              crypto::to_hex(info.measurement).c_str(), info.insecure ? " (INSECURE worker)" : "");
  // A split whose last layers stay in the enclave: only sealed results count.
  const bool sealed_results =
      info.protect_output ||
      (!a.policy.manifest.empty() &&
       manifest_from_json(read_file(a.policy.manifest, kManifestMaxBytes)).tail.has_value());
  r.require_sealed_output(sealed_results);
  if (sealed_results)
    std::printf("results are sealed by the enclave (--protect-output): the host never sees them\n");

  if (!a.input.empty()) {
    // Preprocessing happens here, on the client.
    const Tensor x = make_input(info.input_shape, a.input, 1, 0);
    const Tensor out = r.infer(at, x);
    print_top_classes(out, 5);
    if (!a.output.empty()) {
      write_npy(a.output, out);
      std::printf("wrote %s\n", a.output.c_str());
    }
    return 0;
  }

  TS_CHECK(info.input_shape.size() == 4, "--dataset needs an image model ([1,C,H,W] input)");
  DatasetOptions o;
  o.split = "test";
  o.channels = info.input_shape[1];
  o.image_size = info.input_shape[2];
  auto data = open_dataset(a.dataset, o);
  const int64_t n = a.limit > 0 ? std::min(a.limit, data->size()) : data->size();
  std::vector<double> total_ms, front_ms, back_ms, tail_ms;
  int64_t correct = 0, retried = 0;
  const auto t_all = std::chrono::steady_clock::now();
  // On a terminal one line rewritten in place; in a log a line every 10 s and the last.
  ProgressLine progress(true, 90);
  for (int64_t i = 0; i < n; ++i) {
    const Batch b = data->get_batch(i, 1);
    serve::RemoteResult t;
    const auto t0 = std::chrono::steady_clock::now();
    Tensor out;
    for (int attempt = 0;; ++attempt) {
      try {
        out = r.infer(at, b.images, &t);
        break;
      } catch (const serve::RemoteError& e) {
        if (!e.retryable() || attempt >= 3) throw;
        std::fprintf(stderr, "%s; attesting again\n", e.what());
        // A full queue: back off before asking again.
        if (e.code() == "RESOURCE_EXHAUSTED")
          std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
        ++retried;
        at = client::Attestation();
        attest_or_fail(r, at, policy, false);
      }
    }
    total_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    front_ms.push_back(t.front_us / 1000.0);
    back_ms.push_back(t.back_us / 1000.0);
    tail_ms.push_back(t.tail_us / 1000.0);
    const float* row = out.data<float>();
    const int64_t k = out.numel();
    correct += (std::max_element(row, row + k) - row) == b.labels.data<int64_t>()[0];
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
    char line[160];
    std::snprintf(line, sizeof line, "infer: %s %lld/%lld  accuracy %.2f%%  %.0f s  ETA %.0f s",
                  progress_bar(i + 1, n).c_str(), static_cast<long long>(i + 1),
                  static_cast<long long>(n), 100.0 * double(correct) / double(i + 1), s,
                  s / double(i + 1) * double(n - i - 1));
    progress.update(line, i + 1 == n);
  }
  progress.clear();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  std::printf("%lld images through the enclave: accuracy %.2f%% (%lld correct), %.1f images/s\n",
              static_cast<long long>(n), 100.0 * double(correct) / double(n),
              static_cast<long long>(correct), double(n) / secs);
  std::printf("latency ms      p50      p99\n");
  std::printf("  end to end %8.3f %8.3f\n", percentile(total_ms, 50), percentile(total_ms, 99));
  std::printf("  front      %8.3f %8.3f   (enclave worker, as the host timed it)\n",
              percentile(front_ms, 50), percentile(front_ms, 99));
  std::printf("  back       %8.3f %8.3f   (host, %s)\n", percentile(back_ms, 50),
              percentile(back_ms, 99), info.back_backend.c_str());
  if (sealed_results)
    std::printf("  tail       %8.3f %8.3f   (enclave worker: last layers, result sealed)\n",
                percentile(tail_ms, 50), percentile(tail_ms, 99));
  if (retried)
    std::printf("retried %lld request(s) after attesting again\n", static_cast<long long>(retried));
  return 0;
}

struct ProvisionArgs {
  std::string address, key;
  PolicyArgs policy;
};

int provision_cmd(const ProvisionArgs& a) {
  if (a.policy.manifest.empty())
    throw UsageError(
        "--expect-manifest DIR/manifest.json is required: the key goes only to the "
        "enclave that split was made for");
  const FrontKey key = read_key_file(a.key);
  serve::RemoteEnclave r(a.address);
  client::Attestation at;
  attest_or_fail(r, at, make_policy(a.policy, true), false);
  const std::string note = r.provision(at, key);
  std::printf("provisioned the front key to %s: %s\n", a.address.c_str(), note.c_str());
  return 0;
}

}  // namespace

Subcommand add_attest_command(CLI::App& root) {
  auto a = std::make_shared<AttestArgs>();
  CLI::App* app = root.add_subcommand(
      "attest", "verify an enclave's quote: from a running server (ADDR), or a quote file offline");
  app->add_option("address", a->address, "the server, HOST:PORT");
  app->add_option("--quote", a->quote, "verify this quote file offline (binding not checked)");
  app->add_option("--at", a->policy.at,
                  "check certificates (DCAP: the PCK chain) at this UTC time instead of now: "
                  "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or seconds since 1970");
  add_policy_options(app, &a->policy);
  return {app, [a] { return attest_cmd(*a); }};
}

Subcommand add_infer_command(CLI::App& root) {
  auto a = std::make_shared<InferArgs>();
  CLI::App* app = root.add_subcommand(
      "infer", "private inference: attest the server's enclave, then send encrypted inputs");
  app->add_option("address", a->address, "the server, HOST:PORT")->required();
  app->add_option("--input", a->input, "one input: .npy or a PNG/JPEG image (preprocessed here)");
  app->add_option("-o,--output", a->output, "write the output (.npy)");
  app->add_option("--dataset", a->dataset,
                  "send a data set's test split (e.g. fashion-mnist); prints accuracy and latency");
  app->add_option("--limit", a->limit, "at most N samples of --dataset")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--deadline-ms", a->deadline_ms,
                  "each request's deadline (0: 300 s); the server does not compute a request past "
                  "it and answers DEADLINE_EXCEEDED")
      ->check(CLI::NonNegativeNumber);
  add_policy_options(app, &a->policy);
  return {app, [a] { return infer_cmd(*a); }};
}

Subcommand add_provision_command(CLI::App& root) {
  auto a = std::make_shared<ProvisionArgs>();
  CLI::App* app = root.add_subcommand(
      "provision", "the model owner: give a sealed front's key to an attested enclave");
  app->add_option("address", a->address, "the server, HOST:PORT")->required();
  app->add_option("--key", a->key, "the front's key file (split --key)")->required();
  add_policy_options(app, &a->policy);
  return {app, [a] { return provision_cmd(*a); }};
}

}  // namespace teesplit
