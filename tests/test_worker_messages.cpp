// enclave/messages.h: the host<->worker messages against the layout that
// fuzz/make_worker_message_seeds.py writes independently (docs/protocol.md),
// round trips, and refusals of every truncation and of wrong shapes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file.h"
#include "enclave/messages.h"
#include "support/test_support.h"

namespace teesplit::enclave {
namespace {

std::vector<uint8_t> seed(const std::string& name) {
  const std::string s = read_file(testing::source_path("fuzz/corpus/fuzz_worker_messages/" + name));
  return std::vector<uint8_t>(s.begin() + 1, s.end());  // the first byte picks the decoder
}

TEST(WorkerMessages, DecodeThePythonSeeds) {
  const WorkerInfo w = decode_worker_info(seed("ready"));
  EXPECT_EQ(w.measurement[31], 31);
  EXPECT_TRUE(w.provisioned);
  EXPECT_FALSE(w.insecure);
  EXPECT_EQ(w.secret_memory, "memfd_secret");
  EXPECT_EQ(w.feature_shape, (Shape{1, 4, 8, 8}));
  EXPECT_EQ(w.output_shape, (Shape{1, 10}));
  EXPECT_EQ(encode(w), seed("ready"));
  const AttestRequest a = decode_attest_request(seed("attest"));
  EXPECT_EQ(a.client_public[0], 32);
  EXPECT_EQ(decode_attest_reply(seed("attest_reply")).session, 7u);
  const FeatureReply f = decode_feature_reply(seed("feature"), {1, 4, 8, 8});
  EXPECT_EQ(f.feature.data<float>()[3], 1.5f);
  EXPECT_EQ(encode(f), seed("feature"));
  const ErrorReply e = decode_error_reply(seed("error"));
  EXPECT_EQ(e.code, ErrorCode::kNoSession);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(encode(e), seed("error"));
  EXPECT_EQ(decode_sealed_request(seed("infer"), "infer").message.size(), 40u);
  EXPECT_EQ(decode_provision_reply(seed("provision_reply")).sealed_key.size(), 68u);
}

TEST(WorkerMessages, EveryTruncationAndExtensionIsRefused) {
  for (const char* name : {"ready", "attest", "attest_reply", "infer", "feature", "error"}) {
    const std::vector<uint8_t> full = seed(name);
    auto decode = [&](std::span<const uint8_t> p) {
      const std::string n = name;
      if (n == "ready") decode_worker_info(p);
      if (n == "attest") decode_attest_request(p);
      if (n == "attest_reply") decode_attest_reply(p);
      if (n == "infer") decode_sealed_request(p, "infer");
      if (n == "feature") decode_feature_reply(p, {1, 4, 8, 8});
      if (n == "error") decode_error_reply(p);
    };
    for (size_t len = 0; len < full.size(); ++len)
      EXPECT_THROW(decode({full.data(), len}), Error) << name << " cut at " << len;
    std::vector<uint8_t> longer = full;
    longer.push_back(0);
    EXPECT_THROW(decode(longer), Error) << name << " with a trailing byte";
  }
}

TEST(WorkerMessages, WrongShapesAndAbsurdLengthsAreRefused) {
  const std::vector<uint8_t> f = seed("feature");
  EXPECT_THROW(decode_feature_reply(f, {1, 4, 8, 9}), Error);
  std::vector<uint8_t> absurd = {7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  try {
    decode_sealed_request(absurd, "infer request");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the limit"), std::string::npos) << e.what();
  }
  std::vector<uint8_t> rank = seed("feature");
  rank[9] = 9;  // the rank byte after session and dtype
  EXPECT_THROW(decode_feature_reply(rank, {1, 4, 8, 8}), Error);
}

}  // namespace
}  // namespace teesplit::enclave
