// The CLI end to end: good runs print what they promise; bad input gives one
// line on stderr and a non-zero exit, never a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

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
  if (!std::filesystem::exists(std::string(TEESPLIT_BINARY_DIR) + "/teesplit"))
    GTEST_SKIP() << "teesplit binary not built";
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

TEST(Cli, BadInputsGiveOneLineErrors) {
  if (!std::filesystem::exists(std::string(TEESPLIT_BINARY_DIR) + "/teesplit"))
    GTEST_SKIP() << "teesplit binary not built";
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
  expect_one_line_error(run_cli("run " + model + " --threads many"), "--threads");
  expect_one_line_error(run_cli("run " + model + " --bogus 1"), "unknown option --bogus");
  expect_one_line_error(run_cli("bench " + model + " --batch 0"), "--batch");
  expect_one_line_error(run_cli("run " + model + " --backend gpu9"), "unknown backend");
  expect_one_line_error(run_cli("run"), "usage");
  Result unknown = run_cli("frobnicate");
  EXPECT_EQ(unknown.code, 2);
}

}  // namespace
}  // namespace teesplit
