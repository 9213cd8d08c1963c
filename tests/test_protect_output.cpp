// split --protect-output: the last layers (the classifier and what follows it)
// stay in the enclave as a tail partition, which seals the result to the
// client, so that the host never sees the prediction. Checked against the
// whole model: in process (open_split), through the worker over its socket,
// and through `teesplit serve` / `teesplit infer` as separate processes, on
// the shipped Fashion-MNIST ResNet-50 (the whole test set) and on torchvision's
// ResNet-50 at 224x224.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "attest/measurement.h"
#include "attest/sim_root.h"
#include "client/client.h"
#include "core/file.h"
#include "crypto/primitives.h"
#include "data/dataset.h"
#include "enclave/messages.h"
#include "enclave/worker.h"
#include "graph/cuts.h"
#include "host/enclave_process.h"
#include "host/model.h"
#include "host/split_io.h"
#include "io/npy.h"
#include "partition/split_dir.h"
#include "serve/remote.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using enclave::MsgType;
using testing::binary_path;
using testing::run_command;
using testing::ServeProcess;

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = testing::generated_dir() + "/protect_output/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string shipped_resnet50() {
  return testing::source_path("models/fashion-mnist-resnet50.onnx");
}

SplitWriteOptions tail_options(const FrontKey* key = nullptr) {
  SplitWriteOptions wo;
  wo.key = key;
  wo.protect_output = true;
  wo.enclave_binary = binary_path("teesplit-enclave");
  return wo;
}

TEST(ProtectOutput, TailStartsAtTheLastCutBeforeTheClassifier) {
  const Graph g = specialize_for_cuts(testing::zoo_graph("resnet50", 32, 0.25, 10, 3, 7));
  const Cut front = resolve_cut(g, "layer2.1");
  const Cut t = tail_cut(g, front);
  int gemm = -1;
  for (int k = 0; k < static_cast<int>(g.nodes.size()); ++k)
    if (g.nodes[static_cast<size_t>(k)].op == "Gemm") gemm = k;
  ASSERT_GE(gemm, 0);
  EXPECT_LT(t.index, gemm);
  for (const Cut& c : enumerate_cuts(g))
    EXPECT_FALSE(c.index > t.index && c.index < gemm)
        << "a later cut before the classifier: " << c.name;
  const Graph tail = back_partition(g, t);
  ASSERT_FALSE(tail.nodes.empty());
  EXPECT_EQ(tail.nodes.back().op, "Gemm");
  // The back partition ends where the tail begins: one output, the tail's input.
  const Graph back = back_partition(g, front, &t);
  ASSERT_EQ(back.outputs.size(), 1u);
  EXPECT_EQ(back.value(back.outputs[0]).name, tail.value(tail.inputs[0]).name);
  EXPECT_EQ(back.nodes.size() + tail.nodes.size() + static_cast<size_t>(front.index) + 1,
            g.nodes.size());

  // A front cut at or after the tail's leaves no back partition.
  std::string err = testing::error_of([&] { tail_cut(g, t); });
  EXPECT_TRUE(contains(err, "leaves no back partition")) << err;
  // A model without a classifier has nothing to keep.
  Tensor x(DType::F32, {1, 4});
  const Graph relu = testing::single_node_graph("Relu", {}, {x}, {false});
  err = testing::error_of([&] { tail_cut(relu, Cut{}); });
  EXPECT_TRUE(contains(err, "no Gemm or MatMul")) << err;
}

TEST(ProtectOutput, TailKeepsTheSoftmaxAfterTheClassifier) {
  Graph g = testing::zoo_graph("vgg16", 32, 0.25, 10, 1, 3);
  // Append a Softmax to the logits, as models exported for serving often end.
  const int logits = g.outputs[0];
  Value probs = g.value(logits);
  probs.name = "probs";
  probs.constant.reset();
  const int p = g.add_value(probs);
  Node sm;
  sm.name = "/softmax/Softmax";
  sm.op = "Softmax";
  sm.inputs = {logits};
  sm.outputs = {p};
  sm.attrs.set("axis", int64_t{1});
  g.nodes.push_back(sm);
  g.outputs = {p};
  g.validate();
  const Graph s = specialize_for_cuts(g);
  const Cut front = enumerate_cuts(s).front();
  const Graph tail = back_partition(s, tail_cut(s, front));
  ASSERT_GE(tail.nodes.size(), 2u);
  EXPECT_EQ(tail.nodes.back().op, "Softmax");
  EXPECT_EQ(tail.nodes[tail.nodes.size() - 2].op, "Gemm");
}

TEST(ProtectOutput, SplitFilesRunLikeTheWholeModel) {
  const std::string dir = fresh_dir("files");
  FrontKey key;
  crypto::random_bytes(key.data(), key.size());
  const std::string split = dir + "/split";
  const SplitManifest m = write_split(shipped_resnet50(), "layer2.0", split, tail_options(&key));
  ASSERT_TRUE(m.tail);
  EXPECT_TRUE(m.tail->encrypted);
  ASSERT_TRUE(fs::exists(split + "/tail.tsf"));
  // Sealed: the tail's file does not parse without the key.
  EXPECT_FALSE(parse_front(read_file(split + "/tail.tsf"), nullptr).ok());

  // In process: front, back, then tail, against the whole model at batch 4.
  auto opened = open_split(split, SplitRunOptions{}, &key, shipped_resnet50());
  ASSERT_TRUE(opened.ok()) << opened.error();
  ASSERT_TRUE(opened->runner->has_tail());
  auto whole = open_model_session(shipped_resnet50(), SessionOptions{});
  ASSERT_TRUE(whole.ok()) << whole.error();
  const Tensor x = testing::random_tensor({4, 1, 32, 32}, 11);
  EXPECT_LE(testing::rel_error(opened->runner->run(x)[0], (*whole)->run({x})[0]), 1e-4);

  // The measurement covers the tail: the manifest's is the worker's over
  // front, configuration and tail, and differs from the one without the tail.
  ASSERT_TRUE(m.enclave_measurement);
  const std::string worker = binary_path("teesplit-enclave");
  const auto with_tail = attest::compute_measurement(
      worker, split + "/front.tsf", enclave::measured_config("fp32", true), split + "/tail.tsf");
  EXPECT_EQ(crypto::to_hex(with_tail), *m.enclave_measurement);
  EXPECT_NE(crypto::to_hex(attest::compute_measurement(worker, split + "/front.tsf",
                                                       enclave::measured_config("fp32", true))),
            *m.enclave_measurement);

  // A changed tail.tsf is refused by its hash.
  std::string bytes = read_file(split + "/tail.tsf");
  bytes[bytes.size() / 2] ^= 1;
  write_file(split + "/tail.tsf", bytes);
  auto bad = open_split(split, SplitRunOptions{}, &key);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error(), "tail.tsf")) << bad.error();
  EXPECT_TRUE(contains(bad.error(), "SHA-256")) << bad.error();

  // Split again without --protect-output: no tail is left behind.
  SplitWriteOptions plain = tail_options();
  plain.protect_output = false;
  EXPECT_FALSE(write_split(shipped_resnet50(), "layer2.0", split, plain).tail);
  EXPECT_FALSE(fs::exists(split + "/tail.tsf"));

  // The tail's own cut (the last before the classifier) leaves no back
  // partition: refused, and nothing is written.
  const std::string err = testing::error_of(
      [&] { write_split(shipped_resnet50(), "/Flatten", dir + "/late", tail_options()); });
  EXPECT_TRUE(contains(err, "leaves no back partition")) << err;
  EXPECT_FALSE(fs::exists(dir + "/late"));
}

enclave::ErrorReply expect_error(const channel::Frame& f) {
  EXPECT_EQ(f.type, uint8_t(MsgType::kError)) << enclave::msg_type_name(f.type);
  return f.type == uint8_t(MsgType::kError) ? enclave::decode_error_reply(f.payload)
                                            : enclave::ErrorReply{};
}

std::unique_ptr<client::Attestation> attest_worker(EnclaveProcess& w, const attest::Policy& p) {
  auto a = std::make_unique<client::Attestation>();
  const channel::Frame f = w.call(MsgType::kAttest, enclave::encode(a->request()));
  EXPECT_EQ(f.type, uint8_t(MsgType::kAttestReply));
  const attest::Verdict v = a->finish(enclave::decode_attest_reply(f.payload), p);
  EXPECT_TRUE(v.accepted) << v.to_text();
  return a;
}

// The host's part of one request: the input to the worker, the back partition
// here, its output to the worker's tail; returns the tail's reply frame.
channel::Frame host_round(EnclaveProcess& w, Session& back, client::Attestation& a, const Tensor& x,
                          const Shape& feature_shape) {
  const channel::Frame f = w.call(MsgType::kInfer, enclave::encode(client::seal_input(a, x)));
  EXPECT_EQ(f.type, uint8_t(MsgType::kFeature)) << expect_error(f).message;
  enclave::TailRequest tq;
  tq.session = a.session_id();
  tq.back_output = back.run({enclave::decode_feature_reply(f.payload, feature_shape).feature})[0];
  return w.call(MsgType::kTail, enclave::encode(tq));
}

TEST(ProtectOutput, WorkerSealsTheResultAndRefusesTailsOutOfTurn) {
  const testing::WorkerFixture fx("protect_output", "worker", tail_options());
  const SplitManifest& m = fx.manifest;
  const std::string& split = fx.split;
  EnclaveProcess w(fx.launch());
  EXPECT_TRUE(w.info().has_tail);
  EXPECT_EQ(w.info().output_shape, (Shape{1, 10}));
  EXPECT_EQ(crypto::to_hex(w.info().measurement), *m.enclave_measurement);
  auto a = attest_worker(w, fx.policy());

  auto back = open_split_back(split, SessionOptions{});
  ASSERT_TRUE(back.ok()) << back.error();
  auto whole = open_model_session(shipped_resnet50(), SessionOptions{});
  ASSERT_TRUE(whole.ok()) << whole.error();
  for (uint64_t i = 0; i < 8; ++i) {
    const Tensor x = testing::random_tensor({1, 1, 32, 32}, 100 + i);
    const channel::Frame f = host_round(w, *back->session, *a, x, m.feature_shape);
    ASSERT_EQ(f.type, uint8_t(MsgType::kTailReply)) << expect_error(f).message;
    const enclave::TailReply tr = enclave::decode_tail_reply(f.payload);
    EXPECT_EQ(tr.session, a->session_id());
    const Tensor want = (*whole)->run({x})[0];
    // The host holds only ciphertext: the logits' bytes are not in the reply.
    const std::string reply(tr.message.begin(), tr.message.end());
    EXPECT_FALSE(contains(reply, std::string(static_cast<const char*>(want.raw()), 16)));
    EXPECT_LE(testing::rel_error(client::open_result(*a, tr.message), want), 1e-4) << i;
  }

  // Out of turn: a tail with no input before it, a second tail for one input,
  // a tail of the wrong shape, a tail for an unknown session.
  enclave::TailRequest tq;
  tq.session = a->session_id();
  tq.back_output = back->session->run({Tensor(DType::F32, m.feature_shape)})[0];
  enclave::ErrorReply e = expect_error(w.call(MsgType::kTail, enclave::encode(tq)));
  EXPECT_EQ(e.code, enclave::ErrorCode::kBadRequest);
  EXPECT_TRUE(contains(e.message, "must follow exactly one input")) << e.message;
  const Tensor x = testing::random_tensor({1, 1, 32, 32}, 7);
  channel::Frame f = host_round(w, *back->session, *a, x, m.feature_shape);
  ASSERT_EQ(f.type, uint8_t(MsgType::kTailReply)) << expect_error(f).message;
  // (Opened, so that the client's channel stays in step: results are ordered.)
  client::open_result(*a, enclave::decode_tail_reply(f.payload).message);
  e = expect_error(w.call(MsgType::kTail, enclave::encode(tq)));
  EXPECT_TRUE(contains(e.message, "must follow exactly one input")) << e.message;
  enclave::TailRequest wrong = tq;
  wrong.back_output = Tensor(DType::F32, {1, 3});
  e = expect_error(w.call(MsgType::kTail, enclave::encode(wrong)));
  EXPECT_EQ(e.code, enclave::ErrorCode::kBadRequest);
  EXPECT_TRUE(contains(e.message, "does not match")) << e.message;
  enclave::TailRequest stranger = tq;
  stranger.session ^= 1;
  e = expect_error(w.call(MsgType::kTail, enclave::encode(stranger)));
  EXPECT_EQ(e.code, enclave::ErrorCode::kNoSession);
  // Still serving, and the session's channel still in step.
  f = host_round(w, *back->session, *a, x, m.feature_shape);
  ASSERT_EQ(f.type, uint8_t(MsgType::kTailReply)) << expect_error(f).message;
  EXPECT_LE(
      testing::rel_error(client::open_result(*a, enclave::decode_tail_reply(f.payload).message),
                         (*whole)->run({x})[0]),
      1e-4);

  // A worker whose split has no tail refuses tail requests.
  const testing::WorkerFixture plain("protect_output", "worker-plain");
  EnclaveProcess w2(plain.launch());
  EXPECT_FALSE(w2.info().has_tail);
  e = expect_error(w2.call(MsgType::kTail, enclave::encode(tq)));
  EXPECT_EQ(e.code, enclave::ErrorCode::kBadRequest);
  EXPECT_TRUE(contains(e.message, "no tail partition")) << e.message;
}

// The whole Fashion-MNIST test set through `teesplit serve` with a sealed
// --protect-output split, provisioned by the owner: the client decrypts every
// result, and the accuracy is the unsplit model's.
TEST(ProtectOutput, SealedSplitServesTheWholeTestSet) {
  const std::string dir = fresh_dir("serve");
  const std::string t = binary_path("teesplit");
  int code = 0;
  std::string out = run_command(t + " keygen -o " + dir + "/front.key", &code);
  ASSERT_EQ(code, 0) << out;
  out = run_command(t + " split " + shipped_resnet50() + " --at layer2.0 --protect-output --key " +
                        dir + "/front.key -o " + dir + "/split",
                    &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "wrote " + dir + "/split/tail.tsf (sealed with AES-256-GCM")) << out;
  ServeProcess server(dir + "/split", dir);
  ASSERT_FALSE(server.address().empty()) << server.log();
  EXPECT_TRUE(contains(server.log(), "--protect-output split")) << server.log();
  const std::string policy = " --allow-simulated --sim-root " + dir +
                             "/sim-root.pem --expect-manifest " + dir + "/split/manifest.json";
  out = run_command(t + " provision " + server.address() + " --key " + dir + "/front.key" + policy,
                    &code);
  ASSERT_EQ(code, 0) << out;
  out = run_command(t + " infer " + server.address() + " --dataset fashion-mnist" + policy, &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "results are sealed by the enclave")) << out;
  EXPECT_TRUE(contains(out, "  tail ")) << out;

  const std::string want =
      testing::infer_accuracy_line(testing::fashion_test_correct(shipped_resnet50()));
  EXPECT_TRUE(contains(out, want)) << "want: " << want << "\n" << out;

  auto whole = open_model_session(shipped_resnet50(), {});
  ASSERT_TRUE(whole.ok()) << whole.error();
  auto data = testing::fashion_test();

  // Through the SDK: the reply is sealed, and opens to the whole model's logits.
  serve::RemoteEnclave remote(server.address());
  EXPECT_TRUE(remote.info().protect_output);
  EXPECT_EQ(remote.info().output_shape, (Shape{1, 10}));
  attest::Policy p = client::policy_from_manifest(dir + "/split/manifest.json", std::nullopt);
  p.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
  p.allow_simulated = true;
  client::Attestation a;
  ASSERT_TRUE(remote.attest(a, p).accepted);
  remote.require_sealed_output(true);
  const Batch one = data->get_batch(3, 1);
  serve::RemoteResult timings;
  const Tensor got = remote.infer(a, one.images, &timings);
  EXPECT_TRUE(timings.sealed);
  EXPECT_LE(testing::rel_error(got, (*whole)->run({one.images})[0]), 1e-4);
}

// torchvision's ResNet-50 at 224x224 (random weights, exported by the
// torchvision_models fixture) split at a middle cut with --protect-output,
// served and queried as separate processes: each sample's logits equal the
// unsplit model's and PyTorch's within 1e-4.
TEST(ProtectOutput, TorchvisionResNet50At224ThroughServe) {
  const std::string base = testing::generated_dir() + "/torchvision/resnet50";
  TS_REQUIRE_ORACLE(fs::exists(base + ".onnx") && fs::exists(base + ".output.npy"),
                    base << ".onnx or .output.npy is missing (the fixture "
                            "torchvision_models makes them)");
  const std::string dir = fresh_dir("resnet50_224");
  const std::string t = binary_path("teesplit");
  int code = 0;
  std::string out = run_command(t + " keygen -o " + dir + "/front.key", &code);
  ASSERT_EQ(code, 0) << out;
  out = run_command(t + " split " + base + ".onnx --at layer2.3 --protect-output --key " + dir +
                        "/front.key -o " + dir + "/split",
                    &code);
  ASSERT_EQ(code, 0) << out;
  ServeProcess server(dir + "/split", dir);
  ASSERT_FALSE(server.address().empty()) << server.log();
  const std::string policy = " --allow-simulated --sim-root " + dir +
                             "/sim-root.pem --expect-manifest " + dir + "/split/manifest.json";
  out = run_command(t + " provision " + server.address() + " --key " + dir + "/front.key" + policy,
                    &code);
  ASSERT_EQ(code, 0) << out;

  const Tensor inputs = read_npy(base + ".input.npy");
  const Tensor torch_out = read_npy(base + ".output.npy");
  ASSERT_EQ(inputs.shape(), (Shape{2, 3, 224, 224}));
  auto whole = open_model_session(base + ".onnx", {});
  ASSERT_TRUE(whole.ok()) << whole.error();
  const Tensor want = (*whole)->run({inputs})[0];
  EXPECT_LE(testing::rel_error(want, torch_out), 1e-4) << "the unsplit model vs PyTorch";
  for (int64_t i = 0; i < 2; ++i) {
    Tensor x(DType::F32, {1, 3, 224, 224});
    std::memcpy(x.raw(), static_cast<const char*>(inputs.raw()) + i * x.nbytes(), x.nbytes());
    const std::string in = dir + "/input" + std::to_string(i) + ".npy";
    const std::string res = dir + "/logits" + std::to_string(i) + ".npy";
    write_npy(in, x);
    out = run_command(t + " infer " + server.address() + " --input " + in + " -o " + res + policy,
                      &code);
    ASSERT_EQ(code, 0) << out;
    EXPECT_TRUE(contains(out, "results are sealed by the enclave")) << out;
    const Tensor got = read_npy(res);
    ASSERT_EQ(got.shape(), (Shape{1, 1000}));
    Tensor w1(DType::F32, {1, 1000}), p1(DType::F32, {1, 1000});
    std::memcpy(w1.raw(), want.data<float>() + i * 1000, w1.nbytes());
    std::memcpy(p1.raw(), torch_out.data<float>() + i * 1000, p1.nbytes());
    EXPECT_LE(testing::rel_error(got, w1), 1e-4) << "sample " << i << " vs the unsplit model";
    EXPECT_LE(testing::rel_error(got, p1), 1e-4) << "sample " << i << " vs PyTorch";
  }
}

}  // namespace
}  // namespace teesplit
