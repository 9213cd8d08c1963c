// Quotes in the layout of an Intel SGX DCAP quote, version 3 (Intel's
// sgx_quote_3_t: sgx_quote_header_t, sgx_report_body_t, uint32 signature_data_len,
// signature_data). All integers are little endian. Offsets, in bytes:
//
//   header (48)        0 version (u16, 3)      2 attestation key type (u16)
//                      4 TEE type (u32, 0 = SGX; reserved in v3)
//                      8 QE SVN (u16)         10 PCE SVN (u16)
//                     12 QE vendor id (16)    28 user data (20)
//   report body (384, at 48; offsets below are within the body)
//                      0 CPUSVN (16)          16 MISCSELECT (u32)    20 reserved (12)
//                     32 ISV ext. prod id (16)
//                     48 ATTRIBUTES: flags (u64), 56 XFRM (u64)
//                     64 MRENCLAVE (32)       96 reserved (32)
//                    128 MRSIGNER (32)       160 reserved (32)     192 CONFIGID (64)
//                    256 ISV prod id (u16)   258 ISV SVN (u16)     260 CONFIGSVN (u16)
//                    262 reserved (42)       304 ISV family id (16)
//                    320 REPORT DATA (64)
//   432 signature data length (u32), 436 signature data (exactly that many bytes)
//
// A genuine quote's signature data (ECDSA signature, attestation key, QE report,
// certification data) is parsed and verified by the DCAP verifier (attest/dcap.h). A simulated
// quote (teesplit's own software root, attest/sim_root.h) carries kSimulatedQeVendorId and
// kSimulatedKeyType, and its signature data is the Ed25519 signature over header
// and body (64 bytes) followed by the signing public key (32 bytes).
// docs/attestation.md describes all of it.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto/primitives.h"

namespace teesplit::attest {

using crypto::Bytes32;
using QeVendorId = std::array<uint8_t, 16>;
using ReportData = std::array<uint8_t, 64>;

constexpr size_t kQuoteHeaderBytes = 48;
constexpr size_t kReportBodyBytes = 384;
constexpr size_t kQuoteSignedBytes = kQuoteHeaderBytes + kReportBodyBytes;  // 432
constexpr size_t kQuoteMinBytes = kQuoteSignedBytes + 4;                    // 436
// Genuine quotes with their certificate chains are about 5 KiB.
constexpr size_t kQuoteMaxBytes = 64 * 1024;

constexpr uint16_t kQuoteVersion = 3;
constexpr uint32_t kTeeTypeSgx = 0;
// Intel's attestation key types (sgx_attestation_algorithm_id_t).
constexpr uint16_t kKeyTypeEcdsaP256 = 2;
constexpr uint16_t kKeyTypeEcdsaP384 = 3;
// teesplit's simulated attestation key: Ed25519 (not an Intel value).
constexpr uint16_t kSimulatedKeyType = 0xed25;
// A simulated quote's signature data: Ed25519 signature (64) then public key (32).
constexpr size_t kSimulatedSignatureDataBytes = 64 + 32;

// Intel's quoting enclave: 939a7233-f79c-4ca9-940a-0db3957f0607.
extern const QeVendorId kIntelQeVendorId;
// teesplit's simulated quoting "enclave": the 16 ASCII bytes "TSPLIT-SIMULATED".
extern const QeVendorId kSimulatedQeVendorId;

// ATTRIBUTES.flags bits (Intel SDM, SECS.ATTRIBUTES).
constexpr uint64_t kAttrInit = 1ull << 0;
constexpr uint64_t kAttrDebug = 1ull << 1;
constexpr uint64_t kAttrMode64 = 1ull << 2;

struct QuoteHeader {
  uint16_t version = kQuoteVersion;
  uint16_t attestation_key_type = 0;
  uint32_t tee_type = kTeeTypeSgx;
  uint16_t qe_svn = 0;
  uint16_t pce_svn = 0;
  QeVendorId qe_vendor_id{};
  std::array<uint8_t, 20> user_data{};
};

// Every field, reserved ones included, so that serialize() gives back the
// parsed bytes exactly.
struct ReportBody {
  std::array<uint8_t, 16> cpu_svn{};
  uint32_t misc_select = 0;
  std::array<uint8_t, 12> reserved1{};
  std::array<uint8_t, 16> isv_ext_prod_id{};
  uint64_t attributes_flags = 0;
  uint64_t attributes_xfrm = 0;
  Bytes32 mr_enclave{};
  std::array<uint8_t, 32> reserved2{};
  Bytes32 mr_signer{};
  std::array<uint8_t, 32> reserved3{};
  std::array<uint8_t, 64> config_id{};
  uint16_t isv_prod_id = 0;
  uint16_t isv_svn = 0;
  uint16_t config_svn = 0;
  std::array<uint8_t, 42> reserved4{};
  std::array<uint8_t, 16> isv_family_id{};
  ReportData report_data{};

  bool debug() const { return (attributes_flags & kAttrDebug) != 0; }
};

struct Quote {
  QuoteHeader header;
  ReportBody body;
  std::vector<uint8_t> signature_data;

  // The 432 bytes a quote's signature covers: header then report body.
  std::vector<uint8_t> signed_bytes() const;
  // The whole quote (436 + signature_data.size() bytes).
  std::vector<uint8_t> serialize() const;
  bool simulated() const { return header.qe_vendor_id == kSimulatedQeVendorId; }
  bool intel() const { return header.qe_vendor_id == kIntelQeVendorId; }
};

// Parses a quote, checking every length before it is used: at least 436 bytes,
// at most kQuoteMaxBytes, version 3, TEE type SGX, and a signature-data length
// that ends the quote exactly. Throws Error (one line, with the offset at fault).
Quote parse_quote(std::span<const uint8_t> bytes);

// A report body alone (a quoting enclave's report, in a DCAP quote's signature
// data): exactly kReportBodyBytes, else Error; and its bytes back.
ReportBody parse_report_body(std::span<const uint8_t> bytes);
std::vector<uint8_t> serialize_report_body(const ReportBody& body);

// "939a7233f79c4ca9940a0db3957f0607 (Intel)", "... (teesplit simulated)", or the hex.
std::string describe_qe_vendor(const QeVendorId& id);

}  // namespace teesplit::attest
