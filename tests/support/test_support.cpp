#include "support/test_support.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "attest/sim_root.h"
#include "client/client.h"
#include "core/file.h"
#include "data/dataset.h"
#include "host/model.h"

#include "onnx/onnx_import.h"
#include "zoo/zoo.h"

namespace teesplit::testing {

Tensor batch_row(const Tensor& t, int64_t i) {
  TS_CHECK(t.rank() >= 1 && i >= 0 && i < t.shape()[0], "batch_row: row ", i, " of ",
           shape_str(t.shape()));
  Shape s = t.shape();
  s[0] = 1;
  Tensor out(t.dtype(), s);
  std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + i * out.nbytes(), out.nbytes());
  return out;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(DType::F32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = dist(rng);
  return t;
}

double rel_error(const Tensor& a, const Tensor& b) {
  return max_relative_error(a, b);
}

std::string generated_dir() {
  std::filesystem::path p = std::filesystem::path(TEESPLIT_BINARY_DIR) / "test-generated";
  std::filesystem::create_directories(p);
  return p.string();
}

std::string source_path(const std::string& rel) {
  return (std::filesystem::path(TEESPLIT_SOURCE_DIR) / rel).string();
}

Graph zoo_graph(const std::string& arch, int64_t input_size, double width, int64_t classes,
                int64_t channels, uint64_t seed) {
  ZooOptions o;
  o.arch = arch;
  o.input_size = input_size;
  o.width = width;
  o.classes = classes;
  o.channels = channels;
  o.seed = seed;
  o.randomize_bn = true;
  return parse_onnx(zoo_model_bytes(o), ".", arch).value();
}

Graph single_node_graph(const std::string& op, const Attrs& attrs,
                        const std::vector<Tensor>& inputs, const std::vector<bool>& constant,
                        int num_outputs) {
  Graph g;
  g.name = op + "_test";
  Node n;
  n.name = op + "_0";
  n.op = op;
  n.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      n.inputs.push_back(-1);
      continue;
    }
    Value v;
    v.name = "in" + std::to_string(i);
    v.dtype = inputs[i].dtype();
    v.shape = inputs[i].shape();
    bool is_const = i < constant.size() && constant[i];
    if (is_const) v.constant = inputs[i];
    int id = g.add_value(v);
    if (!is_const) g.inputs.push_back(id);
    n.inputs.push_back(id);
  }
  for (int k = 0; k < num_outputs; ++k) {
    Value v;
    v.name = "out" + std::to_string(k);
    v.shape = {-1};
    int id = g.add_value(v);
    n.outputs.push_back(id);
    if (k == 0) g.outputs.push_back(id);
  }
  g.nodes.push_back(n);
  return g;
}

std::string worker_binary() {
  return binary_path("teesplit-enclave");
}

WorkerFixture::WorkerFixture(const std::string& group, const std::string& name,
                             SplitWriteOptions wo) {
  dir = generated_dir() + "/" + group + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  split = dir + "/split";
  att_key = dir + "/sim-root/attestation-key.pem";
  seal_root = dir + "/sim-seal/root.key";
  model = source_path("models/fashion-mnist-resnet50.onnx");
  if (wo.enclave_binary.empty()) wo.enclave_binary = worker_binary();
  manifest = write_split(model, "layer2.0", split, wo);
}

EnclaveLaunch WorkerFixture::launch() const {
  EnclaveLaunch l;
  l.binary = worker_binary();
  l.split_dir = split;
  l.attestation_key = att_key;
  l.seal_root = seal_root;
  l.secret_arena_bytes = size_t{64} << 20;
  return l;
}

attest::Policy WorkerFixture::policy() const {
  attest::Policy p = client::policy_from_manifest(split + "/manifest.json", std::nullopt);
  p.simulated_root = attest::sim_root_public_key(att_key);
  p.allow_simulated = true;
  return p;
}

std::unique_ptr<Dataset> fashion_test() {
  DatasetOptions o;
  o.split = "test";
  o.image_size = 32;
  try {
    return open_dataset("fashion-mnist", o);
  } catch (const Error& e) {
    fail(
        "Fashion-MNIST (package dataset-fashion-mnist, installed by scripts/install-deps.sh) "
        "is needed: ",
        e.what());
  }
}

int64_t fashion_test_correct(const std::string& model_path) {
  auto whole = open_model_session(model_path, {});
  if (!whole) fail(whole.error());
  auto data = fashion_test();
  int64_t correct = 0;
  for (int64_t b = 0; b < data->size(); b += 500) {
    const int64_t n = std::min<int64_t>(500, data->size() - b);
    const Batch batch = data->get_batch(b, n);
    const Tensor logits = (*whole)->run({batch.images})[0];
    const int64_t k = logits.dim(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data<float>() + i * k;
      correct += (std::max_element(row, row + k) - row) == batch.labels.data<int64_t>()[i];
    }
  }
  return correct;
}

std::string infer_accuracy_line(int64_t correct, int64_t total) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld images through the enclave: accuracy %.2f%% (%lld correct)",
                static_cast<long long>(total), 100.0 * double(correct) / double(total),
                static_cast<long long>(correct));
  return buf;
}

std::string binary_path(const char* name) {
  return std::string(TEESPLIT_BINARY_DIR) + "/" + name;
}

std::string run_command(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    *code = -1;
    return "popen failed";
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return out;
}

namespace {
std::vector<std::string> serve_args(const std::string& split, const std::string& dir, int workers,
                                    const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"serve",     split, "--listen",  "127.0.0.1:0",
                                   "--threads", "1",   "--workers", std::to_string(workers)};
  auto given = [&](const char* flag) {
    return std::find(extra.begin(), extra.end(), flag) != extra.end();
  };
  if (!given("--sim-root")) args.insert(args.end(), {"--sim-root", dir + "/sim-root.pem"});
  if (!given("--state-dir")) args.insert(args.end(), {"--state-dir", dir + "/state"});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}
}  // namespace

ListeningProcess::ListeningProcess(const std::vector<std::string>& cmd, const std::string& dir,
                                   const std::string& name) {
  const std::string out = dir + "/" + name + ".out";
  err_ = dir + "/" + name + ".err";
  std::filesystem::remove(out);
  std::vector<std::string> args = {"teesplit"};
  args.insert(args.end(), cmd.begin(), cmd.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string exe = binary_path("teesplit");
  pid_ = fork();
  if (pid_ == 0) {
    if (!freopen(out.c_str(), "w", stdout) || !freopen(err_.c_str(), "w", stderr)) _exit(126);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  for (int i = 0; i < 600 && address_.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(out);
    std::string word;
    if (in >> word >> word >> address_) break;  // "listening on ADDR"
    address_.clear();
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
  }
}

ListeningProcess::~ListeningProcess() {
  stop();
}

int ListeningProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return st;
}

std::string ListeningProcess::log() const {
  return read_file(err_);
}

ServeProcess::ServeProcess(const std::string& split, const std::string& dir, int workers,
                           const std::vector<std::string>& extra_args)
    : ListeningProcess(serve_args(split, dir, workers, extra_args), dir, "serve") {}

std::string make_resnet50_split(const std::string& group, const std::string& name) {
  const std::string dir = generated_dir() + "/" + group + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int code = 0;
  const std::string out = run_command(binary_path("teesplit") + " split " +
                                          source_path("models/fashion-mnist-resnet50.onnx") +
                                          " --at layer2.0 -o " + dir + "/split",
                                      &code);
  EXPECT_EQ(code, 0) << out;
  return dir;
}

std::vector<pid_t> workers_of(pid_t server) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state, ppid;
    stat >> pid >> comm >> state >> ppid;
    if (ppid == std::to_string(server) && comm == "(teesplit-enclav)")
      out.push_back(std::stoi(pid));
  }
  return out;
}

std::string write_ton_iot_csv(const std::string& path, int rows) {
  std::ofstream f(path);
  f << "src_ip,src_port,dst_ip,dst_port,proto,service,duration,src_bytes,dst_bytes,conn_state,"
       "missed_bytes,src_pkts,src_ip_bytes,dst_pkts,dst_ip_bytes,dns_query,dns_qclass,dns_qtype,"
       "dns_rcode,dns_AA,dns_RD,dns_RA,dns_rejected,ssl_version,ssl_cipher,ssl_resumed,"
       "ssl_established,ssl_subject,ssl_issuer,http_trans_depth,http_method,http_uri,http_version,"
       "http_request_body_len,http_response_body_len,http_status_code,http_user_agent,"
       "http_orig_mime_types,http_resp_mime_types,weird_name,weird_addl,weird_notice,label,type\n";
  for (int i = 0; i < rows; ++i) {
    const bool attack = i % 2 == 1;
    f << "192.168.1." << i % 250 << "," << 1024 + i << ",10.0.0.1," << (attack ? 53 : 443) << ","
      << (attack ? "udp" : "tcp") << "," << (attack ? "dns" : "-") << ","
      << (attack ? 0.001 * (i % 7) : 2.5 + i % 11) << "," << (attack ? 60 : 2000 + 17 * i) << ","
      << (attack ? 0 : 9000 + i) << "," << (attack ? "S0" : "SF") << ",0," << (attack ? 1 : 12)
      << "," << (attack ? 88 : 2500) << "," << (attack ? 0 : 10) << "," << (attack ? 0 : 9400)
      << "," << (attack ? "example.com" : "-") << ",0,0,0,-,-,-,-,-,-,-,-,-,-,-,-,-,-,0,0,0,-,-,-,"
      << "-,-,F," << (attack ? "1,ddos" : "0,normal") << "\n";
  }
  return path;
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace teesplit::testing
