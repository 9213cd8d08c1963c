#include "attest/report_data.h"

#include <algorithm>
#include <string_view>

#include "core/error.h"

namespace teesplit::attest {
namespace {

constexpr std::string_view kReportDataDomain = "teesplit report data v1";

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t get_u32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

Bytes32 binding_hash(const ReportBinding& b, uint32_t flags) {
  uint8_t vf[8];
  put_u32(vf, b.protocol_version);
  put_u32(vf + 4, flags);
  crypto::Sha256 h;
  h.update(kReportDataDomain.data(), kReportDataDomain.size());
  h.update(vf, sizeof vf);
  h.update_field(b.enclave_public_key);
  h.update_field(b.nonce);
  return h.finish();
}

}  // namespace

ReportData make_report_data(const ReportBinding& binding, uint32_t flags) {
  TS_CHECK((flags & ~kReportKnownFlags) == 0, "unknown report data flags 0x", std::hex, flags);
  ReportData rd{};
  const Bytes32 hash = binding_hash(binding, flags);
  std::copy(hash.begin(), hash.end(), rd.begin());
  put_u32(rd.data() + 32, binding.protocol_version);
  put_u32(rd.data() + 36, flags);
  return rd;
}

uint32_t report_data_version(const ReportData& rd) {
  return get_u32(rd.data() + 32);
}

uint32_t report_data_flags(const ReportData& rd) {
  return get_u32(rd.data() + 36);
}

std::string check_report_data(const ReportData& rd, const ReportBinding& expected) {
  const uint32_t version = report_data_version(rd), flags = report_data_flags(rd);
  if (version != expected.protocol_version)
    return detail::concat("report data: protocol version ", version, ", expected ",
                          expected.protocol_version);
  if ((flags & ~kReportKnownFlags) != 0)
    return detail::concat("report data: unknown flags 0x", std::hex, flags);
  for (size_t i = 40; i < rd.size(); ++i)
    if (rd[i] != 0) return detail::concat("report data: reserved byte ", i, " is not zero");
  const Bytes32 want = binding_hash(expected, flags);
  if (!crypto::ct_equal(want.data(), rd.data(), want.size()))
    return "report data does not bind this session's enclave key and nonce (a stale or "
           "replayed quote, or one made for another session)";
  return "";
}

}  // namespace teesplit::attest
