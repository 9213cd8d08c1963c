// Where the worker's quotes come from (docs/attestation.md):
//   - SimulatedQuoteSource: teesplit's simulated root signs a report body the
//     worker fills in (attest/sim_root.h). Outside Gramine only.
//   - GramineDcapQuoteSource: under Gramine-SGX, a genuine DCAP quote from
//     Gramine's /dev/attestation interface: the worker writes the 64 bytes of
//     report data to /dev/attestation/user_report_data, then reads
//     /dev/attestation/quote, which the quoting enclave made over the CPU's
//     report of this enclave (MRENCLAVE, MRSIGNER, attributes, ISV ids: the
//     hardware's, never the worker's) and that report data. The pseudo-file
//     /dev/attestation/attestation_type must read "dcap" (the manifest's
//     sgx.remote_attestation = "dcap").
// A worker running under Gramine uses the Gramine source and never the
// simulated one (make_quote_source), so that a host that fakes Gramine to skip
// the lockdown gets no quote a verifier accepts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attest/quote.h"
#include "attest/sim_root.h"

namespace teesplit::enclave {

class QuoteSource {
 public:
  virtual ~QuoteSource() = default;
  virtual const char* name() const = 0;  // "simulated" or "gramine-dcap"
  virtual bool simulated() const = 0;
  // The MRSIGNER for the bodies the worker builds; only the simulated source
  // uses the body's identity fields (a DCAP quote's come from the CPU).
  virtual attest::Bytes32 mr_signer() const = 0;
  // A quote whose report data is body.report_data. Throws Error (one line, no
  // secret in it) when no such quote can be had.
  virtual std::vector<uint8_t> quote(const attest::ReportBody& body) = 0;
};

class SimulatedQuoteSource : public QuoteSource {
 public:
  // The simulated root's private key file (created if missing; sim_root.h).
  explicit SimulatedQuoteSource(const std::string& attestation_key);
  const char* name() const override { return "simulated"; }
  bool simulated() const override { return true; }
  attest::Bytes32 mr_signer() const override { return mr_signer_; }
  std::vector<uint8_t> quote(const attest::ReportBody& body) override;

 private:
  attest::SimulatedQuoteSigner signer_;
  attest::Bytes32 mr_signer_{};
};

class GramineDcapQuoteSource : public QuoteSource {
 public:
  // root: Gramine's attestation pseudo-files (a test passes a directory with
  // a canned quote). Throws Error unless root/attestation_type reads "dcap".
  explicit GramineDcapQuoteSource(std::string root = "/dev/attestation");
  const char* name() const override { return "gramine-dcap"; }
  bool simulated() const override { return false; }
  attest::Bytes32 mr_signer() const override { return {}; }
  // Writes body.report_data to root/user_report_data, reads root/quote and
  // checks it: at most attest::kQuoteMaxBytes, a v3 SGX quote that parses
  // (attest::parse_quote), Intel's quoting enclave with an ECDSA key (never a
  // simulated quote), and report data equal to what was written (a quote made
  // for other report data, e.g. by another thread or a host that replays
  // quotes, is refused).
  std::vector<uint8_t> quote(const attest::ReportBody& body) override;

 private:
  std::string root_;
};

// The worker's choice: the Gramine source when it runs under Gramine, else
// the simulated one with the simulated root at attestation_key (which must
// then be given).
std::unique_ptr<QuoteSource> make_quote_source(
    bool gramine, const std::string& attestation_key,
    const std::string& gramine_root = "/dev/attestation");

}  // namespace teesplit::enclave
