// attest/quote.h: the SGX DCAP quote v3 layout, checked against two genuine
// quotes from SGX hardware (tests/data/sgx-quotes/, whose README lists their
// fields: the independent oracle), and parse_quote's length checks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attest/quote.h"
#include "core/error.h"
#include "core/file.h"
#include "support/test_support.h"

namespace teesplit::attest {
namespace {

std::vector<uint8_t> read_quote(const std::string& name) {
  const std::string s = read_file(testing::source_path("tests/data/sgx-quotes/" + name));
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::string parse_error(std::span<const uint8_t> bytes) {
  return testing::error_of([&] { parse_quote(bytes); });
}

struct Genuine {
  const char* file;
  size_t bytes;
  const char* mr_enclave;
  const char* mr_signer;
  uint64_t attributes;  // issue 13: mobilecoin 0x07 (DEBUG), automata 0x05
};

// From tests/data/sgx-quotes/README.md (and issue 13 for the attributes).
const Genuine kGenuine[] = {
    {"mobilecoin-hw_quote.dat", 4603,
     "1dd0df84810e53e26b2b167dfe0f97cc4364085fe0bd41d5e18a759c21d5c189",
     "d412a4f07ef83892a5915fb2ab584be31e186e5a4f95ab5f6950fd4eb8694d7b", 0x07},
    {"automata-quotev3.bin", 4734,
     "a4f45c39dac622cb1dd32ddb35a52ec92db41d0fa88a1c911c49e59c534f61cd",
     "8f2dbc0f9c5d3378d596974b2deed1f93223cc49242899f83809bcc92546132c", 0x05},
};

TEST(Quote, GenuineQuotesParseWithTheirListedFields) {
  for (const Genuine& g : kGenuine) {
    SCOPED_TRACE(g.file);
    const std::vector<uint8_t> bytes = read_quote(g.file);
    ASSERT_EQ(bytes.size(), g.bytes);
    const Quote q = parse_quote(bytes);
    EXPECT_EQ(q.header.version, 3);
    EXPECT_EQ(q.header.attestation_key_type, kKeyTypeEcdsaP256);
    EXPECT_EQ(q.header.tee_type, 0u);
    EXPECT_EQ(crypto::to_hex(q.header.qe_vendor_id), "939a7233f79c4ca9940a0db3957f0607");
    EXPECT_TRUE(q.intel());
    EXPECT_FALSE(q.simulated());
    EXPECT_EQ(crypto::to_hex(q.body.mr_enclave), g.mr_enclave);
    EXPECT_EQ(crypto::to_hex(q.body.mr_signer), g.mr_signer);
    EXPECT_EQ(q.body.isv_prod_id, 0);
    EXPECT_EQ(q.body.isv_svn, 0);
    EXPECT_EQ(q.body.attributes_flags, g.attributes);
    EXPECT_EQ(q.body.debug(), (g.attributes & 2) != 0);
    EXPECT_EQ(q.body.report_data, ReportData{});  // 64 zero bytes
    EXPECT_EQ(q.signature_data.size(), g.bytes - 436);
    // Serialising gives back every byte, reserved fields included.
    EXPECT_EQ(q.serialize(), bytes);
    const std::vector<uint8_t> signed_part(bytes.begin(), bytes.begin() + 432);
    EXPECT_EQ(q.signed_bytes(), signed_part);
  }
}

// Every field written at Intel's offset (sgx_quote_header_t, sgx_report_body_t),
// typed here again from the structure's definition.
TEST(Quote, FieldsSitAtIntelOffsets) {
  Quote q;
  q.header.attestation_key_type = 0x0102;
  q.header.qe_svn = 0x0304;
  q.header.pce_svn = 0x0506;
  for (int i = 0; i < 16; ++i) q.header.qe_vendor_id[i] = static_cast<uint8_t>(0x10 + i);
  for (int i = 0; i < 20; ++i) q.header.user_data[i] = static_cast<uint8_t>(0x30 + i);
  ReportBody& b = q.body;
  b.cpu_svn.fill(0xc1);
  b.misc_select = 0x0a0b0c0d;
  b.isv_ext_prod_id.fill(0xc2);
  b.attributes_flags = 0x1122334455667788ull;
  b.attributes_xfrm = 0x99aabbccddeeff00ull;
  b.mr_enclave.fill(0xe1);
  b.mr_signer.fill(0xe2);
  b.config_id.fill(0xc3);
  b.isv_prod_id = 0x7172;
  b.isv_svn = 0x7374;
  b.config_svn = 0x7576;
  b.isv_family_id.fill(0xc4);
  b.report_data.fill(0xd1);
  q.signature_data = {0xaa, 0xbb, 0xcc};
  const std::vector<uint8_t> x = q.serialize();
  ASSERT_EQ(x.size(), 439u);
  auto at = [&](size_t off, size_t n, uint8_t v) {
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(x[off + i], v) << "offset " << off + i;
  };
  EXPECT_EQ(x[0], 3);
  EXPECT_EQ(x[1], 0);
  EXPECT_EQ(x[2], 0x02);
  EXPECT_EQ(x[3], 0x01);
  at(4, 4, 0);  // TEE type
  EXPECT_EQ(x[8], 0x04);
  EXPECT_EQ(x[9], 0x03);
  EXPECT_EQ(x[10], 0x06);
  EXPECT_EQ(x[11], 0x05);
  EXPECT_EQ(x[12], 0x10);
  EXPECT_EQ(x[27], 0x1f);
  EXPECT_EQ(x[28], 0x30);
  EXPECT_EQ(x[47], 0x43);
  const size_t body = 48;
  at(body + 0, 16, 0xc1);
  EXPECT_EQ(x[body + 16], 0x0d);
  EXPECT_EQ(x[body + 19], 0x0a);
  at(body + 20, 12, 0);  // reserved1
  at(body + 32, 16, 0xc2);
  EXPECT_EQ(x[body + 48], 0x88);
  EXPECT_EQ(x[body + 55], 0x11);
  EXPECT_EQ(x[body + 56], 0x00);
  EXPECT_EQ(x[body + 63], 0x99);
  at(112, 32, 0xe1);  // MRENCLAVE (the README's offset)
  at(body + 96, 32, 0);
  at(176, 32, 0xe2);  // MRSIGNER
  at(body + 160, 32, 0);
  at(body + 192, 64, 0xc3);
  EXPECT_EQ(x[304], 0x72);  // ISV prod id
  EXPECT_EQ(x[305], 0x71);
  EXPECT_EQ(x[306], 0x74);  // ISV SVN
  EXPECT_EQ(x[307], 0x73);
  EXPECT_EQ(x[body + 260], 0x76);
  at(body + 262, 42, 0);
  at(body + 304, 16, 0xc4);
  at(368, 64, 0xd1);     // REPORT DATA
  EXPECT_EQ(x[432], 3);  // signature data length
  at(433, 3, 0);
  EXPECT_EQ(x[436], 0xaa);
  EXPECT_EQ(x[438], 0xcc);
  // And back.
  const Quote r = parse_quote(x);
  EXPECT_EQ(r.serialize(), x);
  EXPECT_EQ(r.body.isv_svn, 0x7374);
  EXPECT_EQ(r.body.attributes_xfrm, 0x99aabbccddeeff00ull);
  EXPECT_EQ(r.header.user_data, q.header.user_data);
}

TEST(Quote, EveryTruncationIsRefused) {
  for (const Genuine& g : kGenuine) {
    const std::vector<uint8_t> bytes = read_quote(g.file);
    for (size_t n = 0; n < bytes.size(); ++n) {
      const std::string err = parse_error(std::span<const uint8_t>(bytes).first(n));
      ASSERT_FALSE(err.empty()) << g.file << " truncated to " << n << " bytes was accepted";
      ASSERT_EQ(err.find('\n'), std::string::npos) << err;
      if (n < 436)
        ASSERT_NE(err.find("truncated"), std::string::npos) << err;
      else
        ASSERT_NE(err.find("points past the end"), std::string::npos) << err;
    }
    // A byte too many is refused as well.
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    EXPECT_NE(parse_error(longer).find("after its signature data"), std::string::npos);
  }
}

TEST(Quote, BadLengthFieldsAndHeadersAreRefused) {
  const std::vector<uint8_t> bytes = read_quote("automata-quotev3.bin");
  const uint32_t len = static_cast<uint32_t>(bytes.size() - 436);
  for (uint32_t v :
       {len + 1, len + 2, len - 1, 0u, 0x7fffffffu, 0xffffffffu, 0x80000000u, len | 0x01000000u}) {
    std::vector<uint8_t> b = bytes;
    for (int i = 0; i < 4; ++i) b[432 + i] = static_cast<uint8_t>(v >> (8 * i));
    const std::string err = parse_error(b);
    EXPECT_FALSE(err.empty()) << "length " << v;
    EXPECT_EQ(err.find('\n'), std::string::npos);
    EXPECT_NE(err.find("offset 432"), std::string::npos) << err;
  }
  // Every bit of the length field flipped, one at a time.
  for (int bit = 0; bit < 32; ++bit) {
    std::vector<uint8_t> b = bytes;
    b[432 + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(parse_error(b).empty()) << "bit " << bit;
  }
  std::vector<uint8_t> v4 = bytes;
  v4[0] = 4;
  EXPECT_NE(parse_error(v4).find("quote version 4"), std::string::npos);
  std::vector<uint8_t> tdx = bytes;
  tdx[4] = 0x81;
  EXPECT_NE(parse_error(tdx).find("TEE type 129"), std::string::npos);
  std::vector<uint8_t> huge(kQuoteMaxBytes + 1, 0);
  EXPECT_NE(parse_error(huge).find("more than"), std::string::npos);
}

TEST(Quote, VendorIds) {
  EXPECT_EQ(std::string(kSimulatedQeVendorId.begin(), kSimulatedQeVendorId.end()),
            "TSPLIT-SIMULATED");
  EXPECT_NE(kSimulatedQeVendorId, kIntelQeVendorId);
  EXPECT_NE(describe_qe_vendor(kIntelQeVendorId).find("Intel"), std::string::npos);
  EXPECT_NE(describe_qe_vendor(kSimulatedQeVendorId).find("simulated"), std::string::npos);
}

}  // namespace
}  // namespace teesplit::attest
