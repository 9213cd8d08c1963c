// Quote verification behind one interface, chosen by the quote's header (its QE
// vendor id): the simulated verifier here, and for Intel's vendor id the DCAP
// verifier (attest/dcap.h), which checks a genuine SGX quote up to Intel's root.
//
// A Verdict collects every reason for refusal, one line each, rather than
// stopping at the first; it is accepted only when there is none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "attest/quote.h"
#include "attest/report_data.h"

namespace teesplit::attest {

struct Policy {
  std::optional<Bytes32> mr_enclave;  // expected measurement (manifest, or --mrenclave)
  std::optional<Bytes32> mr_signer;
  std::optional<uint16_t> isv_prod_id;
  uint16_t min_isv_svn = 0;
  // The session the quote must be bound to; nullopt (a quote file checked
  // offline): the verdict notes "binding not checked".
  std::optional<ReportBinding> binding;
  // The simulated root's public key that simulated quotes must be signed by.
  std::optional<Bytes32> simulated_root;
  bool allow_simulated = false;  // --allow-simulated
  bool allow_debug = false;      // DEBUG attribute (--allow-debug)
  bool allow_insecure = false;   // report data's insecure flag (worker without lockdown)
  // When certificates are checked (DCAP: the PCK chain), in seconds since 1970
  // UTC; nullopt: now (--at TIME).
  std::optional<int64_t> verification_time;
};

struct Verdict {
  bool accepted = false;
  bool simulated = false;
  std::string verifier;              // which verifier ran ("simulated", "dcap", ...)
  std::vector<std::string> reasons;  // why it was refused, one line each
  std::vector<std::string> notes;    // what was not checked, and why
  std::vector<std::pair<std::string, std::string>> fields;  // the quote's fields, as text
  std::optional<Quote> quote;                               // when it parsed

  // The fields, then "verdict: accepted|refused (...)" and the reasons and notes.
  std::string to_text() const;
};

class QuoteVerifier {
 public:
  virtual ~QuoteVerifier() = default;
  virtual std::string name() const = 0;
  // Whether this verifier is the one for quotes with this header.
  virtual bool handles(const QuoteHeader& header) const = 0;
  // Adds its checks' reasons and notes to v (v.quote and v.fields are set).
  virtual void verify(const Quote& quote, const Policy& policy, Verdict& v) const = 0;
};

// Simulated quotes: kSimulatedQeVendorId. Refuses unless allow_simulated; checks
// the key type and signature-data size, that the embedded key is the pinned
// root, the Ed25519 signature over header ‖ body, then the common policy.
class SimulatedQuoteVerifier : public QuoteVerifier {
 public:
  std::string name() const override { return "simulated"; }
  bool handles(const QuoteHeader& h) const override;
  void verify(const Quote& quote, const Policy& policy, Verdict& v) const override;
};

// The checks every verifier applies once the quote's signature is settled:
// MRENCLAVE, MRSIGNER, ISV product id and minimum SVN, DEBUG, the report data's
// binding (or a note when policy.binding is empty) and its insecure flag.
void check_policy(const Quote& quote, const Policy& policy, Verdict& v);

// The quote's fields as (name, text) pairs, in layout order.
std::vector<std::pair<std::string, std::string>> quote_fields(const Quote& q);

// The verifiers this build has: simulated, then DCAP (Intel's QE vendor id).
std::vector<std::unique_ptr<QuoteVerifier>> default_verifiers();

// Parses bytes (a parse error is a refusal with that reason), picks the first
// verifier that handles the header (none: refused, naming the vendor id), runs
// it. Never throws for bad quote bytes.
Verdict verify_quote(std::span<const uint8_t> bytes, const Policy& policy);
Verdict verify_quote(std::span<const uint8_t> bytes, const Policy& policy,
                     const std::vector<std::unique_ptr<QuoteVerifier>>& verifiers);

}  // namespace teesplit::attest
