// The enclave worker as a separate, locked-down process (build/teesplit-enclave)
// driven by the host's launcher, with this test as the client: attestation,
// the encrypted channel, the front in the worker and the back here, against
// the whole model; every refusal; sealed fronts provisioned, sealed to the
// measurement and unsealed by a restarted worker.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "attest/sim_root.h"
#include "client/client.h"
#include "core/file.h"
#include "crypto/primitives.h"
#include "data/dataset.h"
#include "enclave/messages.h"
#include "host/enclave_process.h"
#include "host/model.h"
#include "host/split_io.h"
#include "partition/split_dir.h"
#include "support/skip.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using enclave::MsgType;

using testing::worker_binary;

// The shipped ResNet-50 split at layer2.0 in enclave/NAME, sealed with key if given.
struct Fixture : testing::WorkerFixture {
  explicit Fixture(const std::string& name, const FrontKey* key = nullptr)
      : WorkerFixture("enclave", name, with_key(key)) {}
  static SplitWriteOptions with_key(const FrontKey* key) {
    SplitWriteOptions wo;
    wo.key = key;
    return wo;
  }
};

// Attests the worker over the launcher; returns the verdict.
attest::Verdict attest_worker(EnclaveProcess& w, client::Attestation& a, const attest::Policy& p) {
  const channel::Frame f = w.call(MsgType::kAttest, enclave::encode(a.request()));
  EXPECT_EQ(f.type, uint8_t(MsgType::kAttestReply));
  return a.finish(enclave::decode_attest_reply(f.payload), p);
}

enclave::ErrorReply expect_error(const channel::Frame& f) {
  EXPECT_EQ(f.type, uint8_t(MsgType::kError)) << enclave::msg_type_name(f.type);
  return f.type == uint8_t(MsgType::kError) ? enclave::decode_error_reply(f.payload)
                                            : enclave::ErrorReply{};
}

TEST(Enclave, AttestedInferenceMatchesTheWholeModel) {
  Fixture fx("match");
  ASSERT_TRUE(fx.manifest.enclave_measurement.has_value());
  EnclaveProcess w(fx.launch());
  EXPECT_TRUE(w.info().provisioned);
  EXPECT_FALSE(w.info().insecure) << w.info().lockdown;
  EXPECT_EQ(w.info().secret_memory, "memfd_secret");
  EXPECT_NE(w.info().lockdown.find("seccomp"), std::string::npos) << w.info().lockdown;
  EXPECT_EQ(crypto::to_hex(w.info().measurement), *fx.manifest.enclave_measurement);

  client::Attestation a;
  const attest::Verdict v = attest_worker(w, a, fx.policy());
  ASSERT_TRUE(v.accepted) << v.to_text();

  auto back = open_split_back(fx.split, SessionOptions{});
  ASSERT_TRUE(back.ok()) << back.error();
  auto whole = open_model_session(fx.model, SessionOptions{});
  auto data = testing::fashion_test();
  ASSERT_TRUE(data);
  for (int64_t i = 0; i < 16; ++i) {
    const Batch b = data->get_batch(i, 1);
    const channel::Frame f =
        w.call(MsgType::kInfer, enclave::encode(client::seal_input(a, b.images)));
    ASSERT_EQ(f.type, uint8_t(MsgType::kFeature)) << expect_error(f).message;
    const enclave::FeatureReply fr =
        enclave::decode_feature_reply(f.payload, fx.manifest.feature_shape);
    const Tensor got = back->session->run({fr.feature})[0];
    const Tensor want = (*whole)->run({b.images})[0];
    EXPECT_LE(max_relative_error(got, want), 1e-4) << "image " << i;
  }
}

TEST(Enclave, RefusesBadQuotesAndMessagesAndKeepsServing) {
  Fixture fx("refusals");
  EnclaveProcess w(fx.launch());
  const Tensor input(DType::F32, fx.manifest.input_shape);

  {  // Wrong measurement, another root, simulated not allowed, stale nonce.
    attest::Policy p = fx.policy();
    p.mr_enclave->at(0) ^= 1;
    client::Attestation a;
    EXPECT_FALSE(attest_worker(w, a, p).accepted);
  }
  {
    attest::Policy p = fx.policy();
    p.simulated_root = crypto::Ed25519PrivateKey::generate().public_key();
    client::Attestation a;
    EXPECT_FALSE(attest_worker(w, a, p).accepted);
  }
  {
    attest::Policy p = fx.policy();
    p.allow_simulated = false;
    client::Attestation a;
    const attest::Verdict v = attest_worker(w, a, p);
    EXPECT_FALSE(v.accepted);
    EXPECT_NE(v.to_text().find("simulated"), std::string::npos) << v.to_text();
  }
  {  // A reply made for another client's nonce.
    client::Attestation mine, other;
    const channel::Frame f = w.call(MsgType::kAttest, enclave::encode(other.request()));
    EXPECT_FALSE(mine.finish(enclave::decode_attest_reply(f.payload), fx.policy()).accepted);
  }

  client::Attestation a;
  ASSERT_TRUE(attest_worker(w, a, fx.policy()).accepted);
  enclave::SealedRequest good = client::seal_input(a, input);

  enclave::SealedRequest tampered = good;
  tampered.message[20] ^= 0x40;
  enclave::ErrorReply e = expect_error(w.call(MsgType::kInfer, enclave::encode(tampered)));
  EXPECT_EQ(e.code, enclave::ErrorCode::kRejected);
  EXPECT_NE(e.message.find("tampered"), std::string::npos) << e.message;

  ASSERT_EQ(w.call(MsgType::kInfer, enclave::encode(good)).type, uint8_t(MsgType::kFeature));
  e = expect_error(w.call(MsgType::kInfer, enclave::encode(good)));  // replayed
  EXPECT_NE(e.message.find("replayed"), std::string::npos) << e.message;

  enclave::SealedRequest next = client::seal_input(a, input);
  enclave::SealedRequest after = client::seal_input(a, input);
  e = expect_error(w.call(MsgType::kInfer, enclave::encode(after)));  // reordered
  EXPECT_NE(e.message.find("reordered"), std::string::npos) << e.message;
  EXPECT_EQ(w.call(MsgType::kInfer, enclave::encode(next)).type, uint8_t(MsgType::kFeature));
  EXPECT_EQ(w.call(MsgType::kInfer, enclave::encode(after)).type, uint8_t(MsgType::kFeature));

  enclave::SealedRequest unknown = client::seal_input(a, input);
  unknown.session ^= 1;
  e = expect_error(w.call(MsgType::kInfer, enclave::encode(unknown)));
  EXPECT_EQ(e.code, enclave::ErrorCode::kNoSession);
  EXPECT_TRUE(e.retryable);

  // Malformed and absurd messages: one-line errors, no crash.
  e = expect_error(w.call(MsgType::kInfer, {1, 2, 3}));
  EXPECT_EQ(e.code, enclave::ErrorCode::kBadRequest);
  std::vector<uint8_t> absurd(12, 0xff);  // session, then a length of 4 GiB
  e = expect_error(w.call(MsgType::kInfer, absurd));
  EXPECT_NE(e.message.find("exceeds"), std::string::npos) << e.message;
  e = expect_error(w.call(static_cast<MsgType>(0x42), {}));
  EXPECT_NE(e.message.find("unexpected message type"), std::string::npos) << e.message;

  // Still serving: the session's next message in order works.
  unknown.session ^= 1;
  EXPECT_EQ(w.call(MsgType::kInfer, enclave::encode(unknown)).type, uint8_t(MsgType::kFeature));
}

TEST(Enclave, SealedFrontIsProvisionedThenUnsealedByARestartedWorker) {
  FrontKey key;
  crypto::random_bytes(key.data(), key.size());
  Fixture fx("sealed", &key);
  ASSERT_TRUE(fx.manifest.encrypted);
  EnclaveLaunch l = fx.launch();
  const Tensor input(DType::F32, fx.manifest.input_shape);
  std::vector<uint8_t> sealed;
  {
    EnclaveProcess w(l);
    EXPECT_FALSE(w.info().provisioned);
    client::Attestation a;  // the model owner attests before giving the key
    ASSERT_TRUE(attest_worker(w, a, fx.policy()).accepted);
    enclave::ErrorReply e =
        expect_error(w.call(MsgType::kInfer, enclave::encode(client::seal_input(a, input))));
    EXPECT_EQ(e.code, enclave::ErrorCode::kNotProvisioned) << e.message;
    FrontKey wrong = key;
    wrong[0] ^= 1;
    e = expect_error(
        w.call(MsgType::kProvision, enclave::encode(client::seal_front_key(a, wrong))));
    EXPECT_EQ(e.code, enclave::ErrorCode::kRejected) << e.message;
    const channel::Frame f =
        w.call(MsgType::kProvision, enclave::encode(client::seal_front_key(a, key)));
    ASSERT_EQ(f.type, uint8_t(MsgType::kProvisionReply)) << expect_error(f).message;
    sealed = enclave::decode_provision_reply(f.payload).sealed_key;
  }
  // The sealed blob is the host's to keep: it does not hold the key in clear.
  const std::string blob(sealed.begin(), sealed.end());
  EXPECT_EQ(blob.find(std::string(key.begin(), key.end())), std::string::npos);
  l.sealed_key = fx.dir + "/sealed-front-key.bin";
  write_file(l.sealed_key, blob);

  EnclaveProcess w(l);
  EXPECT_TRUE(w.info().provisioned);
  client::Attestation a;
  ASSERT_TRUE(attest_worker(w, a, fx.policy()).accepted);
  auto data = testing::fashion_test();
  const Batch b = data->get_batch(0, 1);
  const channel::Frame f =
      w.call(MsgType::kInfer, enclave::encode(client::seal_input(a, b.images)));
  ASSERT_EQ(f.type, uint8_t(MsgType::kFeature)) << expect_error(f).message;
  auto back = open_split_back(fx.split, SessionOptions{});
  ASSERT_TRUE(back.ok()) << back.error();
  auto whole = open_model_session(fx.model, SessionOptions{});
  EXPECT_LE(
      max_relative_error(
          back->session->run(
              {enclave::decode_feature_reply(f.payload, fx.manifest.feature_shape).feature})[0],
          (*whole)->run({b.images})[0]),
      1e-4);

  // Another sealing root cannot unseal it: the worker refuses to start.
  EnclaveLaunch other = l;
  other.seal_root = fx.dir + "/other-seal/root.key";
  const std::string err = testing::error_of([&] { EnclaveProcess bad(other); });
  EXPECT_NE(err.find("sealed key does not open"), std::string::npos) << err;
}

TEST(Enclave, AKilledWorkerIsAClearRetryableError) {
  Fixture fx("killed");
  EnclaveProcess w(fx.launch());
  client::Attestation a;
  ASSERT_TRUE(attest_worker(w, a, fx.policy()).accepted);
  w.kill();
  const Tensor input(DType::F32, fx.manifest.input_shape);
  const std::string err = testing::error_of(
      [&] { w.call(MsgType::kInfer, enclave::encode(client::seal_input(a, input))); });
  EXPECT_NE(err.find("is gone"), std::string::npos) << err;
  EXPECT_NE(err.find("attest again"), std::string::npos) << err;
}

}  // namespace
}  // namespace teesplit
