#include "attest/measurement.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

namespace teesplit::attest {
namespace {

constexpr std::string_view kMeasurementDomain = "teesplit measurement v1";
constexpr std::string_view kSignerDomain = "teesplit simulated mrsigner v1";

void put_len(crypto::Sha256& h, uint64_t n) {
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  h.update(len, 8);
}

// The file as one length-prefixed field, read in chunks.
void hash_file_field(crypto::Sha256& h, const std::string& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot open the ", what, " '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    fail("the ", what, " '", path, "' is not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  put_len(h, size);
  uint64_t got = 0;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
    got += n;
    if (got > size) break;
    h.update(buf, n);
  }
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  TS_CHECK(!err, "error reading the ", what, " '", path, "'");
  TS_CHECK(got == size, "the ", what, " '", path, "' changed size while being measured");
}

}  // namespace

std::string canonical_json(const std::string& json_text) {
  try {
    return nlohmann::json::parse(json_text).dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception& e) {
    fail("the enclave configuration is not valid JSON: ", e.what());
  }
}

Bytes32 compute_measurement(const std::string& binary_path, const std::string& front_path,
                            const std::string& config_json, const std::string& tail_path) {
  const std::string config = canonical_json(config_json);
  crypto::Sha256 h;
  h.update(kMeasurementDomain.data(), kMeasurementDomain.size());
  hash_file_field(h, binary_path, "enclave binary");
  hash_file_field(h, front_path, "front partition");
  h.update_field(byte_span(config));
  if (!tail_path.empty()) hash_file_field(h, tail_path, "tail partition");
  return h.finish();
}

Bytes32 compute_measurement_bytes(std::span<const uint8_t> binary, std::span<const uint8_t> front,
                                  const std::string& config_json,
                                  const std::span<const uint8_t>* tail) {
  const std::string config = canonical_json(config_json);
  crypto::Sha256 h;
  h.update(kMeasurementDomain.data(), kMeasurementDomain.size());
  h.update_field(binary);
  h.update_field(front);
  h.update_field(byte_span(config));
  if (tail) h.update_field(*tail);
  return h.finish();
}

Bytes32 simulated_mrsigner(const Bytes32& sim_root_public_key) {
  crypto::Sha256 h;
  h.update(kSignerDomain.data(), kSignerDomain.size());
  h.update(sim_root_public_key);
  return h.finish();
}

}  // namespace teesplit::attest
