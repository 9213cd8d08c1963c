#include "attest/dcap.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

namespace teesplit::attest {

extern const char* const kIntelSgxRootCaPem;  // intel_sgx_root.cpp

namespace {

// ---- OpenSSL ownership ----

struct OsslFree {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
template <class T>
using Ossl = std::unique_ptr<T, OsslFree>;

// The oldest OpenSSL error as text; the queue emptied.
std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no OpenSSL error recorded";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// ---- the signature data ----

// Reads the signature data front to back; errors name the field and its
// offset in the whole quote.
class SigDataReader {
 public:
  explicit SigDataReader(std::span<const uint8_t> in) : in_(in) {}
  size_t quote_offset() const { return kQuoteMinBytes + pos_; }
  size_t left() const { return in_.size() - pos_; }
  std::span<const uint8_t> take(size_t n, const char* field) {
    if (n > left())
      fail("DCAP signature data truncated at the ", field, " (quote offset ", quote_offset(),
           ": needs ", n, " bytes, ", left(), " left)");
    const auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <size_t N>
  void fixed(std::array<uint8_t, N>& out, const char* field) {
    std::memcpy(out.data(), take(N, field).data(), N);
  }
  uint64_t le(size_t n, const char* field) {
    const auto s = take(n, field);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{s[i]} << (8 * i);
    return v;
  }
  // A size field, then that many bytes, which must fit in what is left.
  std::vector<uint8_t> sized(size_t size_bytes, const char* size_field, const char* field) {
    const size_t at = quote_offset();
    const uint64_t n = le(size_bytes, size_field);
    if (n > left())
      fail(size_field, " ", n, " at quote offset ", at, " points past the end of the quote (",
           left(), " bytes follow it)");
    const auto s = take(static_cast<size_t>(n), field);
    return {s.begin(), s.end()};
  }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

// ---- certificates ----

Ossl<X509> x509_from_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  Ossl<X509> c(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!c) return nullptr;
  if (p != der.data() + der.size()) return nullptr;  // bytes after the certificate
  return c;
}

// A certificate as the quote carries it (DER) and parsed.
struct ParsedCert {
  std::vector<uint8_t> der;
  Ossl<X509> x509;
};

std::string common_name(X509* c) {
  char buf[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, buf, sizeof buf) < 0)
    return "(no common name)";
  return buf;
}

std::string asn1_time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "(unreadable time)";
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// ECDSA r ‖ s (32 bytes each, big endian) as the DER that EVP_DigestVerify takes.
std::vector<uint8_t> ecdsa_der(std::span<const uint8_t, kEcdsaSignatureBytes> rs) {
  Ossl<ECDSA_SIG> sig(ECDSA_SIG_new());
  Ossl<BIGNUM> r(BN_bin2bn(rs.data(), 32, nullptr));
  Ossl<BIGNUM> s(BN_bin2bn(rs.data() + 32, 32, nullptr));
  TS_CHECK(sig && r && s, "ECDSA signature: ", openssl_reason());
  TS_CHECK(ECDSA_SIG_set0(sig.get(), r.get(), s.get()) == 1, "ECDSA signature: ", openssl_reason());
  r.release();  // owned by sig now
  s.release();
  const int n = i2d_ECDSA_SIG(sig.get(), nullptr);
  TS_CHECK(n > 0, "ECDSA signature: ", openssl_reason());
  std::vector<uint8_t> out(static_cast<size_t>(n));
  unsigned char* p = out.data();
  TS_CHECK(i2d_ECDSA_SIG(sig.get(), &p) == n, "ECDSA signature: ", openssl_reason());
  return out;
}

// A P-256 public key from x ‖ y; nullptr (with the reason) when it is not a
// point on the curve.
Ossl<EVP_PKEY> p256_public_key(std::span<const uint8_t, kEcdsaP256KeyBytes> xy, std::string& why) {
  unsigned char point[1 + kEcdsaP256KeyBytes];
  point[0] = 0x04;  // uncompressed
  std::memcpy(point + 1, xy.data(), xy.size());
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
      OSSL_PARAM_construct_end()};
  Ossl<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    why = "not a P-256 point (" + openssl_reason() + ")";
    return nullptr;
  }
  Ossl<EVP_PKEY> key(raw);
  Ossl<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    why = "not a valid P-256 public key (" + openssl_reason() + ")";
    return nullptr;
  }
  return key;
}

bool is_p256(EVP_PKEY* key) {
  if (!key || !EVP_PKEY_is_a(key, "EC")) return false;
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
      1)
    return false;
  return std::string_view(group, len) == "prime256v1";
}

// ECDSA with SHA-256 over msg, signature r ‖ s. False on any failure.
bool ecdsa_p256_verify(EVP_PKEY* key, std::span<const uint8_t> msg,
                       std::span<const uint8_t, kEcdsaSignatureBytes> rs) {
  const std::vector<uint8_t> der = ecdsa_der(rs);
  Ossl<EVP_MD_CTX> md(EVP_MD_CTX_new());
  const bool ok =
      md &&
      EVP_DigestVerifyInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
      EVP_DigestVerify(md.get(), der.data(), der.size(), msg.data(), msg.size()) == 1;
  ERR_clear_error();
  return ok;
}

// Checks the chain (leaf first) at time `at` against the pinned root. Returns
// "" when it verifies, else one line naming what failed.
std::string check_pck_chain(const std::vector<ParsedCert>& chain,
                            const std::vector<uint8_t>& root_der, X509* root,
                            const std::string& root_name, int64_t at) {
  if (chain.size() < 2)
    return "PCK certificate chain has " + std::to_string(chain.size()) +
           " certificate(s): it needs the PCK certificate, its CA and the root";
  // OpenSSL does not check a trust anchor's own signature, nor that the chain
  // names the anchor we mean: the root the quote carries must be the pinned
  // certificate, byte for byte.
  const std::vector<uint8_t>& last = chain.back().der;
  if (last.size() != root_der.size() || std::memcmp(last.data(), root_der.data(), last.size()) != 0)
    return "PCK certificate chain ends in another root than the pinned " + root_name +
           " (the chain's root: \"" + common_name(chain.back().x509.get()) + "\", SHA-256 " +
           crypto::to_hex(crypto::sha256(last)) + "; pinned SHA-256 " +
           crypto::to_hex(crypto::sha256(root_der)) + ")";
  if (!root) return "the pinned root certificate does not parse";
  Ossl<X509_STORE> store(X509_STORE_new());
  Ossl<STACK_OF(X509)> untrusted(sk_X509_new_null());
  Ossl<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx || X509_STORE_add_cert(store.get(), root) != 1)
    return "cannot set up the certificate check: " + openssl_reason();
  for (size_t i = 1; i + 1 < chain.size(); ++i)
    if (!sk_X509_push(untrusted.get(), chain[i].x509.get()))
      return "cannot set up the certificate check: " + openssl_reason();
  if (X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].x509.get(), untrusted.get()) != 1)
    return "cannot set up the certificate check: " + openssl_reason();
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  const int ok = X509_verify_cert(ctx.get());
  if (ok != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* cur = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string which = cur ? "\"" + common_name(cur) + "\"" : "(none)";
    std::string line = "PCK certificate chain does not verify at " + format_utc_time(at) +
                       ": certificate " + std::to_string(depth) + " " + which + ": " +
                       X509_verify_cert_error_string(err);
    if (cur && (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID))
      line += " (valid " + asn1_time_text(X509_get0_notBefore(cur)) + " to " +
              asn1_time_text(X509_get0_notAfter(cur)) + ")";
    ERR_clear_error();
    return line;
  }
  // Every certificate the quote carries is on the verified path, in order.
  STACK_OF(X509)* path = X509_STORE_CTX_get0_chain(ctx.get());
  if (!path || static_cast<size_t>(sk_X509_num(path)) != chain.size())
    return "PCK certificate chain carries " + std::to_string(chain.size()) +
           " certificates, but the verified path has " +
           std::to_string(path ? sk_X509_num(path) : 0);
  for (size_t i = 0; i + 1 < chain.size(); ++i)
    if (X509_cmp(sk_X509_value(path, static_cast<int>(i)), chain[i].x509.get()) != 0)
      return "PCK certificate chain: certificate " + std::to_string(i) +
             " is not where the verified path has it";
  return "";
}

// "leaf CN, valid A to B".
std::string cert_summary(X509* c) {
  return "\"" + common_name(c) + "\", valid " + asn1_time_text(X509_get0_notBefore(c)) + " to " +
         asn1_time_text(X509_get0_notAfter(c));
}

}  // namespace

// ---- parsing ----

EcdsaSignatureData parse_ecdsa_signature_data(std::span<const uint8_t> in) {
  SigDataReader r(in);
  EcdsaSignatureData d;
  r.fixed(d.quote_signature, "quote signature");
  r.fixed(d.attestation_key, "attestation key");
  d.qe_report = parse_report_body(r.take(kReportBodyBytes, "QE report"));
  r.fixed(d.qe_report_signature, "QE report signature");
  d.qe_auth_data = r.sized(2, "QE authentication data size", "QE authentication data");
  d.cert_data_type = static_cast<uint16_t>(r.le(2, "certification data type"));
  d.cert_data = r.sized(4, "certification data size", "certification data");
  if (r.left() != 0)
    fail("DCAP signature data has ", r.left(), " bytes after the certification data (quote offset ",
         r.quote_offset(), ")");
  return d;
}

std::vector<uint8_t> serialize_ecdsa_signature_data(const EcdsaSignatureData& d) {
  TS_CHECK(d.qe_auth_data.size() <= UINT16_MAX, "QE authentication data of ", d.qe_auth_data.size(),
           " bytes does not fit its u16 size");
  TS_CHECK(d.cert_data.size() <= UINT32_MAX, "certification data of ", d.cert_data.size(),
           " bytes does not fit its u32 size");
  ByteWriter w;
  w.reserve(kEcdsaSigDataFixedBytes + 8 + d.qe_auth_data.size() + d.cert_data.size());
  w.raw(d.quote_signature).raw(d.attestation_key).raw(serialize_report_body(d.qe_report));
  w.raw(d.qe_report_signature);
  w.u16(static_cast<uint16_t>(d.qe_auth_data.size())).raw(d.qe_auth_data);
  w.u16(d.cert_data_type).u32(static_cast<uint32_t>(d.cert_data.size())).raw(d.cert_data);
  return w.take();
}

static std::vector<ParsedCert> parse_chain_certs(std::span<const uint8_t> cert_data) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::string_view text(reinterpret_cast<const char*>(cert_data.data()), cert_data.size());
  if (!text.empty() && text.back() == '\0') text.remove_suffix(1);  // the QE's terminator
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  std::vector<ParsedCert> out;
  size_t pos = 0;
  for (;;) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    if (pos == text.size()) break;
    const size_t k = out.size();
    if (text.compare(pos, kBegin.size(), kBegin) != 0)
      fail("PCK certificate chain: unexpected byte 0x", crypto::to_hex(cert_data.subspan(pos, 1)),
           " at byte ", pos, " of the certification data (expected ", kBegin, ")");
    TS_CHECK(k < kMaxPckChainCertificates, "PCK certificate chain has more than ",
             kMaxPckChainCertificates, " certificates");
    const size_t end = text.find(kEnd, pos + kBegin.size());
    TS_CHECK(end != std::string_view::npos, "PCK certificate chain: certificate ", k, " (at byte ",
             pos, ") has no ", kEnd);
    const std::string_view block = text.substr(pos, end + kEnd.size() - pos);
    Ossl<BIO> bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
    TS_CHECK(bio, "PCK certificate chain: ", openssl_reason());
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    const int got = PEM_read_bio(bio.get(), &name, &header, &data, &len);
    const bool good = got == 1 && name && std::string_view(name) == "CERTIFICATE" && header &&
                      header[0] == '\0' && len > 0;
    std::vector<uint8_t> der;
    if (good) der.assign(data, data + len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (!good)
      fail("PCK certificate chain: certificate ", k, " (at byte ", pos, ") is not valid PEM: ",
           got == 1 ? std::string("unexpected PEM headers") : openssl_reason());
    Ossl<X509> x509 = x509_from_der(der);
    if (!x509)
      fail("PCK certificate chain: certificate ", k, " (at byte ", pos,
           ") is not an X.509 certificate: ", openssl_reason());
    ERR_clear_error();
    out.push_back({std::move(der), std::move(x509)});
    pos = end + kEnd.size();
  }
  TS_CHECK(!out.empty(), "PCK certificate chain: the certification data holds no certificate");
  return out;
}

std::vector<std::vector<uint8_t>> parse_pck_chain(std::span<const uint8_t> cert_data) {
  std::vector<ParsedCert> certs = parse_chain_certs(cert_data);
  std::vector<std::vector<uint8_t>> out;
  for (ParsedCert& c : certs) out.push_back(std::move(c.der));
  return out;
}

const std::vector<uint8_t>& intel_sgx_root_ca_der() {
  static const std::vector<uint8_t> der = [] {
    const std::string_view pem(kIntelSgxRootCaPem);
    const auto chain = parse_pck_chain({reinterpret_cast<const uint8_t*>(pem.data()), pem.size()});
    TS_CHECK(chain.size() == 1, "the pinned Intel SGX root is not one certificate");
    return chain[0];
  }();
  return der;
}

// ---- time ----

int64_t parse_utc_time(const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 12 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) return std::stoll(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int n = 0;
  char sep = 0;
  bool ok = false;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 &&
      static_cast<size_t>(n) == text.size()) {
    ok = true;
  } else if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &s,
                         &n) == 7 &&
             (sep == 'T' || sep == ' ')) {
    const std::string rest = text.substr(static_cast<size_t>(n));
    ok = rest.empty() || rest == "Z";
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = ok ? timegm(&tm) : time_t(-1);
  std::tm back{};
  // timegm normalises (Feb 30 becomes Mar 2): a date that changes is refused.
  if (!ok || y < 1970 || !gmtime_r(&t, &back) || back.tm_year != y - 1900 ||
      back.tm_mon != mo - 1 || back.tm_mday != d || back.tm_hour != h || back.tm_min != mi ||
      back.tm_sec != s)
    fail("time '", text, "' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[Z] (UTC) or seconds since 1970");
  return static_cast<int64_t>(t);
}

std::string format_utc_time(int64_t seconds) {
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return std::to_string(seconds) + " s since 1970";
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// ---- the verifier ----

DcapQuoteVerifier::DcapQuoteVerifier()
    : DcapQuoteVerifier(intel_sgx_root_ca_der(), "Intel SGX Root CA") {}

DcapQuoteVerifier::DcapQuoteVerifier(std::vector<uint8_t> pinned_root_der, std::string root_name)
    : root_der_(std::move(pinned_root_der)),
      root_(x509_from_der(root_der_).release(), [](X509* c) { X509_free(c); }),
      root_name_(std::move(root_name)) {
  ERR_clear_error();
}

bool DcapQuoteVerifier::handles(const QuoteHeader& h) const {
  return h.qe_vendor_id == kIntelQeVendorId;
}

void DcapQuoteVerifier::verify(const Quote& q, const Policy& p, Verdict& v) const {
  v.notes.push_back(
      "TCB status not checked: it needs Intel's collateral (TCB info, QE identity), which is not "
      "in the quote; the platform may run out-of-date microcode or firmware");
  v.notes.push_back(
      "revocation not checked: no CRLs (Intel's PCK and root CRLs are collateral too)");
  v.notes.push_back(
      "QE identity not checked: the quoting enclave's report is verified as signed by the PCK "
      "key, not compared with Intel's QE identity");
  if (q.header.attestation_key_type != kKeyTypeEcdsaP256) {
    v.reasons.push_back("attestation key type " + std::to_string(q.header.attestation_key_type) +
                        ": the DCAP verifier takes only ECDSA-256 with P-256 (2)");
    return;
  }
  Result<EcdsaSignatureData> parsed =
      capture([&] { return parse_ecdsa_signature_data(q.signature_data); });
  if (!parsed) {
    v.reasons.push_back("malformed DCAP signature data: " + parsed.error());
    return;
  }
  const EcdsaSignatureData& sd = parsed.value();
  const ReportBody& qe = sd.qe_report;
  v.fields.emplace_back("attestation key", crypto::to_hex(sd.attestation_key));
  v.fields.emplace_back("QE report MRENCLAVE", crypto::to_hex(qe.mr_enclave));
  v.fields.emplace_back("QE report MRSIGNER", crypto::to_hex(qe.mr_signer));
  v.fields.emplace_back("QE report ISV prod id / SVN",
                        std::to_string(qe.isv_prod_id) + " / " + std::to_string(qe.isv_svn));
  v.fields.emplace_back("QE authentication data",
                        std::to_string(sd.qe_auth_data.size()) + " bytes");
  v.fields.emplace_back("certification data", "type " + std::to_string(sd.cert_data_type) + ", " +
                                                  std::to_string(sd.cert_data.size()) + " bytes");
  if (sd.cert_data_type != kCertDataPckChain) {
    v.reasons.push_back("certification data type " + std::to_string(sd.cert_data_type) +
                        ": only type 5 (the PCK certificate chain, PEM) can be verified here");
    return;
  }
  Result<std::vector<ParsedCert>> certs = capture([&] { return parse_chain_certs(sd.cert_data); });
  if (!certs) {
    v.reasons.push_back(certs.error());
    return;
  }
  const std::vector<ParsedCert>& chain = certs.value();
  for (size_t i = 0; i < chain.size(); ++i)
    v.fields.emplace_back("PCK chain [" + std::to_string(i) + "]",
                          cert_summary(chain[i].x509.get()));

  const int64_t at =
      p.verification_time ? *p.verification_time : static_cast<int64_t>(std::time(nullptr));
  v.fields.emplace_back("verification time",
                        format_utc_time(at) + (p.verification_time ? " (given)" : " (now)"));
  // 1. The PCK chain, up to the pinned root.
  const std::string chain_why = check_pck_chain(chain, root_der_, root_.get(), root_name_, at);
  if (!chain_why.empty()) {
    v.reasons.push_back(chain_why);
    return;
  }
  v.fields.emplace_back("PCK chain root", root_name_ + " (pinned), SHA-256 " +
                                              crypto::to_hex(crypto::sha256(root_der_)));
  // 2. The QE report, signed by the PCK leaf's key.
  EVP_PKEY* leaf_key = X509_get0_pubkey(chain[0].x509.get());
  if (!is_p256(leaf_key)) {
    v.reasons.push_back("the PCK certificate's key is not an ECDSA P-256 key");
    return;
  }
  // The QE report's bytes as the quote carries them (signature data offset 128).
  const auto qe_bytes = std::span<const uint8_t>(q.signature_data)
                            .subspan(kEcdsaSignatureBytes + kEcdsaP256KeyBytes, kReportBodyBytes);
  if (!ecdsa_p256_verify(leaf_key, qe_bytes, sd.qe_report_signature))
    v.reasons.push_back(
        "QE report signature does not verify with the PCK certificate's key (a changed QE report "
        "or signature, or another platform's certificate)");
  // 3. The QE report binds the attestation key.
  crypto::Sha256 h;
  h.update(sd.attestation_key.data(), sd.attestation_key.size());
  h.update(sd.qe_auth_data.data(), sd.qe_auth_data.size());
  const Bytes32 expect = h.finish();
  const std::array<uint8_t, 32> zero{};
  const bool bound = crypto::ct_equal(expect.data(), qe.report_data.data(), 32) &&
                     crypto::ct_equal(zero.data(), qe.report_data.data() + 32, 32);
  if (!bound)
    v.reasons.push_back(
        "QE report data does not bind the attestation key: expected SHA-256(attestation key ‖ QE "
        "authentication data) = " +
        crypto::to_hex(expect) + " then 32 zero bytes, the QE report carries " +
        crypto::to_hex(qe.report_data));
  // 4. The quote, signed by the attestation key.
  std::string key_why;
  Ossl<EVP_PKEY> att = p256_public_key(sd.attestation_key, key_why);
  if (!att)
    v.reasons.push_back("attestation key is " + key_why);
  else if (!ecdsa_p256_verify(att.get(), q.signed_bytes(), sd.quote_signature))
    v.reasons.push_back(
        "quote signature (over header and report body) does not verify with the attestation key "
        "(a changed header, report body or signature)");
  check_policy(q, p, v);
}

}  // namespace teesplit::attest
