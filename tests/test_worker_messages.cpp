// enclave/messages.h: the host<->worker messages against the layout that
// fuzz/make_worker_message_seeds.py writes independently (docs/protocol.md),
// round trips, and refusals of every truncation and of wrong shapes; the host
// reading a feature reply straight into a batch row (read_reply_into).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "channel/frame.h"
#include "core/file.h"
#include "enclave/messages.h"
#include "host/enclave_process.h"
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

// A feature reply read in parts: the layout matches what encode() writes, and
// the prefix and trailer decode to what decode_feature_view reads whole.
TEST(WorkerMessages, FeatureReplyInPartsMatchesTheWholeReply) {
  const Shape shape{1, 4, 8, 8};
  const std::vector<uint8_t> f = seed("feature");
  const FeatureReplyLayout l = feature_reply_layout(shape);
  EXPECT_EQ(l.prefix_bytes, 8u + 1 + 1 + 8 * 4);
  EXPECT_EQ(l.feature_bytes, 4u * 8 * 8 * sizeof(float));
  EXPECT_EQ(l.trailer_bytes, 16u);
  ASSERT_EQ(l.total(), f.size());
  const FeatureView whole = decode_feature_view(f, shape);
  FeatureView parts =
      decode_feature_prefix(std::span<const uint8_t>(f).first(l.prefix_bytes), shape);
  decode_feature_trailer(std::span<const uint8_t>(f).last(l.trailer_bytes), parts);
  EXPECT_EQ(parts.session, whole.session);
  EXPECT_EQ(parts.times.crypto_ns, whole.times.crypto_ns);
  EXPECT_EQ(parts.times.run_ns, whole.times.run_ns);
  EXPECT_TRUE(parts.feature.empty());
  EXPECT_EQ(whole.feature.data(), f.data() + l.prefix_bytes);
  EXPECT_THROW(
      decode_feature_prefix(std::span<const uint8_t>(f).first(l.prefix_bytes), {1, 4, 8, 9}),
      Error);
  EXPECT_THROW(decode_feature_prefix(std::span<const uint8_t>(f).first(l.prefix_bytes - 1), shape),
               Error);
}

// read_reply_into over a socketpair: a feature reply goes straight into the
// memory place() gives; anything else comes back whole (a reply of another
// layout, a prefix that does not check, place() declining, an error reply);
// an end inside the feature map is an error after place() was called.
TEST(WorkerMessages, ReplyReadIntoPlacedMemoryOrWhole) {
  const Shape shape{1, 4, 8, 8};
  const std::vector<uint8_t> f = seed("feature");
  const FeatureReplyLayout l = feature_reply_layout(shape);
  const FeatureView want = decode_feature_view(f, shape);
  struct Link {
    int fd[2] = {-1, -1};
    Link() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
    ~Link() {
      for (int x : fd)
        if (x >= 0) close(x);
    }
  };
  std::vector<uint8_t> row(l.feature_bytes, 0);
  int placed = 0;
  auto place = [&]() -> uint8_t* {
    ++placed;
    return row.data();
  };
  {  // the feature map lands in the row; nothing else is returned
    Link k;
    channel::write_frame(k.fd[0], uint8_t(MsgType::kFeature), f);
    FeatureView meta;
    EXPECT_FALSE(read_reply_into(k.fd[1], shape, place, &meta));
    EXPECT_EQ(placed, 1);
    EXPECT_EQ(0, std::memcmp(row.data(), want.feature.data(), l.feature_bytes));
    EXPECT_EQ(meta.session, want.session);
    EXPECT_EQ(meta.times.run_ns, want.times.run_ns);
  }
  auto whole = [&](uint8_t type, const std::vector<uint8_t>& payload, const Shape& expect,
                   const std::function<uint8_t*()>& p) {
    Link k;
    channel::write_frame(k.fd[0], type, payload);
    FeatureView meta;
    std::optional<channel::Frame> got = read_reply_into(k.fd[1], expect, p, &meta);
    EXPECT_TRUE(got);
    if (!got) return;
    EXPECT_EQ(got->type, type);
    EXPECT_EQ(got->payload, payload);
  };
  placed = 0;
  whole(uint8_t(MsgType::kFeature), f, {1, 4, 8, 9}, place);  // another length
  std::vector<uint8_t> bad_dtype = f;
  bad_dtype[8] = 9;  // same length, a dtype that is not float32
  whole(uint8_t(MsgType::kFeature), bad_dtype, shape, place);
  whole(uint8_t(MsgType::kFeature), f, shape, [&]() -> uint8_t* {
    ++placed;
    return nullptr;  // declined (the batcher is stopping)
  });
  EXPECT_EQ(placed, 1);
  ErrorReply e;
  e.code = ErrorCode::kNoSession;
  e.message = "no such session";
  whole(uint8_t(MsgType::kError), encode(e), shape, place);
  EXPECT_EQ(placed, 1);  // place() only for a checked feature reply it can take
  {                      // the stream ends inside the feature map, after place()
    Link k;
    const std::vector<uint8_t> frame = channel::encode_frame(uint8_t(MsgType::kFeature), f);
    ASSERT_EQ(write(k.fd[0], frame.data(), frame.size() - 100),
              static_cast<ssize_t>(frame.size() - 100));
    close(k.fd[0]);
    k.fd[0] = -1;
    FeatureView meta;
    placed = 0;
    EXPECT_THROW(read_reply_into(k.fd[1], shape, place, &meta), Error);
    EXPECT_EQ(placed, 1);
  }
}

}  // namespace
}  // namespace teesplit::enclave
