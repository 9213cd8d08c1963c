#include "attest/quote.h"

#include <cstring>

#include "core/error.h"

namespace teesplit::attest {

const QeVendorId kIntelQeVendorId = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                     0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
const QeVendorId kSimulatedQeVendorId = {'T', 'S', 'P', 'L', 'I', 'T', '-', 'S',
                                         'I', 'M', 'U', 'L', 'A', 'T', 'E', 'D'};

namespace {

// Byte offsets within the quote: Intel's sgx_quote_header_t at 0, and within a
// report body (sgx_report_body_t; at 48 in a quote, alone as a QE report).
namespace off {
constexpr size_t kVersion = 0, kKeyType = 2, kTeeType = 4, kQeSvn = 8, kPceSvn = 10,
                 kQeVendorId = 12, kUserData = 28;
constexpr size_t kBody = kQuoteHeaderBytes;
constexpr size_t kCpuSvn = 0, kMiscSelect = 16, kReserved1 = 20, kIsvExtProdId = 32,
                 kAttrFlags = 48, kAttrXfrm = 56, kMrEnclave = 64, kReserved2 = 96, kMrSigner = 128,
                 kReserved3 = 160, kConfigId = 192, kIsvProdId = 256, kIsvSvn = 258,
                 kConfigSvn = 260, kReserved4 = 262, kIsvFamilyId = 304, kReportData = 320;
constexpr size_t kSigDataLen = kQuoteSignedBytes, kSigData = kQuoteMinBytes;
static_assert(kUserData + 20 == kQuoteHeaderBytes);
static_assert(kReportData + 64 == kReportBodyBytes);
static_assert(kReserved4 + 42 == kIsvFamilyId && kConfigId + 64 == kIsvProdId);
}  // namespace off

template <class T>
void put_le(uint8_t* out, size_t at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

template <class T>
T get_le(const uint8_t* in, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(in[at + i]) << (8 * i));
  return v;
}

template <size_t N>
void put_bytes(uint8_t* out, size_t at, const std::array<uint8_t, N>& a) {
  std::memcpy(out + at, a.data(), N);
}

template <size_t N>
void get_bytes(const uint8_t* in, size_t at, std::array<uint8_t, N>& a) {
  std::memcpy(a.data(), in + at, N);
}

void write_report_body(const ReportBody& b, uint8_t* o) {
  put_bytes(o, off::kCpuSvn, b.cpu_svn);
  put_le<uint32_t>(o, off::kMiscSelect, b.misc_select);
  put_bytes(o, off::kReserved1, b.reserved1);
  put_bytes(o, off::kIsvExtProdId, b.isv_ext_prod_id);
  put_le<uint64_t>(o, off::kAttrFlags, b.attributes_flags);
  put_le<uint64_t>(o, off::kAttrXfrm, b.attributes_xfrm);
  put_bytes(o, off::kMrEnclave, b.mr_enclave);
  put_bytes(o, off::kReserved2, b.reserved2);
  put_bytes(o, off::kMrSigner, b.mr_signer);
  put_bytes(o, off::kReserved3, b.reserved3);
  put_bytes(o, off::kConfigId, b.config_id);
  put_le<uint16_t>(o, off::kIsvProdId, b.isv_prod_id);
  put_le<uint16_t>(o, off::kIsvSvn, b.isv_svn);
  put_le<uint16_t>(o, off::kConfigSvn, b.config_svn);
  put_bytes(o, off::kReserved4, b.reserved4);
  put_bytes(o, off::kIsvFamilyId, b.isv_family_id);
  put_bytes(o, off::kReportData, b.report_data);
}

void write_header(const QuoteHeader& h, uint8_t* o) {
  put_le<uint16_t>(o, off::kVersion, h.version);
  put_le<uint16_t>(o, off::kKeyType, h.attestation_key_type);
  put_le<uint32_t>(o, off::kTeeType, h.tee_type);
  put_le<uint16_t>(o, off::kQeSvn, h.qe_svn);
  put_le<uint16_t>(o, off::kPceSvn, h.pce_svn);
  put_bytes(o, off::kQeVendorId, h.qe_vendor_id);
  put_bytes(o, off::kUserData, h.user_data);
}

void write_signed(const Quote& q, uint8_t* o) {
  write_header(q.header, o);
  write_report_body(q.body, o + off::kBody);
}

}  // namespace

ReportBody parse_report_body(std::span<const uint8_t> in) {
  TS_CHECK(in.size() == kReportBodyBytes, "a report body has ", kReportBodyBytes, " bytes, not ",
           in.size());
  const uint8_t* p = in.data();
  ReportBody b;
  get_bytes(p, off::kCpuSvn, b.cpu_svn);
  b.misc_select = get_le<uint32_t>(p, off::kMiscSelect);
  get_bytes(p, off::kReserved1, b.reserved1);
  get_bytes(p, off::kIsvExtProdId, b.isv_ext_prod_id);
  b.attributes_flags = get_le<uint64_t>(p, off::kAttrFlags);
  b.attributes_xfrm = get_le<uint64_t>(p, off::kAttrXfrm);
  get_bytes(p, off::kMrEnclave, b.mr_enclave);
  get_bytes(p, off::kReserved2, b.reserved2);
  get_bytes(p, off::kMrSigner, b.mr_signer);
  get_bytes(p, off::kReserved3, b.reserved3);
  get_bytes(p, off::kConfigId, b.config_id);
  b.isv_prod_id = get_le<uint16_t>(p, off::kIsvProdId);
  b.isv_svn = get_le<uint16_t>(p, off::kIsvSvn);
  b.config_svn = get_le<uint16_t>(p, off::kConfigSvn);
  get_bytes(p, off::kReserved4, b.reserved4);
  get_bytes(p, off::kIsvFamilyId, b.isv_family_id);
  get_bytes(p, off::kReportData, b.report_data);
  return b;
}

std::vector<uint8_t> serialize_report_body(const ReportBody& b) {
  std::vector<uint8_t> out(kReportBodyBytes, 0);
  write_report_body(b, out.data());
  return out;
}

std::vector<uint8_t> Quote::signed_bytes() const {
  std::vector<uint8_t> out(kQuoteSignedBytes, 0);
  write_signed(*this, out.data());
  return out;
}

std::vector<uint8_t> Quote::serialize() const {
  TS_CHECK(signature_data.size() <= kQuoteMaxBytes - kQuoteMinBytes, "quote signature data of ",
           signature_data.size(), " bytes is more than the ", kQuoteMaxBytes - kQuoteMinBytes,
           " allowed");
  std::vector<uint8_t> out(kQuoteMinBytes + signature_data.size(), 0);
  write_signed(*this, out.data());
  put_le<uint32_t>(out.data(), off::kSigDataLen, static_cast<uint32_t>(signature_data.size()));
  if (!signature_data.empty())
    std::memcpy(out.data() + off::kSigData, signature_data.data(), signature_data.size());
  return out;
}

Quote parse_quote(std::span<const uint8_t> in) {
  TS_CHECK(in.size() >= kQuoteMinBytes, "quote of ", in.size(), " bytes is truncated: a v3 quote ",
           "has at least ", kQuoteMinBytes, " (header 48, report body 384, length 4)");
  TS_CHECK(in.size() <= kQuoteMaxBytes, "quote of ", in.size(), " bytes is more than the ",
           kQuoteMaxBytes, " allowed");
  const uint8_t* p = in.data();
  Quote q;
  QuoteHeader& h = q.header;
  h.version = get_le<uint16_t>(p, off::kVersion);
  TS_CHECK(h.version == kQuoteVersion, "quote version ", h.version, " at offset 0: only version ",
           kQuoteVersion, " (SGX DCAP quote v3) is supported");
  h.attestation_key_type = get_le<uint16_t>(p, off::kKeyType);
  h.tee_type = get_le<uint32_t>(p, off::kTeeType);
  TS_CHECK(h.tee_type == kTeeTypeSgx, "TEE type ", h.tee_type,
           " at offset 4: only SGX (0) quotes are supported");
  h.qe_svn = get_le<uint16_t>(p, off::kQeSvn);
  h.pce_svn = get_le<uint16_t>(p, off::kPceSvn);
  get_bytes(p, off::kQeVendorId, h.qe_vendor_id);
  get_bytes(p, off::kUserData, h.user_data);
  q.body = parse_report_body(in.subspan(off::kBody, kReportBodyBytes));
  const uint32_t sig_len = get_le<uint32_t>(p, off::kSigDataLen);
  const size_t rest = in.size() - kQuoteMinBytes;
  TS_CHECK(sig_len <= rest, "quote signature data length ", sig_len, " at offset ",
           off::kSigDataLen, " points past the end (", rest, " bytes follow it)");
  TS_CHECK(sig_len == rest, "quote has ", rest - sig_len,
           " bytes after its signature data (length ", sig_len, " at offset ", off::kSigDataLen,
           ")");
  q.signature_data.assign(p + off::kSigData, p + off::kSigData + sig_len);
  return q;
}

std::string describe_qe_vendor(const QeVendorId& id) {
  const std::string hex = crypto::to_hex(id);
  if (id == kIntelQeVendorId) return hex + " (Intel)";
  if (id == kSimulatedQeVendorId) return hex + " (teesplit simulated: \"TSPLIT-SIMULATED\")";
  return hex + " (unknown vendor)";
}

}  // namespace teesplit::attest
