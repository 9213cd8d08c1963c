// The split directory: manifest.json (version 2, version 1 still read), every
// file checked against it, the manifest's own mistakes refused with the file
// and field named, and capability checked before anything is written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "graph/cuts.h"
#include "host/split_io.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"
#include "partition/split_dir.h"
#include "runtime/cut_profile.h"
#include "support/graph_builder.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

std::string small_model() {
  const std::string path = testing::generated_dir() + "/splitdir_resnet.onnx";
  if (!fs::exists(path)) {
    ZooOptions o;
    o.arch = "resnet50";
    o.input_size = 32;
    o.width = 0.25;
    o.classes = 10;
    o.randomize_bn = true;
    write_zoo_model(o, path);  // atomic
  }
  return path;
}

// A fresh split of the small model at layer2.1 in a directory of its own.
std::string fresh_split(const std::string& name, const FrontKey* key = nullptr) {
  const std::string dir = testing::generated_dir() + "/splitdir_" + name;
  fs::remove_all(dir);
  SplitWriteOptions wo;
  wo.key = key;
  write_split(small_model(), "layer2.1", dir, wo);
  return dir;
}

std::string manifest_path(const std::string& dir) {
  return dir + "/manifest.json";
}

json read_manifest(const std::string& dir) {
  return json::parse(read_file(manifest_path(dir)));
}

void write_manifest(const std::string& dir, const json& j) {
  write_file(manifest_path(dir), j.dump(2));
}

// The error of opening dir; the test fails when it opens.
std::string open_error(const std::string& dir, const FrontKey* key = nullptr) {
  auto r = open_split(dir, SplitRunOptions{}, key);
  EXPECT_FALSE(r.ok()) << dir << " opened";
  const std::string e = r.ok() ? "" : r.error();
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  return e;
}

FrontKey test_key() {
  FrontKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(31 * i + 5);
  return k;
}

TEST(SplitDir, ManifestRoundTripsEveryField) {
  SplitManifest m;
  m.model_file = "m\xc3\xa9\"\\.onnx";
  m.model_sha256 = std::string(64, 'a');
  m.cut_index = 7;
  m.cut_name = "layer1";
  m.cut_node = "/layer1/Relu";
  m.input_name = "x";
  m.input_shape = {1, 3, 32, 32};
  m.feature_name = "f";
  m.feature_shape = {1, 64, 8, 8};
  m.front_sha256 = std::string(64, 'b');
  m.encrypted = true;
  m.back_sha256 = std::string(64, 'c');
  m.back_backend = "cuda";
  m.enclave_measurement = std::string(64, 'd');
  m.tail = TailPartition{"tail.tsf", std::string(64, 'e'), true};
  m.owner_signature = OwnerSignature{"ed25519", std::string(64, '1'), std::string(128, '2')};
  const SplitManifest r = manifest_from_json(manifest_to_json(m));
  EXPECT_EQ(r.version, kManifestVersion);
  EXPECT_EQ(r.model_file, m.model_file);
  EXPECT_EQ(r.cut_index, 7);
  EXPECT_EQ(r.cut_node, m.cut_node);
  EXPECT_EQ(r.input_shape, m.input_shape);
  EXPECT_EQ(r.feature_shape, m.feature_shape);
  EXPECT_TRUE(r.encrypted);
  EXPECT_EQ(r.precision, "fp32");
  EXPECT_EQ(r.back_backend, "cuda");
  EXPECT_EQ(r.enclave_measurement, m.enclave_measurement);
  ASSERT_TRUE(r.tail);
  EXPECT_EQ(r.tail->sha256, m.tail->sha256);
  ASSERT_TRUE(r.owner_signature);
  EXPECT_EQ(r.owner_signature->signature, m.owner_signature->signature);
  // The signed bytes leave the signature out and change with any other field.
  const std::string signed_bytes = manifest_signed_bytes(m);
  EXPECT_FALSE(contains(signed_bytes, "owner_signature"));
  SplitManifest m2 = m;
  m2.owner_signature->signature = std::string(128, '3');
  EXPECT_EQ(manifest_signed_bytes(m2), signed_bytes);
  m2.cut_index = 8;
  EXPECT_NE(manifest_signed_bytes(m2), signed_bytes);
  // Optional fields absent: written as null and read back absent.
  SplitManifest plain = m;
  plain.enclave_measurement.reset();
  plain.tail.reset();
  plain.owner_signature.reset();
  const SplitManifest p = manifest_from_json(manifest_to_json(plain));
  EXPECT_FALSE(p.enclave_measurement || p.tail || p.owner_signature);
}

TEST(SplitDir, ManifestRefusesMalformedFieldsByName) {
  const std::string good = read_file(manifest_path(fresh_split("fields")));
  auto error_after = [&](const std::function<void(json&)>& edit) {
    json j = json::parse(good);
    edit(j);
    return testing::error_of([&] { manifest_from_json(j.dump()); });
  };
  EXPECT_TRUE(contains(error_after([](json& j) { j["version"] = 3; }), "version 3"));
  EXPECT_TRUE(contains(error_after([](json& j) { j["format"] = "x"; }), "format"));
  EXPECT_TRUE(contains(error_after([](json& j) { j.erase("cut"); }), "missing field 'cut'"));
  EXPECT_TRUE(contains(error_after([](json& j) { j["front"]["sha256"] = "ABC"; }),
                       "'front.sha256' is not 64 lower-case hex"));
  EXPECT_TRUE(contains(error_after([](json& j) {
                         j["feature"]["shape"] = {1, -2};
                       }),
                       "'feature.shape' holds a bad dimension"));
  EXPECT_TRUE(contains(error_after([](json& j) { j["front"]["encrypted"] = "no"; }),
                       "'front.encrypted' is not a boolean"));
  EXPECT_TRUE(
      contains(error_after([](json& j) { j["front"]["file"] = "../etc/passwd"; }), "'front.file'"));
  EXPECT_TRUE(contains(error_after([](json& j) { j["front"]["precision"] = "int4"; }),
                       "'front.precision'"));
  EXPECT_TRUE(
      contains(error_after([](json& j) { j["cut"]["extra"] = 1; }), "unknown field 'cut.extra'"));
  EXPECT_TRUE(
      contains(error_after([](json& j) { j["surprise"] = true; }), "unknown field 'surprise'"));
  EXPECT_TRUE(contains(error_after([](json& j) { j["enclave"]["measurement"] = "12"; }),
                       "'enclave.measurement'"));
  EXPECT_TRUE(contains(
      error_after([](json& j) {
        j["owner_signature"] = {{"algorithm", "rsa"}, {"public_key", ""}, {"signature", ""}};
      }),
      "'owner_signature.algorithm'"));
  EXPECT_TRUE(contains(error_after([](json& j) { j["cut"]["index"] = 1e300; }),
                       "'cut.index' is not an integer"));
}

TEST(SplitDir, VersionOneManifestsStillOpen) {
  const std::string dir = fresh_split("v1");
  json j = read_manifest(dir);
  // What teesplit wrote before version 2.
  j["version"] = 1;
  j["input"].erase("dtype");
  j["front"].erase("precision");
  j["back"].erase("backend");
  j.erase("enclave");
  j.erase("tail");
  j.erase("owner_signature");
  write_manifest(dir, j);
  auto r = open_split(dir, SplitRunOptions{});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->manifest.version, 1);
  EXPECT_EQ(r->manifest.precision, "fp32");
}

TEST(SplitDir, BrokenManifestsNameTheFile) {
  const std::string dir = fresh_split("broken");
  const std::string good = read_file(manifest_path(dir));
  const std::string mp = manifest_path(dir);
  // A broken \u escape inside a string (the old parser threw from std::stoul).
  std::string bad = good;
  bad.replace(bad.find("\"layer2.1\""), 10, "\"lay\\uZZZZ\"");
  write_file(mp, bad);
  std::string e = open_error(dir);
  EXPECT_TRUE(contains(e, mp)) << e;
  EXPECT_TRUE(contains(e, "not valid JSON")) << e;
  // Truncated.
  write_file(mp, good.substr(0, good.size() / 2));
  e = open_error(dir);
  EXPECT_TRUE(contains(e, mp) && contains(e, "not valid JSON")) << e;
  // Empty, and absurdly long.
  write_file(mp, "");
  EXPECT_TRUE(contains(open_error(dir), mp));
  write_file(mp, std::string(kManifestMaxBytes + 1, ' '));
  e = open_error(dir);
  EXPECT_TRUE(contains(e, "more than the")) << e;
  // Missing.
  fs::remove(mp);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, mp)) << e;
  // Not a directory at all.
  e = open_error(dir + "/nope");
  EXPECT_TRUE(contains(e, "not a split directory")) << e;
}

TEST(SplitDir, EditedManifestsAreRefused) {
  const std::string dir = fresh_split("edited");
  const json good = read_manifest(dir);
  const std::string mp = manifest_path(dir);

  json j = good;  // a feature shape that the front does not produce
  j["feature"]["shape"] = {1, 128, 4, 5};
  write_manifest(dir, j);
  std::string e = open_error(dir);
  EXPECT_TRUE(contains(e, mp) && contains(e, "differs from the front partition's output")) << e;

  j = good;  // a front format version this build does not read
  j["front"]["format_version"] = 3;
  write_manifest(dir, j);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, mp) && contains(e, "front format version 3")) << e;

  j = good;  // a version the file does not have
  j["front"]["format_version"] = 2;
  write_manifest(dir, j);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, mp) && contains(e, "front format version 2 but")) << e;

  j = good;  // a manifest version from the future
  j["version"] = 3;
  write_manifest(dir, j);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, mp) && contains(e, "version 3 is not supported")) << e;

  j = good;  // hashes that do not match the files
  j["back"]["sha256"] = std::string(64, '0');
  write_manifest(dir, j);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, dir + "/back.onnx: SHA-256 does not match " + mp)) << e;

  j = good;  // a tail partition (split --protect-output) whose file is missing
  j["tail"] = {{"file", "tail.tsf"}, {"sha256", std::string(64, '0')}, {"encrypted", false}};
  write_manifest(dir, j);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, "cannot open '" + dir + "/tail.tsf'")) << e;
  j["tail"]["encrypted"] = true;  // sealed, while the front is not
  write_manifest(dir, j);
  e = open_error(dir);
  EXPECT_TRUE(contains(e, "both are sealed with the one front key, or neither")) << e;

  write_manifest(dir, good);
  EXPECT_TRUE(open_split(dir, SplitRunOptions{}).ok());
}

TEST(SplitDir, EncryptedFlagMustMatchTheFront) {
  const FrontKey key = test_key();
  const std::string sealed = fresh_split("sealed", &key);
  // "encrypted": false over a sealed front: refused with or without the key.
  json j = read_manifest(sealed);
  j["front"]["encrypted"] = false;
  write_manifest(sealed, j);
  std::string e = open_error(sealed);
  EXPECT_TRUE(contains(e, "encrypted")) << e;
  e = open_error(sealed, &key);
  EXPECT_TRUE(contains(e, "not encrypted")) << e;
  // "encrypted": true over a plain front: the key is refused by the front reader.
  const std::string plain = fresh_split("plainflag");
  j = read_manifest(plain);
  j["front"]["encrypted"] = true;
  write_manifest(plain, j);
  e = open_error(plain, &key);
  EXPECT_FALSE(e.empty());
  e = open_error(plain);
  EXPECT_TRUE(contains(e, "give its key")) << e;
}

TEST(SplitDir, SplitDirectoryAloneMatchesTheWholeModel) {
  const std::string model = small_model();
  const std::string dir = fresh_split("alone");
  // The model is not needed, and not even present, where the split runs.
  const std::string moved = testing::generated_dir() + "/splitdir_alone_copy";
  fs::remove_all(moved);
  fs::copy(dir, moved);
  auto r = open_split(moved, SplitRunOptions{});
  ASSERT_TRUE(r.ok()) << r.error();
  const Graph g = load_onnx(model).value();
  const Tensor x = testing::random_tensor({2, 3, 32, 32}, 3);
  Session whole(g, SessionOptions{});
  EXPECT_LE(max_relative_error(r->runner->run(x)[0], whole.run({x})[0]), 1e-4);
}

// input -> Conv -> Relu -> ReduceMean over the channels: the CPU backends run
// it, the CUDA backend has no kernel for it (only for the last axes, a global
// average pool).
std::string reduce_mean_model() {
  testing::GraphBuilder b;
  b.g.opset = 13;
  const int x = b.input({1, 4, 6, 6});
  const int r = b.node("Relu", {b.conv(x, 4, 8, 3)});
  Attrs axes;
  axes.set("axes", std::vector<int64_t>{1});
  const int y = b.node("ReduceMean", {r}, axes);
  b.output(y);
  const std::string path = testing::generated_dir() + "/splitdir_reduce_mean.onnx";
  write_onnx(path, b.g);
  return path;
}

TEST(SplitDir, CapabilityIsCheckedBeforeWriting) {
  const std::string model = reduce_mean_model();
  const std::string dir = testing::generated_dir() + "/splitdir_capability";
  fs::remove_all(dir);
  const Graph g = specialize_for_cuts(load_onnx(model).value());
  const std::vector<Cut> cuts = enumerate_cuts(g);
  ASSERT_FALSE(cuts.empty());
  const Cut& relu = cuts.back();  // after Relu: ReduceMean is the back partition
  ASSERT_EQ(g.nodes[static_cast<size_t>(relu.index)].op, "Relu");
  SplitWriteOptions wo;
  wo.back_backend = BackendKind::Cuda;
  const std::string e = testing::error_of([&] { write_split(model, relu.name, dir, wo); });
#ifdef TEESPLIT_HAVE_CUDA
  // The node and the reason are named, and nothing is written.
  EXPECT_TRUE(contains(e, "cuda backend cannot run the back partition's node")) << e;
  EXPECT_TRUE(contains(e, "(ReduceMean)")) << e;
  // cuts reports the same, per cut.
  for (const CutProfile& p : profile_cuts(g, BackendKind::OneDnn, BackendKind::Cuda))
    EXPECT_TRUE(contains(p.back_unsupported, "ReduceMean")) << p.cut.name;
#else
  EXPECT_TRUE(contains(e, "without the CUDA backend")) << e;
#endif
  EXPECT_FALSE(fs::exists(dir)) << "nothing may be written when the back cannot run";
  // The CPU backend runs it: written, and the manifest says which backend was checked.
  wo.back_backend = BackendKind::OneDnn;
  EXPECT_EQ(write_split(model, relu.name, dir, wo).back_backend, "onednn");
  EXPECT_EQ(read_split_files(dir, true).manifest.back_backend, "onednn");
  for (const CutProfile& p : profile_cuts(g, BackendKind::OneDnn, BackendKind::OneDnn))
    EXPECT_EQ(p.back_unsupported, "") << p.cut.name;
}

}  // namespace
}  // namespace teesplit
