#include "enclave/quote_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "attest/measurement.h"
#include "core/error.h"
#include "crypto/primitives.h"

namespace teesplit::enclave {

namespace {

// Reads a whole pseudo-file, refusing more than `max` bytes. Gramine's files
// may report a size of 0, so this reads until end of file, not to st_size.
std::vector<uint8_t> read_pseudo_file(const std::string& path, size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TS_CHECK(fd >= 0, "Gramine quote source: cannot open ", path, ": ", std::strerror(errno));
  std::vector<uint8_t> out;
  uint8_t buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      fail("Gramine quote source: reading ", path, " failed: ", std::strerror(e));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > max) {
      ::close(fd);
      fail("Gramine quote source: ", path, " holds more than ", max, " bytes");
    }
  }
  ::close(fd);
  return out;
}

void write_pseudo_file(const std::string& path, std::span<const uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  TS_CHECK(fd >= 0, "Gramine quote source: cannot open ", path,
           " for writing: ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      ::close(fd);
      fail("Gramine quote source: writing ", bytes.size(), " bytes to ", path, " failed after ",
           done, ": ", std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  TS_CHECK(::close(fd) == 0, "Gramine quote source: closing ", path, ": ", std::strerror(errno));
}

}  // namespace

SimulatedQuoteSource::SimulatedQuoteSource(const std::string& attestation_key)
    : signer_(attest::load_or_create_sim_root(attestation_key)),
      mr_signer_(attest::simulated_mrsigner(signer_.public_key())) {}

std::vector<uint8_t> SimulatedQuoteSource::quote(const attest::ReportBody& body) {
  return signer_.quote_bytes(body);
}

GramineDcapQuoteSource::GramineDcapQuoteSource(std::string root) : root_(std::move(root)) {
  const std::vector<uint8_t> t = read_pseudo_file(root_ + "/attestation_type", 64);
  std::string type(t.begin(), t.end());
  while (!type.empty() && (type.back() == '\n' || type.back() == '\0' || type.back() == ' '))
    type.pop_back();
  TS_CHECK(type == "dcap", "Gramine quote source: ", root_, "/attestation_type reads '", type,
           "', not 'dcap': the manifest must set sgx.remote_attestation = \"dcap\" "
           "(deploy/gramine/)");
}

std::vector<uint8_t> GramineDcapQuoteSource::quote(const attest::ReportBody& body) {
  write_pseudo_file(root_ + "/user_report_data", body.report_data);
  std::vector<uint8_t> bytes = read_pseudo_file(root_ + "/quote", attest::kQuoteMaxBytes);
  TS_CHECK(bytes.size() >= attest::kQuoteMinBytes, "Gramine quote source: ", root_, "/quote gave ",
           bytes.size(), " bytes, less than a quote's ", attest::kQuoteMinBytes);
  attest::Quote q;
  try {
    q = attest::parse_quote(bytes);
  } catch (const Error& e) {
    fail("Gramine quote source: ", root_, "/quote is not a DCAP quote v3: ", e.what());
  }
  TS_CHECK(!q.simulated() && q.intel(), "Gramine quote source: the quote's QE vendor id is ",
           attest::describe_qe_vendor(q.header.qe_vendor_id), ", not Intel's quoting enclave");
  TS_CHECK(q.header.attestation_key_type == attest::kKeyTypeEcdsaP256 ||
               q.header.attestation_key_type == attest::kKeyTypeEcdsaP384,
           "Gramine quote source: attestation key type ", q.header.attestation_key_type,
           " is not ECDSA (2 or 3)");
  TS_CHECK(
      crypto::ct_equal(q.body.report_data.data(), body.report_data.data(), body.report_data.size()),
      "Gramine quote source: the quote's report data does not match the ", body.report_data.size(),
      " bytes written to ", root_, "/user_report_data (a quote made for another session)");
  return bytes;
}

std::unique_ptr<QuoteSource> make_quote_source(bool gramine, const std::string& attestation_key,
                                               const std::string& gramine_root) {
  if (gramine) return std::make_unique<GramineDcapQuoteSource>(gramine_root);
  TS_CHECK(!attestation_key.empty(),
           "no --attestation-key: outside Gramine, quotes are signed by the simulated root");
  return std::make_unique<SimulatedQuoteSource>(attestation_key);
}

}  // namespace teesplit::enclave
