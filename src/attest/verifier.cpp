#include "attest/verifier.h"

#include <algorithm>
#include <cstdio>

#include "attest/dcap.h"
#include "core/error.h"
#include "crypto/ed25519.h"

namespace teesplit::attest {
namespace {

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string key_type_name(uint16_t t) {
  switch (t) {
    case kKeyTypeEcdsaP256:
      return "2 (ECDSA-256 with P-256)";
    case kKeyTypeEcdsaP384:
      return "3 (ECDSA-384 with P-384)";
    case kSimulatedKeyType:
      return std::to_string(t) + " (0xed25: teesplit simulated, Ed25519)";
    default:
      return std::to_string(t) + " (unknown)";
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> quote_fields(const Quote& q) {
  const QuoteHeader& h = q.header;
  const ReportBody& b = q.body;
  std::string attrs = hex64(b.attributes_flags);
  attrs += b.debug() ? " (DEBUG" : " (not debug";
  if (b.attributes_flags & kAttrInit) attrs += ", INIT";
  if (b.attributes_flags & kAttrMode64) attrs += ", MODE64BIT";
  attrs += ")";
  return {
      {"version", std::to_string(h.version)},
      {"attestation key type", key_type_name(h.attestation_key_type)},
      {"TEE type", std::to_string(h.tee_type) + (h.tee_type == kTeeTypeSgx ? " (SGX)" : "")},
      {"QE SVN", std::to_string(h.qe_svn)},
      {"PCE SVN", std::to_string(h.pce_svn)},
      {"QE vendor id", describe_qe_vendor(h.qe_vendor_id)},
      {"user data", crypto::to_hex(h.user_data)},
      {"CPUSVN", crypto::to_hex(b.cpu_svn)},
      {"MISCSELECT", std::to_string(b.misc_select)},
      {"attributes", attrs},
      {"XFRM", hex64(b.attributes_xfrm)},
      {"MRENCLAVE", crypto::to_hex(b.mr_enclave)},
      {"MRSIGNER", crypto::to_hex(b.mr_signer)},
      {"ISV prod id", std::to_string(b.isv_prod_id)},
      {"ISV SVN", std::to_string(b.isv_svn)},
      {"CONFIGSVN", std::to_string(b.config_svn)},
      {"report data", crypto::to_hex(b.report_data)},
      {"signature data", std::to_string(q.signature_data.size()) + " bytes"},
  };
}

std::string Verdict::to_text() const {
  std::string out;
  for (const auto& [k, val] : fields) out += k + ": " + val + "\n";
  out += std::string("verdict: ") + (accepted ? "accepted" : "refused");
  out += " (verifier: " + (verifier.empty() ? std::string("none") : verifier);
  out += simulated ? ", simulated quote)\n" : ")\n";
  for (const std::string& r : reasons) out += "  refused: " + r + "\n";
  for (const std::string& n : notes) out += "  note: " + n + "\n";
  return out;
}

void check_policy(const Quote& q, const Policy& p, Verdict& v) {
  const ReportBody& b = q.body;
  if (p.mr_enclave && !crypto::ct_equal(p.mr_enclave->data(), b.mr_enclave.data(), 32))
    v.reasons.push_back("wrong measurement: MRENCLAVE " + crypto::to_hex(b.mr_enclave) +
                        ", expected " + crypto::to_hex(*p.mr_enclave));
  if (!p.mr_enclave) v.notes.push_back("MRENCLAVE not checked (no expected measurement given)");
  if (p.mr_signer && !crypto::ct_equal(p.mr_signer->data(), b.mr_signer.data(), 32))
    v.reasons.push_back("wrong signer: MRSIGNER " + crypto::to_hex(b.mr_signer) + ", expected " +
                        crypto::to_hex(*p.mr_signer));
  if (p.isv_prod_id && *p.isv_prod_id != b.isv_prod_id)
    v.reasons.push_back("ISV product id " + std::to_string(b.isv_prod_id) + ", expected " +
                        std::to_string(*p.isv_prod_id));
  if (b.isv_svn < p.min_isv_svn)
    v.reasons.push_back("ISV SVN " + std::to_string(b.isv_svn) + " is below the minimum " +
                        std::to_string(p.min_isv_svn));
  if (b.debug() && !p.allow_debug)
    v.reasons.push_back("the enclave is a DEBUG enclave (attributes " + hex64(b.attributes_flags) +
                        "): its memory is open to a debugger; refused without --allow-debug");
  if (p.binding) {
    const std::string why = check_report_data(b.report_data, *p.binding);
    if (!why.empty()) v.reasons.push_back(why);
  } else {
    v.notes.push_back("binding not checked: no session (enclave key and nonce) to bind");
  }
  if ((report_data_flags(b.report_data) & kReportFlagInsecure) && !p.allow_insecure)
    v.reasons.push_back(
        "the worker runs in insecure mode (report data flag: started with --insecure, without "
        "its lockdown); refused unless insecure workers are allowed");
}

bool SimulatedQuoteVerifier::handles(const QuoteHeader& h) const {
  return h.qe_vendor_id == kSimulatedQeVendorId;
}

void SimulatedQuoteVerifier::verify(const Quote& q, const Policy& p, Verdict& v) const {
  v.simulated = true;
  v.notes.push_back(
      "simulated quote: signed by teesplit's software root, not by SGX hardware; it proves "
      "only that the signer could read the root's key file");
  if (!p.allow_simulated)
    v.reasons.push_back(
        "simulated quote (teesplit's software attestation root, not SGX hardware): refused "
        "without --allow-simulated");
  if (q.header.attestation_key_type != kSimulatedKeyType)
    v.reasons.push_back("simulated quote with attestation key type " +
                        key_type_name(q.header.attestation_key_type) + ", expected " +
                        key_type_name(kSimulatedKeyType));
  if (q.signature_data.size() != kSimulatedSignatureDataBytes) {
    v.reasons.push_back("simulated quote's signature data is " +
                        std::to_string(q.signature_data.size()) + " bytes, expected " +
                        std::to_string(kSimulatedSignatureDataBytes) +
                        " (Ed25519 signature, public key); signature not checked");
    return;
  }
  const std::span<const uint8_t> sig(q.signature_data.data(), 64);
  Bytes32 embedded{};
  std::copy(q.signature_data.begin() + 64, q.signature_data.end(), embedded.begin());
  v.fields.emplace_back("simulated root (quote)", crypto::to_hex(embedded));
  if (!p.simulated_root) {
    v.reasons.push_back(
        "no simulated root pinned (--sim-root FILE): the quote's signer cannot "
        "be checked");
    return;
  }
  if (!crypto::ct_equal(embedded.data(), p.simulated_root->data(), 32))
    v.reasons.push_back("quote signed by another key than the pinned simulated root (quote's key " +
                        crypto::to_hex(embedded) + ", pinned " + crypto::to_hex(*p.simulated_root) +
                        ")");
  // Always verified with the pinned key: a quote carrying another key fails here too.
  if (!crypto::ed25519_verify(*p.simulated_root, q.signed_bytes(), sig))
    v.reasons.push_back(
        "quote signature does not verify with the pinned simulated root (a "
        "tampered header or report body, or another signer)");
  check_policy(q, p, v);
}

std::vector<std::unique_ptr<QuoteVerifier>> default_verifiers() {
  std::vector<std::unique_ptr<QuoteVerifier>> out;
  out.push_back(std::make_unique<SimulatedQuoteVerifier>());
  out.push_back(std::make_unique<DcapQuoteVerifier>());
  return out;
}

Verdict verify_quote(std::span<const uint8_t> bytes, const Policy& policy) {
  return verify_quote(bytes, policy, default_verifiers());
}

Verdict verify_quote(std::span<const uint8_t> bytes, const Policy& policy,
                     const std::vector<std::unique_ptr<QuoteVerifier>>& verifiers) {
  Verdict v;
  Result<Quote> parsed = capture([&] { return parse_quote(bytes); });
  if (!parsed) {
    v.reasons.push_back("malformed quote: " + parsed.error());
    return v;
  }
  v.quote = parsed.value();
  v.fields = quote_fields(*v.quote);
  const QuoteVerifier* chosen = nullptr;
  for (const auto& ver : verifiers)
    if (ver && ver->handles(v.quote->header)) {
      chosen = ver.get();
      break;
    }
  if (!chosen) {
    v.reasons.push_back("no verifier for QE vendor id " +
                        describe_qe_vendor(v.quote->header.qe_vendor_id));
    return v;
  }
  v.verifier = chosen->name();
  try {
    chosen->verify(*v.quote, policy, v);
  } catch (const std::exception& e) {  // a verifier's own failure is a refusal too
    v.reasons.push_back(std::string("verification failed: ") + e.what());
  }
  v.accepted = v.reasons.empty();
  return v;
}

}  // namespace teesplit::attest
