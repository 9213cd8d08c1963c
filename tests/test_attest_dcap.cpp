// attest/dcap.h: genuine SGX DCAP v3 quotes from SGX hardware
// (tests/data/sgx-quotes/, README there), verified up to the pinned Intel SGX
// Root CA, and each tampering issue 13 lists refused with a message naming what
// failed. Every check runs at a fixed verification time, so that the tests keep
// working after the certificates expire.
//
// A second, independent maker of DCAP quotes lives here too (OpenSSL's X.509
// and ECDSA APIs, with a CA, PCK CA, PCK certificate and attestation key made
// up by the test): the verifier must accept its quotes when pinned to its root,
// and refuse them when pinned to Intel's.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attest/dcap.h"
#include "attest/quote.h"
#include "attest/report_data.h"
#include "attest/verifier.h"
#include "client/client.h"
#include "core/error.h"
#include "core/file.h"
#include "enclave/messages.h"
#include "support/test_support.h"

namespace teesplit::attest {
namespace {

// ---- the genuine quotes and their README ----

struct Genuine {
  const char* file;
  const char* mr_enclave;
  const char* mr_signer;
  bool debug;
  size_t cert_data_bytes;
  int64_t leaf_not_after;  // the PCK certificate's notAfter, seconds since 1970
};

const Genuine kMobilecoin = {"mobilecoin-hw_quote.dat",
                             "1dd0df84810e53e26b2b167dfe0f97cc4364085fe0bd41d5e18a759c21d5c189",
                             "d412a4f07ef83892a5915fb2ab584be31e186e5a4f95ab5f6950fd4eb8694d7b",
                             true,
                             3551,
                             1876081594};  // 2029-06-13 21:46:34 UTC
const Genuine kAutomata = {"automata-quotev3.bin",
                           "a4f45c39dac622cb1dd32ddb35a52ec92db41d0fa88a1c911c49e59c534f61cd",
                           "8f2dbc0f9c5d3378d596974b2deed1f93223cc49242899f83809bcc92546132c",
                           false,
                           3682,
                           1930662064};  // 2031-03-07 15:01:04 UTC
const Genuine* const kGenuine[] = {&kMobilecoin, &kAutomata};

// 2026-06-01 00:00:00 UTC: every certificate of both chains is valid then.
constexpr int64_t kWhen = 1780272000;

std::vector<uint8_t> genuine_bytes(const Genuine& g) {
  const std::string s =
      read_file(testing::source_path(std::string("tests/data/sgx-quotes/") + g.file));
  return {s.begin(), s.end()};
}

Bytes32 hex32(const char* h) {
  Bytes32 b{};
  EXPECT_TRUE(crypto::from_hex(h, b)) << h;
  return b;
}

// The README's policy: its MRENCLAVE and MRSIGNER, DEBUG allowed where set.
Policy genuine_policy(const Genuine& g) {
  Policy p;
  p.mr_enclave = hex32(g.mr_enclave);
  p.mr_signer = hex32(g.mr_signer);
  p.allow_debug = g.debug;
  p.verification_time = kWhen;
  return p;
}

bool has(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& l : lines)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

std::string field(const Verdict& v, const std::string& name) {
  for (const auto& [k, val] : v.fields)
    if (k == name) return val;
  return "";
}

// The quote with its signature data replaced (the outer length follows).
std::vector<uint8_t> with_sig_data(std::vector<uint8_t> quote, const EcdsaSignatureData& d) {
  Quote q = parse_quote(quote);
  q.signature_data = serialize_ecdsa_signature_data(d);
  return q.serialize();
}

// ---- the pin ----

TEST(Dcap, PinnedRootIsIntelsProductionRoot) {
  const std::vector<uint8_t>& der = intel_sgx_root_ca_der();
  EXPECT_EQ(crypto::to_hex(crypto::sha256(der)), kIntelSgxRootCaSha256);
  const unsigned char* p = der.data();
  std::unique_ptr<X509, decltype(&X509_free)> c(d2i_X509(nullptr, &p, long(der.size())),
                                                &X509_free);
  ASSERT_TRUE(c);
  char cn[128] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(c.get()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "Intel SGX Root CA");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(c.get()), X509_get_issuer_name(c.get())), 0);
  // Intel's root public key (P-256, uncompressed), as Intel's PCK certificate
  // and CRL specification and independent verifiers publish it.
  unsigned char pub[65];
  size_t n = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(X509_get0_pubkey(c.get()), OSSL_PKEY_PARAM_PUB_KEY, pub,
                                            sizeof pub, &n),
            1);
  EXPECT_EQ(crypto::to_hex({pub, n}),
            "040ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f5"
            "67918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394");
  // Both genuine chains end in exactly these bytes.
  for (const Genuine* g : kGenuine) {
    const Quote q = parse_quote(genuine_bytes(*g));
    const auto chain = parse_pck_chain(parse_ecdsa_signature_data(q.signature_data).cert_data);
    ASSERT_EQ(chain.size(), 3u) << g->file;
    EXPECT_EQ(chain.back(), der) << g->file;
  }
}

// ---- parsing ----

TEST(Dcap, SignatureDataParsesAndSerialisesBack) {
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    const Quote q = parse_quote(bytes);
    const EcdsaSignatureData d = parse_ecdsa_signature_data(q.signature_data);
    EXPECT_EQ(d.qe_auth_data.size(), 32u) << g->file;
    EXPECT_EQ(d.cert_data_type, kCertDataPckChain) << g->file;
    EXPECT_EQ(d.cert_data.size(), g->cert_data_bytes) << g->file;
    EXPECT_EQ(serialize_ecdsa_signature_data(d), q.signature_data) << g->file;
    // The QE report sits at signature data offset 128 and binds the key (the
    // README: SHA-256(attestation key ‖ QE auth data)), computed here directly.
    std::vector<uint8_t> cat(d.attestation_key.begin(), d.attestation_key.end());
    cat.insert(cat.end(), d.qe_auth_data.begin(), d.qe_auth_data.end());
    const Bytes32 h = crypto::sha256(cat);
    EXPECT_TRUE(std::equal(h.begin(), h.end(), d.qe_report.report_data.begin())) << g->file;
    EXPECT_EQ(serialize_report_body(d.qe_report),
              std::vector<uint8_t>(q.signature_data.begin() + 128, q.signature_data.begin() + 512));
  }
}

TEST(Dcap, TruncatedSignatureDataAndSizesPastTheEndAreRefused) {
  const std::vector<uint8_t> bytes = genuine_bytes(kAutomata);
  const Quote q = parse_quote(bytes);
  const std::vector<uint8_t>& sd = q.signature_data;
  // Every prefix of the signature data, the quote's own length made to match.
  for (size_t n = 0; n < sd.size(); ++n) {
    Quote t = q;
    t.signature_data.assign(sd.begin(), sd.begin() + long(n));
    const Verdict v = verify_quote(t.serialize(), genuine_policy(kAutomata));
    ASSERT_FALSE(v.accepted) << n;
    ASSERT_TRUE(has(v.reasons, "malformed DCAP signature data")) << n << "\n" << v.to_text();
  }
  const std::string e1 = testing::error_of(
      [&] { parse_ecdsa_signature_data(std::span(sd).first(kEcdsaSigDataFixedBytes - 1)); });
  EXPECT_NE(e1.find("truncated at the QE report signature (quote offset 948"), std::string::npos)
      << e1;
  // A QE auth data size past the end (at quote offset 436 + 576 = 1012).
  std::vector<uint8_t> bad = sd;
  bad[576] = 0xff;
  bad[577] = 0xff;
  std::string e = testing::error_of([&] { parse_ecdsa_signature_data(bad); });
  EXPECT_NE(e.find("QE authentication data size 65535 at quote offset 1012 points past the end"),
            std::string::npos)
      << e;
  // The certification data size (at 576 + 2 + 32 + 2 = 612) one too large, one too small.
  bad = sd;
  bad[612] = static_cast<uint8_t>(bad[612] + 1);
  e = testing::error_of([&] { parse_ecdsa_signature_data(bad); });
  EXPECT_NE(e.find("certification data size 3683 at quote offset 1048 points past the end"),
            std::string::npos)
      << e;
  bad = sd;
  bad[612] = static_cast<uint8_t>(bad[612] - 1);
  e = testing::error_of([&] { parse_ecdsa_signature_data(bad); });
  EXPECT_NE(e.find("1 bytes after the certification data"), std::string::npos) << e;
  // Through the verifier, and a whole quote whose outer length points past the end.
  Quote t = q;
  t.signature_data = bad;
  EXPECT_TRUE(has(verify_quote(t.serialize(), genuine_policy(kAutomata)).reasons,
                  "malformed DCAP signature data"));
  std::vector<uint8_t> longer = bytes;
  longer[432] = static_cast<uint8_t>(longer[432] + 1);
  EXPECT_TRUE(has(verify_quote(longer, genuine_policy(kAutomata)).reasons, "points past the end"));
  // A truncated quote.
  for (size_t n : {size_t{0}, size_t{100}, size_t{436}, size_t{1000}, bytes.size() - 1})
    EXPECT_TRUE(has(verify_quote(std::span(bytes).first(n), genuine_policy(kAutomata)).reasons,
                    "malformed quote"))
        << n;
}

TEST(Dcap, PemChainParserIsStrict) {
  const Quote q = parse_quote(genuine_bytes(kMobilecoin));
  const std::vector<uint8_t> cd = parse_ecdsa_signature_data(q.signature_data).cert_data;
  auto text = [&](const std::string& s) {
    return testing::error_of([&] {
      parse_pck_chain({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    });
  };
  const std::string pem(cd.begin(), cd.end());
  EXPECT_EQ(text(pem), "");
  EXPECT_EQ(text(pem + std::string(1, '\0')), "");  // one NUL, as Intel's QE writes
  EXPECT_NE(text(pem + std::string(2, '\0')).find("unexpected byte 0x00"), std::string::npos);
  EXPECT_NE(text(pem + "junk").find("unexpected byte"), std::string::npos);
  EXPECT_NE(text("junk" + pem).find("at byte 0"), std::string::npos);
  EXPECT_NE(text("").find("holds no certificate"), std::string::npos);
  EXPECT_NE(text(pem.substr(0, pem.size() - 10)).find("has no -----END CERTIFICATE-----"),
            std::string::npos);
  std::string many;
  for (int i = 0; i < 3; ++i) many += pem;  // 9 certificates
  EXPECT_NE(text(many).find("more than 8"), std::string::npos);
  // A PEM block that is not a certificate.
  const std::string key = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_NE(text(key).find("is not an X.509 certificate"), std::string::npos) << text(key);
}

// ---- the genuine quotes verify ----

TEST(Dcap, GenuineQuotesVerifyWithTheirReadmeMeasurements) {
  for (const Genuine* g : kGenuine) {
    const Verdict v = verify_quote(genuine_bytes(*g), genuine_policy(*g));
    EXPECT_TRUE(v.accepted) << g->file << "\n" << v.to_text();
    EXPECT_EQ(v.verifier, "dcap");
    EXPECT_FALSE(v.simulated);
    EXPECT_TRUE(has(v.notes, "binding not checked")) << v.to_text();
    EXPECT_TRUE(has(v.notes, "TCB status not checked")) << v.to_text();
    EXPECT_NE(field(v, "PCK chain root").find(kIntelSgxRootCaSha256), std::string::npos);
    EXPECT_EQ(field(v, "verification time"), "2026-06-01 00:00:00 UTC (given)");
    EXPECT_NE(field(v, "PCK chain [0]").find("Intel SGX PCK Certificate"), std::string::npos);
    EXPECT_NE(field(v, "PCK chain [2]").find("Intel SGX Root CA"), std::string::npos);
  }
}

TEST(Dcap, DebugEnclaveNeedsAllowDebug) {
  Policy p = genuine_policy(kMobilecoin);
  p.allow_debug = false;
  Verdict v = verify_quote(genuine_bytes(kMobilecoin), p);
  EXPECT_FALSE(v.accepted);
  ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
  EXPECT_NE(v.reasons[0].find("DEBUG enclave (attributes 0x0000000000000007)"), std::string::npos);
  // The automata quote is not DEBUG (0x05): accepted without --allow-debug.
  p = genuine_policy(kAutomata);
  ASSERT_FALSE(p.allow_debug);
  EXPECT_TRUE(verify_quote(genuine_bytes(kAutomata), p).accepted);
}

TEST(Dcap, PolicyMismatchesAreRefused) {
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    Policy p = genuine_policy(*g);
    p.mr_enclave->at(31) ^= 1;
    Verdict v = verify_quote(bytes, p);
    ASSERT_EQ(v.reasons.size(), 1u) << v.to_text();
    EXPECT_NE(v.reasons[0].find("wrong measurement: MRENCLAVE " + std::string(g->mr_enclave)),
              std::string::npos);
    p = genuine_policy(*g);
    p.mr_signer->at(0) ^= 1;
    EXPECT_TRUE(has(verify_quote(bytes, p).reasons, "wrong signer")) << g->file;
    p = genuine_policy(*g);
    p.min_isv_svn = 1;
    EXPECT_TRUE(has(verify_quote(bytes, p).reasons, "ISV SVN 0 is below the minimum 1"));
    p = genuine_policy(*g);
    p.isv_prod_id = 1;
    EXPECT_TRUE(has(verify_quote(bytes, p).reasons, "ISV product id 0, expected 1"));
    p = genuine_policy(*g);
    p.isv_prod_id = 0;
    EXPECT_TRUE(verify_quote(bytes, p).accepted);
    // In attest/infer the report data must bind the session: these quotes'
    // 64 zero bytes bind none.
    p = genuine_policy(*g);
    p.binding = ReportBinding{Bytes32{}, Bytes32{}, 1};
    v = verify_quote(bytes, p);
    EXPECT_FALSE(v.accepted);
    EXPECT_FALSE(has(v.notes, "binding not checked"));
    EXPECT_FALSE(v.reasons.empty());
  }
}

// ---- tampering ----

TEST(Dcap, EveryFlippedByteIsRefused) {
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    const Policy p = genuine_policy(*g);
    for (size_t i = 0; i < bytes.size(); ++i) {
      std::vector<uint8_t> t = bytes;
      t[i] ^= 0xff;
      const Verdict v = verify_quote(t, p);
      ASSERT_FALSE(v.accepted) << g->file << " byte " << i;
      ASSERT_FALSE(v.reasons.empty());
    }
  }
}

// Each part of the quote, one byte flipped: the reason names the part.
TEST(Dcap, FlippedBytesAreNamed) {
  struct Case {
    size_t at;
    const char* part;
    const char* want;
  };
  constexpr size_t S = kQuoteMinBytes;  // signature data
  const Case cases[] = {
      {8, "header (QE SVN)", "quote signature (over header and report body) does not verify"},
      {28, "header (user data)", "quote signature (over header and report body) does not verify"},
      {48, "report body (CPUSVN)", "quote signature (over header and report body)"},
      {48 + 262, "report body (reserved)", "quote signature (over header and report body)"},
      {368, "report body (report data)", "quote signature (over header and report body)"},
      {S + 5, "quote signature", "quote signature (over header and report body)"},
      {S + 40, "quote signature", "quote signature (over header and report body)"},
      {S + 64 + 7, "attestation key", "QE report data does not bind the attestation key"},
      {S + 128 + 64, "QE report (MRENCLAVE)", "QE report signature does not verify"},
      {S + 128 + 320, "QE report (report data)", "QE report signature does not verify"},
      {S + 512 + 3, "QE report signature", "QE report signature does not verify"},
      {S + 512 + 63, "QE report signature", "QE report signature does not verify"},
      {S + 578 + 5, "QE authentication data", "QE report data does not bind"},
      {S + 576 + 2 + 32, "certification data type", "certification data type"},
      {2, "header (key type)", "attestation key type"},
      {12, "header (QE vendor id)", "no verifier for QE vendor id"},
  };
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    for (const Case& c : cases) {
      std::vector<uint8_t> t = bytes;
      t[c.at] ^= 0x01;
      const Verdict v = verify_quote(t, genuine_policy(*g));
      EXPECT_FALSE(v.accepted) << c.part;
      EXPECT_TRUE(has(v.reasons, c.want)) << g->file << ": " << c.part << " (byte " << c.at << ")\n"
                                          << v.to_text();
    }
    // A flipped attestation key also breaks the quote's signature (or is no
    // longer a point on the curve).
    std::vector<uint8_t> t = bytes;
    t[S + 64 + 7] ^= 0x01;
    const Verdict v = verify_quote(t, genuine_policy(*g));
    EXPECT_TRUE(has(v.reasons, "quote signature") || has(v.reasons, "attestation key is not"))
        << v.to_text();
  }
}

std::string pem_of_der(const std::vector<uint8_t>& der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der.data(),
                                static_cast<int>(der.size()));
  b64.resize(static_cast<size_t>(n));
  std::string out = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END CERTIFICATE-----\n";
}

std::vector<uint8_t> cert_data_of(const std::vector<std::vector<uint8_t>>& chain) {
  std::string s;
  for (const auto& der : chain) s += pem_of_der(der);
  std::vector<uint8_t> out(s.begin(), s.end());
  out.push_back(0);
  return out;
}

// Every byte of every certificate's DER, one bit flipped (the PEM re-encoded,
// the sizes made to match): refused, naming the PCK chain.
TEST(Dcap, EveryFlippedCertificateByteIsRefused) {
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    const EcdsaSignatureData d = parse_ecdsa_signature_data(parse_quote(bytes).signature_data);
    const auto chain = parse_pck_chain(d.cert_data);
    {  // re-encoding alone changes nothing
      EcdsaSignatureData same = d;
      same.cert_data = cert_data_of(chain);
      ASSERT_TRUE(verify_quote(with_sig_data(bytes, same), genuine_policy(*g)).accepted);
    }
    const char* names[] = {"PCK certificate", "PCK CA", "root"};
    for (size_t c = 0; c < chain.size(); ++c) {
      for (size_t i = 0; i < chain[c].size(); ++i) {
        auto bad = chain;
        bad[c][i] ^= 0x01;
        EcdsaSignatureData t = d;
        t.cert_data = cert_data_of(bad);
        const Verdict v = verify_quote(with_sig_data(bytes, t), genuine_policy(*g));
        ASSERT_FALSE(v.accepted) << g->file << " " << names[c] << " byte " << i;
        ASSERT_TRUE(has(v.reasons, "PCK certificate chain"))
            << g->file << " " << names[c] << " byte " << i << "\n"
            << v.to_text();
        if (c == 2) {
          ASSERT_TRUE(has(v.reasons, "another root than the pinned Intel SGX Root CA") ||
                      has(v.reasons, "is not an X.509 certificate"))
              << i << "\n"
              << v.to_text();
        }
      }
    }
  }
}

// ---- time ----

TEST(Dcap, VerificationTimeIsAParameter) {
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    Policy p = genuine_policy(*g);
    p.verification_time = g->leaf_not_after - 1;  // OpenSSL: expired at notAfter itself
    EXPECT_TRUE(verify_quote(bytes, p).accepted) << g->file;
    p.verification_time = g->leaf_not_after + 1;
    Verdict v = verify_quote(bytes, p);
    EXPECT_FALSE(v.accepted);
    EXPECT_TRUE(
        has(v.reasons, "certificate 0 \"Intel SGX PCK Certificate\": certificate has expired"))
        << v.to_text();
    EXPECT_TRUE(has(v.reasons, "to " + format_utc_time(g->leaf_not_after) + ")")) << v.to_text();
    p.verification_time = parse_utc_time("2020-01-01");
    v = verify_quote(bytes, p);
    EXPECT_TRUE(has(v.reasons, "certificate is not yet valid")) << v.to_text();
  }
  // Default: now (these tests must not depend on it, but now is before 2029).
  Policy p = genuine_policy(kAutomata);
  p.verification_time.reset();
  const Verdict v = verify_quote(genuine_bytes(kAutomata), p);
  EXPECT_NE(field(v, "verification time").find("(now)"), std::string::npos);
}

TEST(Dcap, ParseUtcTime) {
  EXPECT_EQ(parse_utc_time("2026-06-01"), kWhen);
  EXPECT_EQ(parse_utc_time("2026-06-01T00:00:00Z"), kWhen);
  EXPECT_EQ(parse_utc_time("2026-06-01 00:00:01"), kWhen + 1);
  EXPECT_EQ(parse_utc_time("1780272000"), kWhen);
  EXPECT_EQ(format_utc_time(kWhen), "2026-06-01 00:00:00 UTC");
  for (const char* bad : {"", "2026-02-30", "2026-13-01", "2026-06-01T25:00:00Z", "yesterday",
                          "2026-06-01Z", "2026-06-01T00:00:00+02", "-5", "1969-12-31"})
    EXPECT_NE(testing::error_of([&] { parse_utc_time(bad); }).find("is not YYYY-MM-DD"),
              std::string::npos)
        << bad;
}

// ---- an independent maker of DCAP quotes, with its own CA ----

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
template <class T>
using Own = std::unique_ptr<T, Free>;

Own<EVP_PKEY> p256_key() {
  Own<EVP_PKEY> k(EVP_EC_gen("P-256"));
  EXPECT_TRUE(k);
  return k;
}

void add_ext(X509* c, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_TRUE(e) << value;
  X509_add_ext(c, e, -1);
  X509_EXTENSION_free(e);
}

// A certificate for key, named cn, signed by issuer_key (issuer: nullptr =
// self-signed), valid from..to.
Own<X509> make_cert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                    int64_t from, int64_t to) {
  static long serial = 1;
  Own<X509> c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("teesplit test"), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
  ASN1_TIME_set(X509_getm_notBefore(c.get()), static_cast<time_t>(from));
  ASN1_TIME_set(X509_getm_notAfter(c.get()), static_cast<time_t>(to));
  X509_set_pubkey(c.get(), key);
  X509* iss = issuer ? issuer : c.get();
  add_ext(c.get(), iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(c.get(), iss, NID_key_usage,
          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
  add_ext(c.get(), iss, NID_subject_key_identifier, "hash");
  add_ext(c.get(), iss, NID_authority_key_identifier, "keyid:always");
  EXPECT_GT(X509_sign(c.get(), issuer_key, EVP_sha256()), 0);
  return c;
}

std::vector<uint8_t> der_of(X509* c) {
  const int n = i2d_X509(c, nullptr);
  std::vector<uint8_t> out(static_cast<size_t>(n));
  unsigned char* p = out.data();
  i2d_X509(c, &p);
  return out;
}

// ECDSA-P256/SHA-256 over msg, as r ‖ s.
std::array<uint8_t, 64> sign_rs(EVP_PKEY* key, std::span<const uint8_t> msg) {
  Own<EVP_MD_CTX> md(EVP_MD_CTX_new());
  EXPECT_EQ(EVP_DigestSignInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr), 1);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(md.get(), nullptr, &len, msg.data(), msg.size()), 1);
  std::vector<unsigned char> der(len);
  EXPECT_EQ(EVP_DigestSign(md.get(), der.data(), &len, msg.data(), msg.size()), 1);
  const unsigned char* p = der.data();
  Own<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  std::array<uint8_t, 64> out{};
  EXPECT_TRUE(sig);
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), 32), 32);
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + 32, 32), 32);
  return out;
}

struct MadeUpPlatform {
  Own<EVP_PKEY> root_key = p256_key(), ca_key = p256_key(), pck_key = p256_key(),
                att_key = p256_key();
  Own<X509> root, ca, pck;
  MadeUpPlatform() {
    root = make_cert("Test SGX Root CA", root_key.get(), nullptr, root_key.get(), true,
                     parse_utc_time("2020-01-01"), parse_utc_time("2040-01-01"));
    ca = make_cert("Test SGX PCK Platform CA", ca_key.get(), root.get(), root_key.get(), true,
                   parse_utc_time("2020-01-01"), parse_utc_time("2035-01-01"));
    pck = make_cert("Test SGX PCK Certificate", pck_key.get(), ca.get(), ca_key.get(), false,
                    parse_utc_time("2021-01-01"), parse_utc_time("2030-01-01"));
  }
  std::vector<std::vector<uint8_t>> chain() const {
    return {der_of(pck.get()), der_of(ca.get()), der_of(root.get())};
  }
  // A complete quote for body, written from the layout in attest/dcap.h.
  std::vector<uint8_t> quote(const ReportBody& body) const {
    Quote q;
    q.header.version = 3;
    q.header.attestation_key_type = kKeyTypeEcdsaP256;
    q.header.qe_vendor_id = kIntelQeVendorId;
    q.header.qe_svn = 8;
    q.header.pce_svn = 13;
    q.body = body;
    EcdsaSignatureData d;
    unsigned char pub[65];
    size_t n = 0;
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(att_key.get(), OSSL_PKEY_PARAM_PUB_KEY, pub,
                                              sizeof pub, &n),
              1);
    EXPECT_EQ(n, 65u);
    std::memcpy(d.attestation_key.data(), pub + 1, 64);
    d.qe_auth_data.assign(32, 0x42);
    std::vector<uint8_t> cat(d.attestation_key.begin(), d.attestation_key.end());
    cat.insert(cat.end(), d.qe_auth_data.begin(), d.qe_auth_data.end());
    const Bytes32 h = crypto::sha256(cat);
    d.qe_report.mr_enclave.fill(0x0e);
    d.qe_report.mr_signer.fill(0x05);
    std::copy(h.begin(), h.end(), d.qe_report.report_data.begin());
    d.qe_report_signature = sign_rs(pck_key.get(), serialize_report_body(d.qe_report));
    d.cert_data_type = kCertDataPckChain;
    d.cert_data = cert_data_of(chain());
    d.quote_signature = sign_rs(att_key.get(), q.signed_bytes());
    q.signature_data = serialize_ecdsa_signature_data(d);
    return q.serialize();
  }
};

ReportBody made_up_body() {
  ReportBody b;
  b.attributes_flags = kAttrInit | kAttrMode64;
  b.mr_enclave.fill(0xa1);
  b.mr_signer.fill(0xb2);
  b.isv_prod_id = 3;
  b.isv_svn = 4;
  return b;
}

std::vector<std::unique_ptr<QuoteVerifier>> pinned_to(const std::vector<uint8_t>& root_der) {
  std::vector<std::unique_ptr<QuoteVerifier>> vs;
  vs.push_back(std::make_unique<DcapQuoteVerifier>(root_der, "test root"));
  return vs;
}

TEST(Dcap, AQuoteMadeIndependentlyVerifiesUnderItsOwnRootOnly) {
  const MadeUpPlatform m;
  const std::vector<uint8_t> q = m.quote(made_up_body());
  Policy p;
  p.mr_enclave.emplace().fill(0xa1);
  p.mr_signer.emplace().fill(0xb2);
  p.isv_prod_id = 3;
  p.min_isv_svn = 4;
  p.verification_time = kWhen;
  const Verdict ok = verify_quote(q, p, pinned_to(der_of(m.root.get())));
  EXPECT_TRUE(ok.accepted) << ok.to_text();
  // Under Intel's pin: another root, refused, saying so.
  const Verdict intel = verify_quote(q, p);
  EXPECT_FALSE(intel.accepted);
  ASSERT_EQ(intel.reasons.size(), 1u) << intel.to_text();
  EXPECT_NE(intel.reasons[0].find("ends in another root than the pinned Intel SGX Root CA (the "
                                  "chain's root: \"Test SGX Root CA\""),
            std::string::npos)
      << intel.reasons[0];
  // Its own checks fail as they should: ISV SVN, expiry, another root.
  p.min_isv_svn = 5;
  EXPECT_TRUE(
      has(verify_quote(q, p, pinned_to(der_of(m.root.get()))).reasons, "below the minimum"));
  p.min_isv_svn = 4;
  p.verification_time = parse_utc_time("2030-01-02");
  EXPECT_TRUE(has(verify_quote(q, p, pinned_to(der_of(m.root.get()))).reasons, "expired"));
  p.verification_time = kWhen;
  const MadeUpPlatform other;
  EXPECT_TRUE(has(verify_quote(q, p, pinned_to(der_of(other.root.get()))).reasons,
                  "another root than the pinned test root"));
}

TEST(Dcap, ChainsToAnyOtherRootAreRefused) {
  const MadeUpPlatform m;
  for (const Genuine* g : kGenuine) {
    const std::vector<uint8_t> bytes = genuine_bytes(*g);
    const EcdsaSignatureData d = parse_ecdsa_signature_data(parse_quote(bytes).signature_data);
    auto chain = parse_pck_chain(d.cert_data);
    // Intel's root replaced by another self-signed root.
    auto swapped = chain;
    swapped.back() = der_of(m.root.get());
    EcdsaSignatureData t = d;
    t.cert_data = cert_data_of(swapped);
    Verdict v = verify_quote(with_sig_data(bytes, t), genuine_policy(*g));
    EXPECT_TRUE(has(v.reasons, "ends in another root than the pinned Intel SGX Root CA"))
        << v.to_text();
    // The genuine chain, the made-up platform's root pinned instead of Intel's.
    v = verify_quote(bytes, genuine_policy(*g), pinned_to(der_of(m.root.get())));
    EXPECT_TRUE(has(v.reasons, "ends in another root than the pinned test root")) << v.to_text();
    // The made-up PCK chain in a genuine quote: another root (and, under
    // that root, a QE report signature that does not verify).
    t = d;
    t.cert_data = cert_data_of(m.chain());
    v = verify_quote(with_sig_data(bytes, t), genuine_policy(*g));
    EXPECT_TRUE(has(v.reasons, "another root")) << v.to_text();
    v = verify_quote(with_sig_data(bytes, t), genuine_policy(*g), pinned_to(der_of(m.root.get())));
    EXPECT_TRUE(has(v.reasons, "QE report signature does not verify")) << v.to_text();
    // A chain without its root, or with only the leaf.
    t = d;
    t.cert_data = cert_data_of({chain[0], chain[1]});
    EXPECT_TRUE(
        has(verify_quote(with_sig_data(bytes, t), genuine_policy(*g)).reasons, "another root"));
    t.cert_data = cert_data_of({chain[0]});
    EXPECT_TRUE(has(verify_quote(with_sig_data(bytes, t), genuine_policy(*g)).reasons,
                    "needs the PCK certificate, its CA and the root"));
    // An extra certificate that is not on the path.
    t.cert_data = cert_data_of({chain[0], chain[1], der_of(m.ca.get()), chain[2]});
    EXPECT_TRUE(has(verify_quote(with_sig_data(bytes, t), genuine_policy(*g)).reasons,
                    "PCK certificate chain"));
  }
}

// In attest/infer the report data must bind the session (the enclave's channel
// key, the client's nonce, the protocol version): a made-up platform's quote
// carrying that binding is accepted, one made for another nonce or key is not.
TEST(Dcap, ReportDataMustBindTheSession) {
  const MadeUpPlatform m;
  ReportBinding session;
  session.enclave_public_key.fill(0x31);
  session.nonce.fill(0x32);
  session.protocol_version = 1;
  ReportBody body = made_up_body();
  body.report_data = make_report_data(session, 0);
  const std::vector<uint8_t> q = m.quote(body);
  Policy p;
  p.verification_time = kWhen;
  p.binding = session;
  const Verdict ok = verify_quote(q, p, pinned_to(der_of(m.root.get())));
  EXPECT_TRUE(ok.accepted) << ok.to_text();
  EXPECT_FALSE(has(ok.notes, "binding not checked"));
  p.binding->nonce[0] ^= 1;  // another client's nonce: a replayed quote
  EXPECT_TRUE(has(verify_quote(q, p, pinned_to(der_of(m.root.get()))).reasons,
                  "does not bind this session's enclave key and nonce"));
  p.binding = session;
  p.binding->enclave_public_key[5] ^= 1;
  EXPECT_TRUE(has(verify_quote(q, p, pinned_to(der_of(m.root.get()))).reasons,
                  "does not bind this session's enclave key and nonce"));
}

// The client's attestation (attest ADDR, infer, provision) sends genuine quotes
// to the DCAP verifier with the session's binding: these quotes' zero report
// data binds nothing, so no session starts.
TEST(Dcap, ClientAttestationUsesTheDcapVerifierWithTheBinding) {
  for (const Genuine* g : kGenuine) {
    client::Attestation a;
    enclave::AttestReply reply;
    reply.session = 7;
    reply.enclave_public.fill(0x44);
    reply.quote = genuine_bytes(*g);
    const Verdict v = a.finish(reply, genuine_policy(*g));
    EXPECT_FALSE(v.accepted);
    EXPECT_EQ(v.verifier, "dcap");
    EXPECT_TRUE(has(v.reasons, "report data: protocol version 0")) << v.to_text();
    EXPECT_FALSE(has(v.notes, "binding not checked"));
    EXPECT_FALSE(a.ready());
  }
}

// Why the pin compares bytes: OpenSSL never checks a trust anchor's own
// signature. Intel's root with its signature's last byte changed (same name,
// same key) is refused under Intel's pin, yet a verifier pinned to those changed
// bytes accepts the chain.
TEST(Dcap, TheRootIsComparedByteForByte) {
  const std::vector<uint8_t> bytes = genuine_bytes(kAutomata);
  const EcdsaSignatureData d = parse_ecdsa_signature_data(parse_quote(bytes).signature_data);
  auto chain = parse_pck_chain(d.cert_data);
  std::vector<uint8_t> forged = chain.back();
  forged.back() ^= 0x01;  // the last byte of the root's ECDSA signature
  chain.back() = forged;
  EcdsaSignatureData t = d;
  t.cert_data = cert_data_of(chain);
  const std::vector<uint8_t> q = with_sig_data(bytes, t);
  const Verdict intel = verify_quote(q, genuine_policy(kAutomata));
  EXPECT_FALSE(intel.accepted);
  EXPECT_TRUE(has(intel.reasons,
                  "ends in another root than the pinned Intel SGX Root CA (the "
                  "chain's root: \"Intel SGX Root CA\""))
      << intel.to_text();
  const Verdict pinned_forged = verify_quote(q, genuine_policy(kAutomata), pinned_to(forged));
  EXPECT_TRUE(pinned_forged.accepted) << pinned_forged.to_text();
}

// ---- the command line ----

std::string teesplit_attest(const std::string& args, int* code) {
  return testing::run_command(testing::binary_path("teesplit") + " attest " + args, code);
}

TEST(DcapCli, AttestQuoteFileOffline) {
  const std::string mob = testing::source_path("tests/data/sgx-quotes/mobilecoin-hw_quote.dat");
  const std::string aut = testing::source_path("tests/data/sgx-quotes/automata-quotev3.bin");
  int code = -1;
  std::string out = teesplit_attest("--quote " + aut + " --mrenclave " + kAutomata.mr_enclave +
                                        " --mrsigner " + kAutomata.mr_signer + " --at 2026-06-01",
                                    &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("verdict: accepted (verifier: dcap)"), std::string::npos) << out;
  EXPECT_NE(out.find("MRENCLAVE: " + std::string(kAutomata.mr_enclave)), std::string::npos);
  EXPECT_NE(out.find("note: binding not checked"), std::string::npos) << out;
  EXPECT_NE(out.find("note: TCB status not checked"), std::string::npos) << out;
  EXPECT_NE(out.find("PCK chain root: Intel SGX Root CA (pinned)"), std::string::npos) << out;

  const std::string mob_policy = "--quote " + mob + " --mrenclave " + kMobilecoin.mr_enclave +
                                 " --mrsigner " + kMobilecoin.mr_signer + " --at 2026-06-01";
  out = teesplit_attest(mob_policy, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("refused: the enclave is a DEBUG enclave"), std::string::npos) << out;
  out = teesplit_attest(mob_policy + " --allow-debug", &code);
  EXPECT_EQ(code, 0) << out;
  out = teesplit_attest(mob_policy + " --allow-debug --min-isvsvn 1", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("below the minimum 1"), std::string::npos) << out;
  out = teesplit_attest(mob_policy + " --allow-debug --isvprodid 2", &code);
  EXPECT_EQ(code, 1) << out;
  out = teesplit_attest("--quote " + mob + " --allow-debug --at 2030-01-01", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("certificate has expired"), std::string::npos) << out;
  out = teesplit_attest(
      "--quote " + aut + " --mrenclave " + std::string(64, '0') + " --at 2026-06-01", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("wrong measurement"), std::string::npos) << out;
  out = teesplit_attest("--quote " + aut + " --at someday", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--at"), std::string::npos) << out;
}

}  // namespace
}  // namespace teesplit::attest
