// The Gramine pieces that can be checked without SGX or Gramine:
//   - the DCAP quote source (enclave/quote_source.h) against a directory that
//     stands in for /dev/attestation, holding genuine DCAP v3 quotes
//     (tests/data/sgx-quotes: their report data is 64 zero bytes);
//   - the manifest `teesplit gramine-manifest` writes for a split, parsed as
//     TOML by python3's tomllib: every library ldd lists and the split's files
//     are trusted (or come from Gramine's runtime), the enclave size is a power
//     of two and covers the sum, remote attestation is DCAP.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "attest/quote.h"
#include "attest/sim_root.h"
#include "core/file.h"
#include "enclave/quote_source.h"
#include "host/gramine_manifest.h"
#include "host/split_io.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

std::string quote_file(const std::string& name) {
  return testing::source_path("tests/data/sgx-quotes/" + name);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A stand-in for Gramine's /dev/attestation: attestation_type, an empty
// user_report_data and the given quote.
std::string fake_attestation_dir(const std::string& name, const std::string& quote,
                                 const std::string& type = "dcap") {
  const std::string dir = testing::generated_dir() + "/gramine/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_all(dir + "/attestation_type", type);
  write_all(dir + "/user_report_data", "");
  write_all(dir + "/quote", quote);
  return dir;
}

attest::ReportBody body_with(uint8_t fill) {
  attest::ReportBody b;
  b.report_data.fill(fill);
  return b;
}

TEST(GramineQuoteSource, ReturnsAGenuineQuoteWhoseReportDataMatches) {
  for (const char* name : {"automata-quotev3.bin", "mobilecoin-hw_quote.dat"}) {
    SCOPED_TRACE(name);
    const std::string genuine = read_all(quote_file(name));
    ASSERT_GT(genuine.size(), attest::kQuoteMinBytes);
    const std::string dir = fake_attestation_dir(std::string("ok-") + name, genuine);
    enclave::GramineDcapQuoteSource src(dir);
    EXPECT_FALSE(src.simulated());
    // These quotes carry 64 zero bytes of report data: the same bytes written
    // give the quote back unchanged.
    const std::vector<uint8_t> q = src.quote(body_with(0));
    EXPECT_EQ(std::string(q.begin(), q.end()), genuine);
    EXPECT_EQ(read_all(dir + "/user_report_data"), std::string(64, '\0'));
  }
}

TEST(GramineQuoteSource, RefusesAQuoteForOtherReportData) {
  const std::string dir =
      fake_attestation_dir("mismatch", read_all(quote_file("automata-quotev3.bin")));
  enclave::GramineDcapQuoteSource src(dir);
  // The worker's report data (here 0x5a...) is written; the canned quote was
  // made for zeros, as a replayed quote or another session's would be.
  const std::string err = testing::error_of([&] { src.quote(body_with(0x5a)); });
  EXPECT_NE(err.find("report data does not match"), std::string::npos) << err;
  EXPECT_EQ(read_all(dir + "/user_report_data"), std::string(64, '\x5a'));
}

TEST(GramineQuoteSource, RefusesMalformedOversizedAndSimulatedQuotes) {
  const std::string genuine = read_all(quote_file("mobilecoin-hw_quote.dat"));
  struct Case {
    std::string name, quote, want;
  };
  std::string version2 = genuine;
  version2[0] = 2;
  std::string trailing = genuine + "x";
  // A simulated quote (teesplit's own root) must never pass as Gramine's.
  const auto sim_key = testing::generated_dir() + "/gramine/sim-root/attestation-key.pem";
  attest::SimulatedQuoteSigner signer(attest::load_or_create_sim_root(sim_key));
  const std::vector<uint8_t> sim = signer.quote_bytes(body_with(0));
  const std::vector<Case> cases = {
      {"empty", "", "less than a quote's 436"},
      {"short", genuine.substr(0, 300), "less than a quote's 436"},
      {"truncated", genuine.substr(0, genuine.size() - 1), "not a DCAP quote v3"},
      {"trailing", trailing, "not a DCAP quote v3"},
      {"version", version2, "not a DCAP quote v3"},
      {"oversized", std::string(attest::kQuoteMaxBytes + 1, 'q'), "holds more than 65536 bytes"},
      {"simulated", std::string(sim.begin(), sim.end()), "not Intel's quoting enclave"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    enclave::GramineDcapQuoteSource src(fake_attestation_dir("bad-" + c.name, c.quote));
    const std::string err = testing::error_of([&] { src.quote(body_with(0)); });
    EXPECT_NE(err.find(c.want), std::string::npos) << err;
    EXPECT_EQ(err.find("\n"), std::string::npos) << "one line: " << err;
  }
}

TEST(GramineQuoteSource, NeedsDcapAndItsFiles) {
  const std::string genuine = read_all(quote_file("automata-quotev3.bin"));
  std::string err = testing::error_of(
      [&] { enclave::GramineDcapQuoteSource s(fake_attestation_dir("none", genuine, "none")); });
  EXPECT_NE(err.find("reads 'none', not 'dcap'"), std::string::npos) << err;
  EXPECT_NE(err.find("sgx.remote_attestation"), std::string::npos) << err;
  // Gramine's file may end with a newline or NUL.
  EXPECT_EQ(testing::error_of([&] {
              enclave::GramineDcapQuoteSource s(fake_attestation_dir("nl", genuine, "dcap\n"));
            }),
            "");
  err = testing::error_of(
      [] { enclave::GramineDcapQuoteSource s(testing::generated_dir() + "/gramine/no-such-dir"); });
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
  const std::string dir = fake_attestation_dir("no-report-file", genuine);
  fs::remove(dir + "/user_report_data");
  enclave::GramineDcapQuoteSource src(dir);
  err = testing::error_of([&] { src.quote(body_with(0)); });
  EXPECT_NE(err.find("user_report_data for writing"), std::string::npos) << err;
}

TEST(GramineQuoteSource, TheWorkerChoosesBySandboxReport) {
  const std::string genuine = read_all(quote_file("automata-quotev3.bin"));
  const auto dcap = enclave::make_quote_source(true, "", fake_attestation_dir("choose", genuine));
  EXPECT_STREQ(dcap->name(), "gramine-dcap");
  EXPECT_FALSE(dcap->simulated());
  const auto sim_key = testing::generated_dir() + "/gramine/sim-root2/attestation-key.pem";
  const auto sim = enclave::make_quote_source(false, sim_key);
  EXPECT_TRUE(sim->simulated());
  const std::vector<uint8_t> q = sim->quote(body_with(7));
  EXPECT_TRUE(attest::parse_quote(q).simulated());
  EXPECT_NE(testing::error_of([] { enclave::make_quote_source(false, ""); }).find("simulated root"),
            std::string::npos);
}

// ---- the manifest ----

std::string abs_path(const std::string& p) {
  return fs::absolute(p).lexically_normal().string();
}

std::string worker_binary() {
  return std::string(TEESPLIT_BINARY_DIR) + "/teesplit-enclave";
}

// Parses TOML with python3's tomllib (Python 3.11) and returns it as JSON.
nlohmann::json parse_toml(const std::string& path) {
  const std::string cmd =
      "/usr/bin/python3 -c 'import json, sys, tomllib; "
      "print(json.dumps(tomllib.load(open(sys.argv[1], \"rb\"))))' '" +
      path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = p ? ::pclose(p) : -1;
  EXPECT_EQ(status, 0) << out;
  return status == 0 ? nlohmann::json::parse(out) : nlohmann::json{};
}

TEST(GramineManifest, RendersTrustedFilesSizeAndDcapForASplit) {
  const std::string dir = testing::generated_dir() + "/gramine/manifest";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string split = dir + "/split";
  SplitWriteOptions wo;
  wo.enclave_binary = worker_binary();
  const SplitManifest sm = write_split(testing::source_path("models/fashion-mnist-resnet50.onnx"),
                                       "layer2.0", split, wo);

  GramineManifestOptions o;
  o.split_dir = split;
  o.enclave_binary = worker_binary();
  o.threads = 2;
  const GramineManifest m = render_gramine_manifest(o);
  const std::string path = dir + "/teesplit-enclave.manifest.template";
  write_all(path, m.text);
  const nlohmann::json t = parse_toml(path);
  ASSERT_TRUE(t.is_object());

  EXPECT_EQ(t["sgx"]["remote_attestation"], "dcap");
  EXPECT_EQ(t["sgx"]["debug"], false);
  EXPECT_EQ(t["libos"]["entrypoint"], abs_path(worker_binary()));
  EXPECT_EQ(t["loader"]["entrypoint"]["uri"], "file:{{ gramine.libos }}");
  EXPECT_EQ(t["loader"]["env"]["OMP_NUM_THREADS"], "2");
  EXPECT_EQ(t["loader"]["env"]["TEESPLIT_CONNECT_TOKEN"]["passthrough"], true);
  EXPECT_GE(t["sgx"]["max_threads"].get<int>(), 2 + 4);

  std::set<std::string> trusted;
  for (const auto& f : t["sgx"]["trusted_files"]) trusted.insert(f.get<std::string>());
  EXPECT_TRUE(trusted.count("file:{{ gramine.runtimedir() }}/"));
  EXPECT_TRUE(trusted.count("file:" + abs_path(worker_binary())));
  EXPECT_TRUE(trusted.count("file:" + abs_path(split + "/front.tsf")));
  EXPECT_TRUE(trusted.count("file:" + abs_path(split + "/manifest.json")));
  EXPECT_FALSE(trusted.count("file:" + abs_path(split + "/back.onnx")))
      << "the worker never reads the back partition";

  // Every library ldd lists: trusted by its path, or glibc's from Gramine's
  // runtime directory (mounted at /lib, first on LD_LIBRARY_PATH).
  const auto libs = shared_libraries(worker_binary());
  bool dnnl = false;
  std::set<std::string> mounted;
  for (const auto& mnt : t["fs"]["mounts"]) mounted.insert(mnt["path"].get<std::string>());
  for (const auto& lib : libs) {
    SCOPED_TRACE(lib.name + " " + lib.path);
    dnnl = dnnl || lib.name.rfind("libdnnl.so", 0) == 0;
    if (lib.from_gramine) {
      EXPECT_FALSE(trusted.count("file:" + lib.path));
      continue;
    }
    EXPECT_TRUE(trusted.count("file:" + lib.path));
    const std::string libdir = fs::path(lib.path).parent_path().string();
    EXPECT_TRUE(mounted.count(libdir));
    EXPECT_NE(t["loader"]["env"]["LD_LIBRARY_PATH"].get<std::string>().find(libdir),
              std::string::npos);
  }
  EXPECT_TRUE(dnnl) << "the worker links oneDNN";
  EXPECT_TRUE(mounted.count("/lib"));

  // The enclave size: a power of two, at least the sum of its parts.
  const std::string size = t["sgx"]["enclave_size"];
  ASSERT_FALSE(size.empty());
  const size_t unit = size.back() == 'G' ? size_t{1} << 30 : size_t{1} << 20;
  ASSERT_TRUE(size.back() == 'G' || size.back() == 'M') << size;
  const size_t bytes = std::stoull(size.substr(0, size.size() - 1)) * unit;
  EXPECT_EQ(bytes, m.enclave_size);
  EXPECT_EQ(bytes & (bytes - 1), 0u) << size;
  size_t files = fs::file_size(worker_binary()) + 2 * fs::file_size(split + "/front.tsf");
  for (const auto& lib : libs) files += fs::file_size(lib.path);
  EXPECT_GE(bytes, files + m.parts.front_peak + m.parts.stacks + m.parts.runtime);
  EXPECT_GE(m.needed, m.parts.sum());
  EXPECT_LT(bytes / 2, m.needed) << "the smallest power of two that fits";
  // The front holds its weights (most of front.tsf) and activations (its
  // output at least).
  EXPECT_GE(m.parts.front_peak,
            fs::file_size(split + "/front.tsf") / 2 + size_t(shape_numel(sm.feature_shape)) * 4);
  EXPECT_GT(m.parts.libraries, size_t{20} << 20) << "libdnnl.so.2 alone is ~40 MB";
}

TEST(GramineManifest, SealedFrontNeedsItsKeyOrItsPeak) {
  const std::string dir = testing::generated_dir() + "/gramine/sealed";
  fs::remove_all(dir);
  fs::create_directories(dir);
  FrontKey key{};
  key.fill(0x11);
  SplitWriteOptions wo;
  wo.enclave_binary = worker_binary();
  wo.key = &key;
  write_split(testing::source_path("models/fashion-mnist-resnet50.onnx"), "layer2.0",
              dir + "/split", wo);
  GramineManifestOptions o;
  o.split_dir = dir + "/split";
  o.enclave_binary = worker_binary();
  EXPECT_NE(testing::error_of([&] { render_gramine_manifest(o); }).find("is sealed: give its key"),
            std::string::npos);
  o.key = &key;
  const size_t with_key = render_gramine_manifest(o).parts.front_peak;
  EXPECT_GT(with_key, 0u);
  // With --protect-output the tail runs in the enclave too: trusted, and counted.
  wo.protect_output = true;
  write_split(testing::source_path("models/fashion-mnist-resnet50.onnx"), "layer2.0",
              dir + "/tail-split", wo);
  GramineManifestOptions ot = o;
  ot.split_dir = dir + "/tail-split";
  const GramineManifest with_tail = render_gramine_manifest(ot);
  EXPECT_NE(with_tail.text.find("\"file:" + abs_path(dir + "/tail-split/tail.tsf") + "\""),
            std::string::npos);
  EXPECT_GT(with_tail.parts.front_peak, with_key) << "the tail's weights are counted";
  EXPECT_EQ(with_tail.parts.front_file, fs::file_size(dir + "/tail-split/front.tsf") +
                                            fs::file_size(dir + "/tail-split/tail.tsf"));
  o.key = nullptr;
  o.front_peak_bytes = size_t{3} << 30;
  const GramineManifest big = render_gramine_manifest(o);
  EXPECT_EQ(big.parts.front_peak, size_t{3} << 30);
  EXPECT_GE(big.enclave_size, size_t{4} << 30);
  EXPECT_NE(big.text.find("sgx.enclave_size = \"" + std::to_string(big.enclave_size >> 30) + "G\""),
            std::string::npos);

  // A template with a placeholder teesplit does not know is refused.
  o.template_text = std::string(gramine_manifest_template()) + "x = \"@UNKNOWN_THING@\"\n";
  EXPECT_NE(testing::error_of([&] { render_gramine_manifest(o); }).find("@UNKNOWN_THING@"),
            std::string::npos);
  EXPECT_EQ(round_up_to_power_of_two(1), 1u);
  EXPECT_EQ(round_up_to_power_of_two((size_t{1} << 29) + 1), size_t{1} << 30);
  EXPECT_EQ(round_up_to_power_of_two(size_t{1} << 30), size_t{1} << 30);
}

}  // namespace
}  // namespace teesplit
