// The CLI end to end: good runs print what they promise; bad input gives one
// line on stderr and a non-zero exit, never a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/npy.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

Result run_cli(const std::string& args) {
  const std::string dir = testing::generated_dir() + "/cli";
  std::filesystem::create_directories(dir);
  // One stderr file per test: ctest runs the tests of this file in parallel.
  const std::string err_file =
      dir + "/stderr-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".txt";
  const std::string cmd = std::string(TEESPLIT_BINARY_DIR) + "/teesplit " + args + " 2>" + err_file;
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

std::string small_model() {
  const std::string path = testing::generated_dir() + "/cli/resnet_small.onnx";
  std::filesystem::create_directories(testing::generated_dir() + "/cli");
  if (!std::filesystem::exists(path)) {
    ZooOptions o;
    o.arch = "resnet50";
    o.input_size = 32;
    o.width = 0.25;
    o.classes = 10;
    // Write under a per-test name, then rename: the other test may be doing the same.
    const std::string tmp =
        path + "." + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    write_zoo_model(o, tmp);
    std::filesystem::rename(tmp, path);
  }
  return path;
}

void expect_one_line_error(const Result& r, const std::string& needle) {
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "killed by a signal";
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, RunInfoBench) {
  TS_REQUIRE_ORACLE(std::filesystem::exists(std::string(TEESPLIT_BINARY_DIR) + "/teesplit"),
                    "the teesplit binary is not built");
  const std::string model = small_model();
  Result info = run_cli("info " + model);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("Conv x53"), std::string::npos) << info.out;
  const std::string out = testing::generated_dir() + "/cli/out.npy";
  Result run = run_cli("run " + model + " --threads 1 --output " + out);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("class"), std::string::npos) << run.out;
  Tensor y = read_npy(out);
  EXPECT_EQ(y.shape(), (Shape{1, 10}));
  // Same input through the reference backend: same output.
  const std::string x = testing::generated_dir() + "/cli/x.npy";
  write_npy(x, testing::random_tensor({2, 3, 32, 32}, 4));
  Result a = run_cli("run " + model + " --input " + x + " --output " + out);
  ASSERT_EQ(a.code, 0) << a.err;
  Tensor ya = read_npy(out);
  Result b = run_cli("run " + model + " --backend reference --input " + x + " --output " + out);
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_LE(testing::rel_error(ya, read_npy(out)), 1e-4);
  Result bench = run_cli("bench " + model + " --runs 3 --warmup 1 --json");
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_NE(bench.out.find("\"median_ms\""), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("\"peak_activation_bytes\""), std::string::npos) << bench.out;
}

// The CUDA backend is a plugin (backends/cuda_plugin.h): the program does not link
// the CUDA libraries, loads build/libteesplit_cuda.so only when asked for CUDA,
// and says which file it looked for when it cannot.
// An environment variable for the calls in a scope (run_cli's children inherit it).
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// The dynamic section of build/teesplit (readelf -d).
std::string teesplit_dynamic_section() {
  const std::string bin = std::string(TEESPLIT_BINARY_DIR) + "/teesplit";
  if (!std::filesystem::exists(bin)) return "";
  int rc = -1;
  const std::string dynamic = testing::run_command("readelf -d " + bin, &rc);
  return rc == 0 ? dynamic : "";
}

TEST(Cli, TheCudaBackendIsAPluginLoadedOnlyWhenAskedFor) {
  const std::string dynamic = teesplit_dynamic_section();
  TS_REQUIRE_ORACLE(!dynamic.empty(), "build/teesplit or readelf (binutils) is missing");
  ASSERT_NE(dynamic.find("(NEEDED)"), std::string::npos) << dynamic;
  for (const char* lib : {"libcudart", "libcublas", "libcudnn", "libteesplit_cuda"})
    EXPECT_EQ(dynamic.find(lib), std::string::npos) << lib << " is linked:\n" << dynamic;

  const std::string model = small_model();
#ifndef TEESPLIT_HAVE_CUDA
  const Result none = run_cli("run " + model + " --threads 1 --backend cuda");
  EXPECT_EQ(none.code, 1) << none.out;
  EXPECT_NE(none.err.find("built without the CUDA backend"), std::string::npos) << none.err;
#else
  {
    ScopedEnv env("TEESPLIT_CUDA_PLUGIN", "/nonexistent/libteesplit_cuda.so");
    const Result r = run_cli("run " + model + " --threads 1 --backend cuda");
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.err.find("the CUDA backend (libteesplit_cuda.so) is missing: looked for "
                         "/nonexistent/libteesplit_cuda.so"),
              std::string::npos)
        << r.err;
    // auto without a loadable plugin is the CPU, not an error.
    const Result cpu = run_cli("run " + model + " --threads 1 --backend auto");
    EXPECT_EQ(cpu.code, 0) << cpu.err;
  }
  {
    // A shared library that is not the plugin (zlib: in every Debian system).
    ScopedEnv env("TEESPLIT_CUDA_PLUGIN", "/lib/x86_64-linux-gnu/libz.so.1");
    const Result r = run_cli("run " + model + " --threads 1 --backend cuda");
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.err.find("is not the CUDA backend"), std::string::npos) << r.err;
  }
  // Beside the binary: it loads, and without a GPU the error is the device's.
  const Result r = run_cli("run " + model + " --threads 1 --backend cuda");
  if (r.code != 0) {
    EXPECT_EQ(r.err.find("libteesplit_cuda.so"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("CUDA device"), std::string::npos) << r.err;
  }
#endif
}

// train, attack and attack-merge run in build/libteesplit_torch_plugin.so;
// every other command starts without LibTorch.
TEST(Cli, LibTorchIsAPluginLoadedOnlyByItsCommands) {
  const std::string dynamic = teesplit_dynamic_section();
  TS_REQUIRE_ORACLE(!dynamic.empty(), "build/teesplit or readelf (binutils) is missing");
  ASSERT_NE(dynamic.find("(NEEDED)"), std::string::npos) << dynamic;
  for (const char* lib : {"libtorch", "libc10", "libteesplit_torch_plugin"})
    EXPECT_EQ(dynamic.find(lib), std::string::npos) << lib << " is linked:\n" << dynamic;

  const std::string model = small_model();
  const std::string out = testing::generated_dir() + "/cli/torch-plugin";
  const std::string train = "train --arch vgg16 --epochs 1 --train-limit 64 --test-limit 32 -o " +
                            out + "/m.onnx --no-progress";
#ifndef TEESPLIT_HAVE_TORCH
  const Result none = run_cli(train);
  EXPECT_EQ(none.code, 1) << none.out;
  EXPECT_NE(none.err.find("built without LibTorch"), std::string::npos) << none.err;
#else
  {
    ScopedEnv env("TEESPLIT_TORCH_PLUGIN", "/nonexistent/libteesplit_torch_plugin.so");
    for (const std::string& cmd : {train, "attack " + model + " -o " + out,
                                   "attack-merge " + out + "/a " + out + "/b -o " + out}) {
      const Result r = run_cli(cmd);
      EXPECT_EQ(r.code, 1) << cmd << "\n" << r.out;
      EXPECT_NE(r.err.find("the LibTorch plugin (libteesplit_torch_plugin.so) is missing: looked "
                           "for /nonexistent/libteesplit_torch_plugin.so"),
                std::string::npos)
          << cmd << "\n"
          << r.err;
    }
    // Listing the cuts needs no LibTorch.
    const Result list = run_cli("attack " + model + " --list");
    EXPECT_EQ(list.code, 0) << list.err;
    EXPECT_GE(testing::count_of(list.out, "\n"), 3u) << list.out;
  }
  {
    ScopedEnv env("TEESPLIT_TORCH_PLUGIN", "/lib/x86_64-linux-gnu/libz.so.1");
    const Result r = run_cli(train);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.err.find("is not the LibTorch plugin (no teesplit_torch_plugin entry)"),
              std::string::npos)
        << r.err;
  }
  // Beside the binary: it loads, and the plugin's own error comes back as one line.
  const Result r = run_cli("attack-merge " + out + "/missing -o " + out + "/merged");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("teesplit attack-merge: error: " + out +
                       "/missing: no attack.json (not an attack output directory)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(testing::count_of(r.err, "\n"), 1u) << r.err;
#endif
}

TEST(Cli, BadInputsGiveOneLineErrors) {
  TS_REQUIRE_ORACLE(std::filesystem::exists(std::string(TEESPLIT_BINARY_DIR) + "/teesplit"),
                    "the teesplit binary is not built");
  const std::string model = small_model();
  const std::string dir = testing::generated_dir() + "/cli";
  expect_one_line_error(run_cli("run " + dir + "/missing.onnx"), "No such file");
  {
    std::ifstream in(model, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir + "/truncated.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  expect_one_line_error(run_cli("run " + dir + "/truncated.onnx"), "truncated.onnx");
  std::ofstream(dir + "/junk.onnx") << "this is not a model";
  expect_one_line_error(run_cli("info " + dir + "/junk.onnx"), "junk.onnx");
  write_npy(dir + "/wrong.npy", testing::random_tensor({1, 3, 31, 32}, 1));
  expect_one_line_error(run_cli("run " + model + " --input " + dir + "/wrong.npy"),
                        "the model expects");
}

// Usage errors: exit 2, one line that names the command and the option.
TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  const std::string model = small_model();
  const std::pair<std::string, std::string> cases[] = {
      {"run " + model + " --threads many", "--threads"},
      {"run " + model + " --bogus 1", "--bogus"},
      {"bench " + model + " --batch 0", "--batch"},
      {"run " + model + " --backend gpu9", "--backend"},
      {"run", "give a model"},
      {"run " + model + " --key k", "--key"},
      {"frobnicate", "frobnicate"},
      {"info", "model"},
      {"cuts " + model + " --front-backend cuda", "--front-backend"},
      {"split " + model + " -o x", "--at"},
      {"split " + model + " --at 3", "--output"},
      {"zoo", "arch"},
      {"zoo lenet", "lenet"},
      {"zoo vgg16 --seed -1", "--seed"},
      {"zoo vgg16 --channels 0", "channels"},
      {"data", "spec"},
      {"train --arch vgg16", "--output"},
      {"demo --steps 0", "--steps"},
      {"demo --arch lenet", "--arch"},
      {"demo --quick --full", "--full"},
  };
  for (const auto& [args, needle] : cases) {
    SCOPED_TRACE(args);
    const Result r = run_cli(args);
    EXPECT_EQ(r.code, 2) << r.err;
    expect_one_line_error(r, needle);
    EXPECT_NE(r.err.find("usage error"), std::string::npos) << r.err;
  }
}

// Every subcommand answers -h and --help with its usage and exit 0; the list
// comes from the top-level help, so a new subcommand is covered too.
TEST(Cli, EverySubcommandAnswersHelp) {
  const Result top = run_cli("--help");
  ASSERT_EQ(top.code, 0) << top.err;
  EXPECT_EQ(run_cli("-h").out, top.out);
  const size_t at = top.out.find("Subcommands:");
  ASSERT_NE(at, std::string::npos) << top.out;
  std::vector<std::string> names;
  std::istringstream lines(top.out.substr(at));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line) && !line.empty()) {
    std::istringstream words(line);
    std::string name;
    if (words >> name) names.push_back(name);
  }
  for (const char* expected : {"demo", "run", "bench", "info", "cuts", "split", "zoo", "data",
                               "train", "keygen", "serve", "attest", "infer", "provision"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  // --help for every subcommand; -h (the same CLI11 flag) for two of them, since
  // each call is a process start-up.
  for (const std::string& name : names) {
    for (const char* flag : {"-h", "--help"}) {
      if (std::string(flag) == "-h" && name != "run" && name != "serve") continue;
      SCOPED_TRACE(name + " " + flag);
      const Result r = run_cli(name + " " + flag);
      EXPECT_EQ(r.code, 0) << r.err;
      EXPECT_NE(r.out.find("Usage: teesplit " + name), std::string::npos) << r.out;
      EXPECT_TRUE(r.err.empty()) << r.err;
    }
  }
  // -h is never taken for a model path, and the demo does not run.
  const Result demo = run_cli("demo -h");
  EXPECT_EQ(demo.out.find("[1/7]"), std::string::npos) << demo.out;
  const Result version = run_cli("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_NE(version.out.find("teesplit 0."), std::string::npos) << version.out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// split --key (and its older spelling --encrypt-with), then run --split DIR
// --key alone: the same output as the whole model; every tampering refused
// with one line that names the file.
TEST(Cli, SealedSplitRunsFromTheDirectoryAlone) {
  const std::string model = small_model();
  const std::string dir = testing::generated_dir() + "/cli/sealed";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string key(32, '\0');
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(7 * i + 1);
  write_text(dir + "/front.key", key);
  std::string wrong = key;
  wrong[3] ^= 1;
  write_text(dir + "/wrong.key", wrong);
  const std::string split = dir + "/split", old = dir + "/split-old";
  Result r = run_cli("split " + model + " --at layer2.1 -o " + split + " --key " + dir +
                     "/front.key --backend cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("sealed with AES-256-GCM"), std::string::npos) << r.out;
  r = run_cli("split " + model + " --at layer2.1 --output " + old + " --encrypt-with " + dir +
              "/front.key");
  ASSERT_EQ(r.code, 0) << r.err;

  // The directory alone, moved away from the model; a batch of 3.
  r = run_cli("run --split " + split + " --key " + dir + "/front.key --batch 3 --seed 4 -o " + dir +
              "/split.npy");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_cli("run " + model + " --batch 3 --seed 4 -o " + dir + "/whole.npy");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LE(testing::rel_error(read_npy(dir + "/split.npy"), read_npy(dir + "/whole.npy")), 1e-4);
  // With the model as well: its hash is checked and the outputs compared.
  r = run_cli("run " + model + " --split " + old + " --key " + dir + "/front.key");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("agree"), std::string::npos) << r.out;

  // No key, a wrong key, a key for a plain split.
  expect_one_line_error(run_cli("run --split " + split), "front.tsf");
  expect_one_line_error(run_cli("run --split " + split + " --key " + dir + "/wrong.key"),
                        "front.tsf");
  // Tampered files and manifests, each refused naming the file.
  const std::string front = read_text(split + "/front.tsf");
  std::string bad = front;
  bad[bad.size() / 2] ^= 0x40;
  write_text(split + "/front.tsf", bad);
  expect_one_line_error(run_cli("run --split " + split + " --key " + dir + "/front.key"),
                        split + "/front.tsf: SHA-256 does not match");
  write_text(split + "/front.tsf", front);
  const std::string manifest = read_text(split + "/manifest.json");
  std::string escape = manifest;
  escape.replace(escape.find("\"layer2.1\""), 10, "\"la\\u12G4\"");
  write_text(split + "/manifest.json", escape);
  expect_one_line_error(run_cli("run --split " + split + " --key " + dir + "/front.key"),
                        split + "/manifest.json");
  write_text(split + "/manifest.json", manifest.substr(0, manifest.size() - 40));
  expect_one_line_error(run_cli("run --split " + split + " --key " + dir + "/front.key"),
                        split + "/manifest.json");
  std::string rehashed = manifest;
  const size_t h = rehashed.find("\"sha256\": \"", rehashed.find("\"back\""));
  rehashed[h + 11] = rehashed[h + 11] == '0' ? '1' : '0';
  write_text(split + "/manifest.json", rehashed);
  expect_one_line_error(run_cli("run --split " + split + " --key " + dir + "/front.key"),
                        split + "/back.onnx: SHA-256 does not match");
  write_text(split + "/manifest.json", manifest);
  r = run_cli("run --split " + split + " --key " + dir + "/front.key");
  EXPECT_EQ(r.code, 0) << r.err;
}

// The main job's smoke run (what CI's fresh-machine stage runs): every stage
// on the shipped ResNet-50, the accuracy through the enclave equal to the
// unsplit model's, the report written. --out is the older spelling of -o.
TEST(Cli, DemoQuickRunsEveryStage) {
  const std::string dir = testing::generated_dir() + "/cli/demo";
  std::filesystem::remove_all(dir);
  Result r = run_cli("demo --quick --threads 2 --out " + dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* stage : {"[1/7] model", "[2/7] attack", "[3/7] profile", "[4/7] plan",
                            "[5/7] serve", "[6/7] infer", "[7/7] report"})
    EXPECT_NE(r.out.find(stage), std::string::npos) << stage << "\n" << r.out;
  EXPECT_NE(r.out.find("(agree)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir + "/resnet50/report.html"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/resnet50/split/manifest.json"));
  // The two cuts were attacked by two processes (teesplit attack --jobs 2) and merged.
  EXPECT_NE(r.out.find("--jobs 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 cuts, 1 attack each, 2 processes at a time"), std::string::npos) << r.out;
  const auto merged = nlohmann::json::parse(read_file(dir + "/resnet50/attack/attack.json"));
  EXPECT_EQ(merged["cuts"].size(), 2u);
  EXPECT_EQ(merged["options"]["jobs"], 2);
  EXPECT_EQ(merged["merged_from"].size(), 2u);
  EXPECT_EQ(testing::count_of(r.out, "inversion: SSIM mean"), 2u) << r.out;
  // A second run reuses the attack results, and says so.
  r = run_cli("demo --quick --threads 2 -o " + dir);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(testing::count_of(r.out, "reused from"), 2u) << r.out;
}

}  // namespace
}  // namespace teesplit
