// Genuine Intel SGX DCAP quotes (version 3, ECDSA-P256): the signature data's
// layout, its bounds-checked parser, and the verifier that checks it up to a
// pinned Intel SGX Root CA with OpenSSL 3 (docs/attestation.md, "Genuine SGX
// quotes (DCAP)").
//
// Signature data (Intel's sgx_ql_ecdsa_sig_data_t, then sgx_ql_auth_data_t and
// sgx_ql_certification_data_t), at quote offset 436; offsets below are within
// it, integers little endian:
//
//     0  quote signature (64): ECDSA-P256/SHA-256 over header ‖ report body,
//        r ‖ s, each 32 bytes big endian
//    64  attestation public key (64): P-256 point x ‖ y, big endian
//   128  QE report (384): the quoting enclave's report body
//   512  QE report signature (64): by the PCK leaf certificate's key, r ‖ s
//   576  QE authentication data size a (u16), then a bytes
//        certification data type (u16), size c (u32), then c bytes
//        (type 5: the PCK certificate chain in PEM, leaf first, root last;
//        Intel's quoting enclave ends it with one NUL byte)
//   the signature data ends exactly there.
//
// Verification, in this order (each failure is one line naming what failed):
//   1. the PCK chain verifies at the verification time (default now) up to the
//      pinned root, and its last certificate IS the pinned root, byte for byte;
//   2. the QE report's signature verifies with the PCK leaf's key;
//   3. the QE report's report data is SHA-256(attestation key ‖ QE auth data)
//      followed by 32 zero bytes;
//   4. the quote's signature over header ‖ report body verifies with the
//      attestation key;
// then the common policy (check_policy). Not checked, and said so in every
// verdict: TCB status, QE identity and revocation (they need Intel's collateral:
// TCB info, QE identity, CRLs, which are not in the quote).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attest/quote.h"
#include "attest/verifier.h"

struct x509_st;  // OpenSSL's X509

namespace teesplit::attest {

constexpr size_t kEcdsaSignatureBytes = 64;  // r ‖ s
constexpr size_t kEcdsaP256KeyBytes = 64;    // x ‖ y
constexpr size_t kEcdsaSigDataFixedBytes =
    kEcdsaSignatureBytes + kEcdsaP256KeyBytes + kReportBodyBytes + kEcdsaSignatureBytes;  // 576
constexpr uint16_t kCertDataPckChain = 5;
constexpr size_t kMaxPckChainCertificates = 8;

struct EcdsaSignatureData {
  std::array<uint8_t, kEcdsaSignatureBytes> quote_signature{};
  std::array<uint8_t, kEcdsaP256KeyBytes> attestation_key{};
  ReportBody qe_report;
  std::array<uint8_t, kEcdsaSignatureBytes> qe_report_signature{};
  std::vector<uint8_t> qe_auth_data;
  uint16_t cert_data_type = 0;
  std::vector<uint8_t> cert_data;
};

// Parses a quote's signature data (the bytes at quote offset 436), checking
// every size before it is used; throws Error naming the field and its quote
// offset (truncated, a size past the end, bytes left over).
EcdsaSignatureData parse_ecdsa_signature_data(std::span<const uint8_t> sig_data);
// The bytes back (a QE auth data over 65535 bytes or certification data over
// 4 GiB is an Error).
std::vector<uint8_t> serialize_ecdsa_signature_data(const EcdsaSignatureData& d);

// Certification data type 5: the PEM blocks as DER, in order. Only
// "-----BEGIN CERTIFICATE-----" blocks separated by whitespace, at most one NUL
// at the end; 1 to kMaxPckChainCertificates certificates, each a whole X.509
// certificate. Throws Error naming the certificate or byte at fault.
std::vector<std::vector<uint8_t>> parse_pck_chain(std::span<const uint8_t> cert_data);

// The pinned Intel SGX Root CA, DER (src/attest/intel_sgx_root.cpp says where
// it comes from), and the SHA-256 of those bytes in hex.
const std::vector<uint8_t>& intel_sgx_root_ca_der();
extern const char* const kIntelSgxRootCaSha256;

// "2026-06-01", "2026-06-01T12:00:00Z" (also with a space, without the Z: UTC),
// or seconds since 1970 ("1780000000"): seconds since 1970, UTC. Error otherwise.
int64_t parse_utc_time(const std::string& text);
// "2026-06-01 12:00:00 UTC".
std::string format_utc_time(int64_t seconds);

// Intel's QE vendor id. Verifies as the comment above says, at
// policy.verification_time (default: now).
class DcapQuoteVerifier : public QuoteVerifier {
 public:
  // Pins Intel's production SGX root.
  DcapQuoteVerifier();
  // Pins another root (tests build their own chains); root_name names it in
  // verdicts.
  DcapQuoteVerifier(std::vector<uint8_t> pinned_root_der, std::string root_name);
  std::string name() const override { return "dcap"; }
  bool handles(const QuoteHeader& h) const override;
  void verify(const Quote& quote, const Policy& policy, Verdict& v) const override;

 private:
  std::vector<uint8_t> root_der_;
  std::shared_ptr<x509_st> root_;  // parsed once; null when root_der_ does not parse
  std::string root_name_;
};

}  // namespace teesplit::attest
