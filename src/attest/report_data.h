// The 64 bytes of REPORT DATA in an enclave's quote: they bind the quote to one
// session, so that a quote cannot be replayed to another client or with another
// channel key. Layout (docs/attestation.md, "Report data"):
//
//    0..32  SHA-256( "teesplit report data v1" (23 bytes, no terminator)
//                    ‖ u32 protocol version ‖ u32 flags           (little endian)
//                    ‖ u64 32 ‖ enclave X25519 public key
//                    ‖ u64 32 ‖ client nonce )                    (Sha256::update_field)
//   32..36  protocol version (u32, little endian), in clear
//   36..40  flags (u32, little endian), in clear: bit 0 = insecure (the worker
//           runs without its lockdown, --insecure); other bits must be 0
//   40..64  zero
//
// The version and flags sit in clear so that a verifier can say what they are;
// they are also inside the hash, so changing them breaks the binding.
#pragma once

#include <cstdint>
#include <string>

#include "attest/quote.h"

namespace teesplit::attest {

constexpr uint32_t kReportFlagInsecure = 1u << 0;
constexpr uint32_t kReportKnownFlags = kReportFlagInsecure;

struct ReportBinding {
  Bytes32 enclave_public_key{};  // the enclave's ephemeral X25519 key for this session
  Bytes32 nonce{};               // the client's fresh 32-byte nonce
  uint32_t protocol_version = 0;
};

ReportData make_report_data(const ReportBinding& binding, uint32_t flags);

// The version and flags a report data carries in clear (not yet checked).
uint32_t report_data_version(const ReportData& rd);
uint32_t report_data_flags(const ReportData& rd);

// Checks rd against the session's expected binding: the version, known flags
// only, zero reserved bytes, and the hash (constant-time). Returns "" when it
// binds, else one line saying what does not.
std::string check_report_data(const ReportData& rd, const ReportBinding& expected);

}  // namespace teesplit::attest
