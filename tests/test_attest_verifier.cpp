// attest/: report data, measurement, the simulated root and the verifier. Each
// refusal the enclave issue lists has its test, and the verdict says which.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "attest/measurement.h"
#include "attest/quote.h"
#include "attest/report_data.h"
#include "attest/sim_root.h"
#include "attest/verifier.h"
#include "core/error.h"
#include "core/file.h"
#include "support/test_support.h"

namespace teesplit::attest {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::path(testing::generated_dir()) / ("attest-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

Bytes32 filled(uint8_t v) {
  Bytes32 b;
  b.fill(v);
  return b;
}

bool has_reason(const Verdict& v, const std::string& part) {
  for (const std::string& r : v.reasons)
    if (r.find(part) != std::string::npos) return true;
  return false;
}

// ---- report data ----

TEST(ReportData, LayoutAndBinding) {
  ReportBinding b{filled(0x11), filled(0x22), 1};
  const ReportData rd = make_report_data(b, 0);
  EXPECT_EQ(report_data_version(rd), 1u);
  EXPECT_EQ(report_data_flags(rd), 0u);
  EXPECT_EQ(rd[32], 1);
  for (size_t i = 33; i < 64; ++i) EXPECT_EQ(rd[i], 0) << i;
  // Bytes 0..32: the documented hash, recomputed here from its definition.
  crypto::Sha256 h;
  const std::string domain = "teesplit report data v1";
  h.update(domain.data(), domain.size());
  const uint8_t vf[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  h.update(vf, 8);
  h.update_field(b.enclave_public_key).update_field(b.nonce);
  const Bytes32 want = h.finish();
  EXPECT_TRUE(std::equal(want.begin(), want.end(), rd.begin()));
  EXPECT_EQ(check_report_data(rd, b), "");

  ReportBinding other_nonce = b;
  other_nonce.nonce[31] ^= 1;
  EXPECT_NE(check_report_data(rd, other_nonce).find("stale or replayed"), std::string::npos);
  ReportBinding other_key = b;
  other_key.enclave_public_key[0] ^= 1;
  EXPECT_NE(check_report_data(rd, other_key).find("does not bind"), std::string::npos);
  ReportBinding other_version = b;
  other_version.protocol_version = 2;
  EXPECT_NE(check_report_data(rd, other_version).find("protocol version 1, expected 2"),
            std::string::npos);

  // Flags are bound: flipping the insecure bit in clear breaks the hash.
  ReportData flipped = rd;
  flipped[36] ^= kReportFlagInsecure;
  EXPECT_NE(check_report_data(flipped, b).find("does not bind"), std::string::npos);
  const ReportData insecure = make_report_data(b, kReportFlagInsecure);
  EXPECT_EQ(check_report_data(insecure, b), "");
  EXPECT_EQ(report_data_flags(insecure), kReportFlagInsecure);
  ReportData unknown = rd;
  unknown[37] = 1;
  EXPECT_NE(check_report_data(unknown, b).find("unknown flags"), std::string::npos);
  ReportData reserved = rd;
  reserved[50] = 1;
  EXPECT_NE(check_report_data(reserved, b).find("reserved byte 50"), std::string::npos);
  EXPECT_FALSE(testing::error_of([&] { make_report_data(b, 0x80); }).empty());
}

// ---- measurement ----

TEST(Measurement, DefinitionAndSensitivity) {
  const std::string dir = fresh_dir("measure");
  const std::string bin = dir + "/teesplit-enclave", front = dir + "/front.tsf";
  const std::string bin_bytes(200000, 'b');  // more than one read chunk
  write_file(bin, bin_bytes);
  write_file(front, "front bytes");
  const std::string config = R"({"threads": 2, "backend": "cpu"})";
  const Bytes32 m = compute_measurement(bin, front, config);

  // Recomputed from the documented definition.
  crypto::Sha256 h;
  const std::string domain = "teesplit measurement v1";
  h.update(domain.data(), domain.size());
  const std::string canon = R"({"backend":"cpu","threads":2})";
  auto field = [&](const std::string& s) {
    h.update_field({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  };
  field(bin_bytes);
  field("front bytes");
  field(canon);
  EXPECT_EQ(m, h.finish());
  EXPECT_EQ(canonical_json(config), canon);

  // The same config written differently: the same measurement.
  EXPECT_EQ(compute_measurement(bin, front, "{ \"backend\":\"cpu\",\n \"threads\":2 }"), m);
  const std::vector<uint8_t> b(bin_bytes.begin(), bin_bytes.end());
  const std::string fs_ = "front bytes";
  const std::vector<uint8_t> f(fs_.begin(), fs_.end());
  EXPECT_EQ(compute_measurement_bytes(b, f, config), m);
  // Any change to any part changes it; moving a byte between parts too.
  EXPECT_NE(compute_measurement(bin, front, R"({"threads": 3, "backend": "cpu"})"), m);
  write_file(front, "front bytez");
  EXPECT_NE(compute_measurement(bin, front, config), m);
  std::vector<uint8_t> b2 = b, f2 = f;
  f2.insert(f2.begin(), b2.back());
  b2.pop_back();
  EXPECT_NE(compute_measurement_bytes(b2, f2, config), m);

  EXPECT_NE(testing::error_of([&] {
              compute_measurement(bin, front, "{not json");
            }).find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              compute_measurement(dir + "/none", front, "{}");
            }).find("enclave binary"),
            std::string::npos);
  EXPECT_NE(
      testing::error_of([&] { compute_measurement(bin, dir, "{}"); }).find("not a regular file"),
      std::string::npos);
  EXPECT_NE(simulated_mrsigner(filled(1)), simulated_mrsigner(filled(2)));
}

// ---- simulated root ----

TEST(SimRoot, CreatedOnceWithPrivateModes) {
  const std::string dir = fresh_dir("simroot");
  const std::string path = dir + "/a/b/attestation-key.pem";
  const Bytes32 first = load_or_create_sim_root(path).public_key();
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(dir + "/a/b"), 0700u);
  EXPECT_EQ(mode_of(dir + "/a"), 0700u);
  EXPECT_EQ(sim_root_public_path(path), dir + "/a/b/attestation-key.pub.pem");
  EXPECT_EQ(crypto::load_ed25519_public_key(sim_root_public_path(path)), first);
  // Created once: later calls load the same key.
  EXPECT_EQ(load_or_create_sim_root(path).public_key(), first);
  EXPECT_EQ(sim_root_public_key(path), first);
  EXPECT_EQ(sim_root_public_key(sim_root_public_path(path)), first);

  // Concurrent first users agree on one key.
  const std::string race = dir + "/race.pem";
  std::vector<Bytes32> keys(4);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < keys.size(); ++i)
    ts.emplace_back([&, i] { keys[i] = load_or_create_sim_root(race).public_key(); });
  for (auto& t : ts) t.join();
  for (const Bytes32& k : keys) EXPECT_EQ(k, keys[0]);

  // An opened-up key file is refused.
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_NE(testing::error_of([&] { load_or_create_sim_root(path); }).find("chmod 600"),
            std::string::npos);
}

TEST(SimRoot, DefaultPath) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  setenv("XDG_DATA_HOME", "/tmp/xdg-test", 1);
  const std::string p = default_sim_root_path();
  if (geteuid() == 0)
    EXPECT_EQ(p, "/var/lib/teesplit/sim-root/attestation-key.pem");
  else
    EXPECT_EQ(p, "/tmp/xdg-test/teesplit/sim-root/attestation-key.pem");
  if (old_xdg)
    setenv("XDG_DATA_HOME", saved.c_str(), 1);
  else
    unsetenv("XDG_DATA_HOME");
}

// ---- the verifier ----

struct Fixture {
  crypto::Ed25519PrivateKey root_key = crypto::Ed25519PrivateKey::generate();
  Bytes32 root = root_key.public_key();
  SimulatedQuoteSigner signer;
  ReportBinding binding{filled(0x42), filled(0x43), 1};
  Bytes32 measurement = filled(0x5a);

  Fixture() : signer(std::move(root_key)) {}

  ReportBody body(uint32_t flags = 0) const {
    ReportBody b;
    b.attributes_flags = kAttrInit | kAttrMode64;
    b.mr_enclave = measurement;
    b.mr_signer = simulated_mrsigner(root);
    b.isv_svn = 2;
    b.report_data = make_report_data(binding, flags);
    return b;
  }
  Policy policy() const {
    Policy p;
    p.mr_enclave = measurement;
    p.binding = binding;
    p.simulated_root = root;
    p.allow_simulated = true;
    return p;
  }
};

TEST(Verifier, AcceptsAGoodSimulatedQuote) {
  Fixture f;
  const std::vector<uint8_t> q = f.signer.quote_bytes(f.body());
  ASSERT_EQ(q.size(), 436u + 96u);
  const Verdict v = verify_quote(q, f.policy());
  EXPECT_TRUE(v.accepted) << v.to_text();
  EXPECT_TRUE(v.simulated);
  EXPECT_EQ(v.verifier, "simulated");
  EXPECT_TRUE(v.reasons.empty());
  const std::string text = v.to_text();
  EXPECT_NE(text.find("verdict: accepted"), std::string::npos);
  EXPECT_NE(text.find("MRENCLAVE: " + crypto::to_hex(f.measurement)), std::string::npos);
  EXPECT_NE(text.find("TSPLIT-SIMULATED"), std::string::npos);
  EXPECT_NE(text.find("not by SGX hardware"), std::string::npos);  // the note stays
}

TEST(Verifier, RefusesWrongMeasurement) {
  Fixture f;
  Policy p = f.policy();
  p.mr_enclave = filled(0x5b);
  const Verdict v = verify_quote(f.signer.quote_bytes(f.body()), p);
  EXPECT_FALSE(v.accepted);
  ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
  EXPECT_NE(v.reasons[0].find("wrong measurement"), std::string::npos);
  p = f.policy();
  p.mr_signer = filled(0);
  EXPECT_TRUE(has_reason(verify_quote(f.signer.quote_bytes(f.body()), p), "wrong signer"));
  p = f.policy();
  p.min_isv_svn = 3;
  EXPECT_TRUE(has_reason(verify_quote(f.signer.quote_bytes(f.body()), p), "below the minimum"));
  p = f.policy();
  p.isv_prod_id = 7;
  EXPECT_TRUE(has_reason(verify_quote(f.signer.quote_bytes(f.body()), p), "ISV product id 0"));
}

TEST(Verifier, RefusesAnotherSigner) {
  Fixture f;
  const SimulatedQuoteSigner other(crypto::Ed25519PrivateKey::generate());
  const Verdict v = verify_quote(other.quote_bytes(f.body()), f.policy());
  EXPECT_FALSE(v.accepted);
  EXPECT_TRUE(has_reason(v, "another key than the pinned simulated root")) << v.to_text();
  EXPECT_TRUE(has_reason(v, "does not verify")) << v.to_text();
  // Another key's signature with the pinned key spliced in: still refused.
  std::vector<uint8_t> spliced = other.quote_bytes(f.body());
  std::copy(f.root.begin(), f.root.end(), spliced.end() - 32);
  const Verdict s = verify_quote(spliced, f.policy());
  EXPECT_FALSE(s.accepted);
  EXPECT_FALSE(has_reason(s, "another key"));
  EXPECT_TRUE(has_reason(s, "does not verify")) << s.to_text();
  // No pinned root at all.
  Policy none = f.policy();
  none.simulated_root.reset();
  EXPECT_TRUE(has_reason(verify_quote(f.signer.quote_bytes(f.body()), none), "no simulated root"));
}

TEST(Verifier, RefusesStaleNonce) {
  Fixture f;
  Policy p = f.policy();
  p.binding->nonce[0] ^= 0xff;  // this session's nonce; the quote was made for another
  const Verdict v = verify_quote(f.signer.quote_bytes(f.body()), p);
  EXPECT_FALSE(v.accepted);
  ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
  EXPECT_NE(v.reasons[0].find("stale or replayed"), std::string::npos);
  // Offline (no session): not refused, but the verdict says the binding was not checked.
  p.binding.reset();
  const Verdict offline = verify_quote(f.signer.quote_bytes(f.body()), p);
  EXPECT_TRUE(offline.accepted);
  EXPECT_NE(offline.to_text().find("binding not checked"), std::string::npos);
}

TEST(Verifier, RefusesSimulatedWithoutAllowSimulated) {
  Fixture f;
  Policy p = f.policy();
  p.allow_simulated = false;
  const Verdict v = verify_quote(f.signer.quote_bytes(f.body()), p);
  EXPECT_FALSE(v.accepted);
  ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
  EXPECT_NE(v.reasons[0].find("without --allow-simulated"), std::string::npos);
}

TEST(Verifier, RefusesInsecureAndDebugUnlessAllowed) {
  Fixture f;
  const std::vector<uint8_t> insecure = f.signer.quote_bytes(f.body(kReportFlagInsecure));
  Verdict v = verify_quote(insecure, f.policy());
  EXPECT_FALSE(v.accepted);
  ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
  EXPECT_NE(v.reasons[0].find("insecure mode"), std::string::npos);
  Policy p = f.policy();
  p.allow_insecure = true;
  EXPECT_TRUE(verify_quote(insecure, p).accepted);

  ReportBody debug = f.body();
  debug.attributes_flags |= kAttrDebug;
  v = verify_quote(f.signer.quote_bytes(debug), f.policy());
  EXPECT_FALSE(v.accepted);
  ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
  EXPECT_NE(v.reasons[0].find("DEBUG enclave"), std::string::npos);
  p = f.policy();
  p.allow_debug = true;
  EXPECT_TRUE(verify_quote(f.signer.quote_bytes(debug), p).accepted);
}

TEST(Verifier, RefusesTamperedQuotes) {
  Fixture f;
  const std::vector<uint8_t> good = f.signer.quote_bytes(f.body());
  // Every byte of header and body, and of the signature: each flip refused.
  for (size_t i = 0; i < good.size(); ++i) {
    if (i >= 432 && i < 436) continue;  // the length field: a parse error (below)
    std::vector<uint8_t> bad = good;
    bad[i] ^= 0x01;
    const Verdict v = verify_quote(bad, f.policy());
    ASSERT_FALSE(v.accepted) << "flipped byte " << i << " accepted";
    if (i < 12 || (i >= 28 && i < 432) || (i >= 436 && i < 500)) {
      ASSERT_TRUE(has_reason(v, "does not verify") || has_reason(v, "malformed") ||
                  has_reason(v, "key type"))
          << "byte " << i << ": " << v.to_text();
    }
  }
  // The signed body changed after signing (e.g. MRENCLAVE swapped in).
  Quote q = parse_quote(good);
  q.body.mr_enclave = filled(0x77);
  Policy p = f.policy();
  p.mr_enclave = filled(0x77);
  const Verdict v = verify_quote(q.serialize(), p);
  EXPECT_FALSE(v.accepted);
  EXPECT_TRUE(has_reason(v, "does not verify")) << v.to_text();
  // Truncated and malformed quotes are refusals, never exceptions.
  for (size_t n : {size_t{0}, size_t{100}, size_t{435}, good.size() - 1}) {
    const Verdict t = verify_quote(std::span<const uint8_t>(good).first(n), f.policy());
    EXPECT_FALSE(t.accepted);
    EXPECT_TRUE(has_reason(t, "malformed quote")) << t.to_text();
  }
  // Signature data of the wrong size.
  Quote shortsig = parse_quote(good);
  shortsig.signature_data.pop_back();
  EXPECT_TRUE(has_reason(verify_quote(shortsig.serialize(), f.policy()), "expected 96"));
}

// A simulated quote made without teesplit (Python packs header and body at
// Intel's offsets, the openssl CLI signs: fuzz/make_quote_seeds.sh) verifies.
TEST(Verifier, AcceptsASimulatedQuoteBuiltElsewhere) {
  const std::string s = read_file(testing::source_path("fuzz/corpus/fuzz_quote/simulated_verify"));
  ASSERT_EQ(s.size(), 1u + 436u + 96u);
  const std::vector<uint8_t> bytes(s.begin() + 1, s.end());  // after the fuzzer's mode byte
  std::array<uint8_t, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i + 1);
  Policy p;
  p.simulated_root = crypto::Ed25519PrivateKey::from_seed(seed).public_key();
  p.allow_simulated = true;
  p.mr_enclave = filled(0x5a);
  p.mr_signer = filled(0x5b);
  p.isv_prod_id = 1;
  p.min_isv_svn = 2;
  const Verdict v = verify_quote(bytes, p);
  EXPECT_TRUE(v.accepted) << v.to_text();
  EXPECT_TRUE(v.simulated);
  p.min_isv_svn = 3;
  EXPECT_TRUE(has_reason(verify_quote(bytes, p), "below the minimum"));
}

TEST(Verifier, GenuineIntelQuotesGoToTheDcapVerifier) {
  // The header chooses: Intel's QE vendor id goes to the DCAP verifier
  // (tests/test_attest_dcap.cpp tests it), whatever the simulated settings.
  for (const char* name : {"mobilecoin-hw_quote.dat", "automata-quotev3.bin"}) {
    const std::string s =
        read_file(testing::source_path(std::string("tests/data/sgx-quotes/") + name));
    const std::vector<uint8_t> bytes(s.begin(), s.end());
    Policy p;
    p.allow_simulated = true;
    p.allow_debug = true;
    p.verification_time = 1780272000;  // 2026-06-01, inside every certificate's validity
    const Verdict v = verify_quote(bytes, p);
    EXPECT_TRUE(v.accepted) << v.to_text();
    EXPECT_EQ(v.verifier, "dcap");
    EXPECT_FALSE(v.simulated);
    ASSERT_TRUE(v.quote.has_value());
    const std::string text = v.to_text();
    EXPECT_NE(text.find("MRENCLAVE: " + crypto::to_hex(v.quote->body.mr_enclave)),
              std::string::npos);
    EXPECT_NE(text.find("(Intel)"), std::string::npos);
    EXPECT_NE(text.find("note: TCB status not checked"), std::string::npos);
  }
}

TEST(Verifier, UnknownVendorAndPluggableVerifiers) {
  Fixture f;
  Quote q = parse_quote(f.signer.quote_bytes(f.body()));
  q.header.qe_vendor_id.fill(0xee);
  Verdict v = verify_quote(q.serialize(), f.policy());
  EXPECT_FALSE(v.accepted);
  EXPECT_TRUE(has_reason(v, "no verifier for QE vendor id")) << v.to_text();

  // Another verifier plugs in beside the simulated and DCAP ones.
  struct Fake : QuoteVerifier {
    std::string name() const override { return "fake"; }
    bool handles(const QuoteHeader& h) const override { return h.qe_vendor_id[0] == 0xee; }
    void verify(const Quote& quote, const Policy& p, Verdict& out) const override {
      check_policy(quote, p, out);
    }
  };
  std::vector<std::unique_ptr<QuoteVerifier>> vs = default_verifiers();
  vs.push_back(std::make_unique<Fake>());
  v = verify_quote(q.serialize(), f.policy(), vs);
  EXPECT_EQ(v.verifier, "fake");
  EXPECT_TRUE(v.accepted) << v.to_text();
}

}  // namespace
}  // namespace teesplit::attest
