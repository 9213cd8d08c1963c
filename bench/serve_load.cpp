// serve_load: a bounded load generator for `teesplit serve` on loopback, and
// the two measurements its driver (bench/run_serve_load.py) puts beside it.
//
//   serve_load prepare --model resnet50 --size 224 [--cut middle|NAME|INDEX] --work-dir DIR
//       a zoo model, its split at the cut (DIR/split, measured with the worker
//       beside the build), a seeded input and the whole model's output on it
//       (DIR/reference-input.npy, DIR/reference-output.npy); JSON on stdout.
//   serve_load compute SPLIT [--threads T] [--enclave-threads E] [--runs N] [--warmup W]
//       the partitions' compute alone in this process (front and tail on E
//       threads as a worker runs them, back on T threads as the host does):
//       CPU time and wall time per request; JSON on stdout.
//   serve_load run ADDR --expect-manifest FILE [--sim-root FILE] [--allow-simulated]
//       [--clients C] [--rate R [--arrivals poisson|fixed]] [--requests N] [--duration S]
//       [--warmup W] [--seed S] [--reference-input X.npy --reference-output Y.npy]
//       [--deadline-ms D] [--server-pid PID] [--json FILE]
//       C clients, each its own attested session (one request in flight each).
//       Closed loop (no --rate): every client sends back to back. Open loop
//       (--rate R): requests arrive at R per second (Poisson or evenly spaced)
//       and go to an idle client; one that finds every client busy is dropped,
//       never queued. Bounded: at most N requests are sent, none after S
//       seconds. Inputs are random (seeded per client and request); every
//       result is checked (shape, finite), and with a reference every 10th
//       request of a client sends X and must give Y. The JSON report: counts
//       (sent, completed, failed by gRPC code, dropped, wrong), throughput,
//       latency percentiles (open loop: from the arrival), the server's stage
//       times, and with --server-pid the CPU time of that process and its
//       children (the enclave workers) over the measured window, per request.
//       Exit status 1 when a result was wrong or nothing completed.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "attest/sim_root.h"
#include "client/client.h"
#include "core/hash.h"
#include "core/numbers.h"
#include "host/split_io.h"
#include "io/npy.h"
#include "onnx/onnx_import.h"
#include "partition/split_dir.h"
#include "runtime/session.h"
#include "serve/remote.h"

#include "bench_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double cpu_seconds_self() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// ---- prepare ----

struct PrepareOptions {
  std::string model = "resnet50", cut = "middle", work_dir = "build/bench/serve-load";
  int64_t size = 224;
  bool protect_output = false;
  std::string precision = "fp32";  // the front's: split --precision
};

int prepare(const PrepareOptions& o) {
  const std::string model_path = bench::ensure_zoo_model(o.work_dir, o.model, o.size);
  auto loaded = load_onnx(model_path);
  if (!loaded) fail(loaded.error());
  const Graph g = specialize_for_cuts(loaded.value());
  const std::string cut = o.cut == "middle" ? bench::spread_cuts(g)[1].name : o.cut;
  const std::string split = o.work_dir + "/split";
  fs::remove_all(split);
  SplitWriteOptions wo;
  wo.protect_output = o.protect_output;
  wo.precision = parse_precision(o.precision);
  wo.enclave_binary = bench::worker_beside_build();
  const SplitManifest m = write_split(model_path, cut, split, wo);
  const Tensor x = bench::seeded_input(m.input_shape, 12345);
  Session whole(g, {BackendKind::OneDnn, 1});
  write_npy(o.work_dir + "/reference-input.npy", x);
  write_npy(o.work_dir + "/reference-output.npy", whole.run({x})[0]);
  json j = {{"model", o.model},
            {"size", o.size},
            {"model_path", model_path},
            {"cut", m.cut_name},
            {"cut_index", m.cut_index},
            {"feature_shape", m.feature_shape},
            {"input_shape", m.input_shape},
            {"protect_output", m.tail.has_value()},
            {"precision", m.precision},
            {"split", split},
            {"reference_input", o.work_dir + "/reference-input.npy"},
            {"reference_output", o.work_dir + "/reference-output.npy"}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

// ---- compute ----

struct ComputeOptions {
  std::string split;
  int threads = 1, enclave_threads = 1, runs = 20, warmup = 3;
};

int compute(const ComputeOptions& o) {
  const SplitFiles files = read_split_files(o.split, /*with_back=*/false);
  const SplitManifest& m = files.manifest;
  SessionOptions fo{BackendKind::OneDnn, o.enclave_threads};
  if (m.precision == "bf16") fo.precision = Precision::BF16;
  Session front(load_split_front(files, nullptr), fo);
  auto back = open_split_back(o.split, {BackendKind::OneDnn, o.threads});
  if (!back) fail(back.error());
  std::optional<Session> tail;
  if (m.tail)
    tail.emplace(load_split_tail(files, nullptr),
                 SessionOptions{BackendKind::OneDnn, o.enclave_threads});
  // Each stage's CPU time (this process: every thread) and wall time.
  std::map<std::string, std::vector<double>> cpu, wall;
  for (int i = 0; i < o.warmup + o.runs; ++i) {
    const Tensor x = bench::seeded_input(m.input_shape, 1000 + static_cast<uint64_t>(i));
    Tensor t = x;
    auto stage = [&](const char* name, auto&& fn) {
      const double c0 = cpu_seconds_self();
      const auto t0 = Clock::now();
      t = fn(t);
      if (i < o.warmup) return;
      wall[name].push_back(seconds(Clock::now() - t0) * 1e3);
      cpu[name].push_back((cpu_seconds_self() - c0) * 1e3);
    };
    stage("front", [&](const Tensor& in) { return front.run({in})[0]; });
    stage("back", [&](const Tensor& in) { return back->session->run({in})[0]; });
    if (tail) stage("tail", [&](const Tensor& in) { return tail->run({in})[0]; });
  }
  json j = {{"split", o.split},
            {"threads", o.threads},
            {"enclave_threads", o.enclave_threads},
            {"runs", o.runs}};
  double total_cpu = 0, total_wall = 0;
  for (const auto& [name, v] : cpu) {
    double sum = 0;
    for (double c : v) sum += c;
    j[name + "_cpu_ms"] = sum / double(v.size());
    j[name + "_wall_ms_p50"] = median(wall[name]);
    total_cpu += sum / double(v.size());
    total_wall += median(wall[name]);
  }
  j["compute_cpu_ms"] = total_cpu;  // mean CPU time of one request's partitions
  j["compute_wall_ms"] = total_wall;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

// ---- run ----

struct LoadOptions {
  std::string address, manifest, sim_root;
  bool allow_simulated = false, allow_insecure = false;
  int clients = 4;
  double rate = 0;  // 0: closed loop
  std::string arrivals = "poisson";
  int64_t requests = 100;
  double duration = 60;
  int warmup = 1;
  uint64_t seed = 1;
  std::string reference_input, reference_output;
  int check_every = 10;
  double tolerance = 1e-4;
  int64_t deadline_ms = 0;  // 0: RemoteEnclave's default
  int server_pid = 0;
  std::string json;
};

// CPU seconds (user + system) of process `root` itself (with the children it
// has reaped: cutime, cstime) and of every live process below it (the enclave
// workers), from /proc/PID/stat; 0 for what is gone. A live process's own time
// comes from its CPU-time clock (clock_getcpuclockid: nanoseconds, its exited
// threads included) where the kernel gives it: /proc's clock ticks (10 ms) made a
// short run's server time 0 now and then.
struct TreeCpu {
  double root = 0, below = 0;
  double total() const { return root + below; }
};

TreeCpu process_tree_cpu(pid_t root) {
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, double> cpu;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos || paren + 2 > line.size()) continue;
    std::istringstream rest(line.substr(paren + 2));
    std::string state;
    long long ppid = 0, skip = 0, utime = 0, stime = 0, cutime = 0, cstime = 0;
    rest >> state >> ppid;
    for (int k = 0; k < 9; ++k) rest >> skip;  // pgrp .. cmajflt
    rest >> utime >> stime >> cutime >> cstime;
    if (!rest) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    parent[pid] = static_cast<pid_t>(ppid);
    double own = double(utime + stime) / tick;
    clockid_t clock;
    timespec ts{};
    if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0)
      own = double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
    cpu[pid] = own + double(cutime + cstime) / tick;
  }
  TreeCpu t;
  for (const auto& [pid, c] : cpu) {
    if (pid == root) {
      t.root = c;
      continue;
    }
    for (pid_t p = parent[pid]; p > 1; p = parent.count(p) ? parent[p] : 0) {
      if (p == root) {
        t.below += c;
        break;
      }
    }
  }
  return t;
}

// One client: its own channel and attested session; one request at a time.
struct Client {
  int id = 0;
  std::unique_ptr<serve::RemoteEnclave> remote;
  client::Attestation session;
  uint64_t made = 0;  // requests this client has sent
  Tensor input;       // the next request's input, made while idle
  bool input_is_reference = false;
};

struct Report {
  std::mutex mu;
  int64_t sent = 0, completed = 0, dropped = 0, wrong = 0, reattested = 0, checked = 0;
  std::map<std::string, int64_t> failed;  // by gRPC code name
  std::vector<double> latency_ms, front_ms, back_ms, tail_ms;
  std::string first_wrong, first_failure;
  Clock::time_point last_done{};
};

class Load {
 public:
  explicit Load(const LoadOptions& o) : o_(o) {
    policy_ = client::policy_from_manifest(o.manifest, std::nullopt);
    policy_.simulated_root = attest::sim_root_public_key(o.sim_root);
    policy_.allow_simulated = o.allow_simulated;
    policy_.allow_insecure = o.allow_insecure;
    serve::RemoteEnclave probe(o.address);
    info_ = probe.info();
    expected_shape_ = info_.output_shape;
    if (!o.reference_input.empty()) {
      ref_in_ = read_npy(o.reference_input);
      ref_out_ = read_npy(o.reference_output);
      TS_CHECK(ref_in_->shape() == info_.input_shape, "--reference-input has shape ",
               shape_str(ref_in_->shape()), ", the server takes ", shape_str(info_.input_shape));
      TS_CHECK(ref_out_->shape() == expected_shape_, "--reference-output has shape ",
               shape_str(ref_out_->shape()), ", the server answers ", shape_str(expected_shape_));
    }
    clients_.resize(static_cast<size_t>(o.clients));
    for (int i = 0; i < o.clients; ++i) clients_[size_t(i)].id = i;
  }

  json run() {
    // Attest every client and send its warm-up requests, in parallel (not timed).
    parallel([&](Client& c) {
      c.remote = std::make_unique<serve::RemoteEnclave>(o_.address);
      c.remote->require_sealed_output(info_.protect_output);
      if (o_.deadline_ms > 0)
        c.remote->set_infer_deadline(std::chrono::milliseconds(o_.deadline_ms));
      attest(c);
      for (int i = 0; i < o_.warmup; ++i) {
        make_input(c);
        Report scratch;
        send(c, Clock::now(), scratch);
      }
      make_input(c);
    });
    const TreeCpu server0 = o_.server_pid ? process_tree_cpu(o_.server_pid) : TreeCpu{};
    const double client0 = cpu_seconds_self();
    const auto start = Clock::now();
    if (o_.rate > 0)
      open_loop(start);
    else
      closed_loop(start);
    const auto end = report_.completed ? report_.last_done : Clock::now();
    const double window = seconds(end - start);
    TreeCpu server = o_.server_pid ? process_tree_cpu(o_.server_pid) : TreeCpu{};
    server.root -= server0.root;
    server.below -= server0.below;
    const double client_cpu = cpu_seconds_self() - client0;

    Report& r = report_;
    json j = {
        {"address", o_.address},
        {"mode", o_.rate > 0 ? "open" : "closed"},
        {"clients", o_.clients},
        {"deadline_ms", o_.deadline_ms},
        {"warmup_per_client", o_.warmup},
        {"sent", r.sent},
        {"completed", r.completed},
        {"failed", r.failed},
        {"failed_total", failed_total()},
        {"dropped", r.dropped},
        {"wrong", r.wrong},
        {"checked_against_reference", r.checked},
        {"reattested", r.reattested},
        {"window_s", window},
        {"throughput_rps", window > 0 ? double(r.completed) / window : 0.0},
        {"client_cpu_s", client_cpu},
        {"client_cpu_ms_per_request", r.completed ? client_cpu * 1e3 / double(r.completed) : 0.0}};
    if (o_.rate > 0) {
      j["target_rate_rps"] = o_.rate;
      j["arrivals"] = o_.arrivals;
    }
    if (!r.latency_ms.empty()) {
      double sum = 0;
      for (double v : r.latency_ms) sum += v;
      j["latency_ms"] = {{"p50", percentile(r.latency_ms, 50)},
                         {"p90", percentile(r.latency_ms, 90)},
                         {"p99", percentile(r.latency_ms, 99)},
                         {"max", percentile(r.latency_ms, 100)},
                         {"mean", sum / double(r.latency_ms.size())}};
      j["server_stage_ms_p50"] = {{"front", percentile(r.front_ms, 50)},
                                  {"back", percentile(r.back_ms, 50)}};
      if (info_.protect_output) j["server_stage_ms_p50"]["tail"] = percentile(r.tail_ms, 50);
    }
    if (o_.server_pid) {
      j["server_pid"] = o_.server_pid;
      const double per = r.completed ? 1e3 / double(r.completed) : 0.0;
      j["server_cpu_s"] = server.total();
      j["server_cpu_ms_per_request"] = server.total() * per;
      j["server_host_cpu_ms_per_request"] = server.root * per;      // the host process
      j["server_workers_cpu_ms_per_request"] = server.below * per;  // its children
    }
    if (!r.first_wrong.empty()) j["first_wrong"] = r.first_wrong;
    if (!r.first_failure.empty()) j["first_failure"] = r.first_failure;
    return j;
  }

  int64_t failed_total() const {
    int64_t n = 0;
    for (const auto& [code, k] : report_.failed) n += k;
    return n;
  }
  bool ok() const { return report_.completed > 0 && report_.wrong == 0; }

 private:
  template <class F>
  void parallel(F&& fn) {
    std::vector<std::thread> threads;
    std::mutex mu;
    std::optional<std::string> error;
    for (Client& c : clients_)
      threads.emplace_back([&, cp = &c] {
        try {
          fn(*cp);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          if (!error) error = "client " + std::to_string(cp->id) + ": " + e.what();
        }
      });
    for (auto& t : threads) t.join();
    if (error) fail(*error);
  }

  void attest(Client& c) {
    c.session = client::Attestation();
    const attest::Verdict v = c.remote->attest(c.session, policy_);
    if (!v.accepted) fail("the enclave's quote was refused:\n" + v.to_text());
  }

  // The next input: the reference on every check_every-th request, else
  // random, seeded by (seed, client, request).
  void make_input(Client& c) {
    const uint64_t k = c.made++;
    c.input_is_reference = ref_in_ && k % static_cast<uint64_t>(o_.check_every) == 0;
    c.input = c.input_is_reference
                  ? *ref_in_
                  : bench::seeded_input(info_.input_shape,
                                        splitmix64(o_.seed ^ splitmix64(uint64_t(c.id) << 32 | k)));
  }

  // Sends c.input; latency from `since` (the request's arrival).
  void send(Client& c, Clock::time_point since, Report& r) {
    serve::RemoteResult t;
    Tensor out;
    std::string failure, code;
    try {
      out = c.remote->infer(c.session, c.input, &t);
    } catch (const serve::RemoteError& e) {
      failure = e.what();
      code = e.code().empty() ? "CLIENT" : e.code();
    } catch (const Error& e) {
      failure = e.what();
      code = "BAD_REPLY";
    }
    const auto done = Clock::now();
    std::string wrong;
    if (failure.empty()) {
      if (out.shape() != expected_shape_) {
        wrong = "the result has shape " + shape_str(out.shape()) + ", the server said " +
                shape_str(expected_shape_);
      } else {
        const float* p = out.data<float>();
        for (int64_t i = 0; i < out.numel() && wrong.empty(); ++i)
          if (!std::isfinite(p[i])) wrong = "the result holds a non-finite value";
        if (wrong.empty() && c.input_is_reference) {
          const double err = max_relative_error(out, *ref_out_);
          if (!(err <= o_.tolerance))
            wrong =
                "the reference input's result differs from --reference-output: relative "
                "error " +
                std::to_string(err);
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(r.mu);
      ++r.sent;
      if (!failure.empty()) {
        ++r.failed[code];
        if (r.first_failure.empty()) r.first_failure = failure;
      } else {
        ++r.completed;
        r.last_done = std::max(r.last_done, done);
        r.checked += c.input_is_reference;
        if (!wrong.empty()) {
          ++r.wrong;
          if (r.first_wrong.empty()) r.first_wrong = wrong;
        }
        r.latency_ms.push_back(seconds(done - since) * 1e3);
        r.front_ms.push_back(double(t.front_us) * 1e-3);
        r.back_ms.push_back(double(t.back_us) * 1e-3);
        r.tail_ms.push_back(double(t.tail_us) * 1e-3);
      }
    }
    // A failed call leaves the session's message count behind the client's
    // (and a restarted worker has lost the session): attest again (not timed).
    if (!failure.empty()) {
      try {
        attest(c);
        std::lock_guard<std::mutex> lock(r.mu);
        ++r.reattested;
      } catch (const std::exception&) {
      }
    }
  }

  void closed_loop(Clock::time_point start) {
    const auto stop = start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(o_.duration));
    std::atomic<int64_t> next{0};
    parallel([&](Client& c) {
      while (Clock::now() < stop && next++ < o_.requests) {
        send(c, Clock::now(), report_);
        make_input(c);
      }
    });
  }

  // Arrivals at o_.rate per second go to an idle client, or are dropped.
  void open_loop(Clock::time_point start) {
    struct Slot {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<Clock::time_point> arrival;
      bool stop = false;
    };
    std::vector<Slot> slots(clients_.size());
    std::mutex idle_mu;
    std::vector<size_t> idle;
    for (size_t i = 0; i < clients_.size(); ++i) idle.push_back(i);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < clients_.size(); ++i)
      threads.emplace_back([&, i] {
        Slot& s = slots[i];
        for (;;) {
          Clock::time_point at;
          {
            std::unique_lock<std::mutex> lock(s.mu);
            s.cv.wait(lock, [&] { return s.arrival || s.stop; });
            if (!s.arrival) return;
            at = *s.arrival;
            s.arrival.reset();
          }
          try {
            send(clients_[i], at, report_);
            make_input(clients_[i]);
          } catch (const std::exception& e) {
            std::fprintf(stderr, "serve_load: client %zu: %s\n", i, e.what());
          }
          std::lock_guard<std::mutex> lock(idle_mu);
          idle.push_back(i);
        }
      });
    std::mt19937_64 rng(o_.seed);
    std::exponential_distribution<double> gap(o_.rate);
    const auto stop = start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(o_.duration));
    double offset = 0;
    for (int64_t k = 0; k < o_.requests; ++k) {
      const auto arrival = start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(offset));
      if (arrival >= stop) break;
      std::this_thread::sleep_until(arrival);
      std::optional<size_t> who;
      {
        std::lock_guard<std::mutex> lock(idle_mu);
        if (!idle.empty()) {
          who = idle.back();
          idle.pop_back();
        }
      }
      if (!who) {
        std::lock_guard<std::mutex> lock(report_.mu);
        ++report_.dropped;
      } else {
        std::lock_guard<std::mutex> lock(slots[*who].mu);
        slots[*who].arrival = arrival;
        slots[*who].cv.notify_one();
      }
      offset += o_.arrivals == "fixed" ? 1.0 / o_.rate : gap(rng);
    }
    for (Slot& s : slots) {
      std::lock_guard<std::mutex> lock(s.mu);
      s.stop = true;
      s.cv.notify_one();
    }
    for (auto& t : threads) t.join();
  }

  LoadOptions o_;
  attest::Policy policy_;
  serve::RemoteInfo info_;
  Shape expected_shape_;
  std::optional<Tensor> ref_in_, ref_out_;
  std::vector<Client> clients_;
  Report report_;
};

int run_load(const LoadOptions& o) {
  if (o.reference_input.empty() != o.reference_output.empty())
    fail("give both --reference-input and --reference-output, or neither");
  Load load(o);
  const json j = load.run();
  const std::string text = j.dump();
  std::printf("%s\n", text.c_str());
  if (!o.json.empty()) {
    std::ofstream f(o.json, std::ios::app);
    f << text << "\n";
    TS_CHECK(f.good(), "cannot write ", o.json);
  }
  return load.ok() ? 0 : 1;
}

}  // namespace
}  // namespace teesplit

int main(int argc, char** argv) {
  using namespace teesplit;
  CLI::App app{"serve_load: a bounded load generator for teesplit serve (docs/benchmarks.md)"};
  app.require_subcommand(1);

  PrepareOptions po;
  CLI::App* p = app.add_subcommand("prepare", "a zoo model split at a cut, and a reference");
  p->add_option("--model", po.model, "zoo architecture")->capture_default_str();
  p->add_option("--size", po.size, "input height and width")
      ->check(CLI::Range(32, 1024))
      ->capture_default_str();
  p->add_option("--cut", po.cut, "middle (of the cuts before the classifier), a name or an index")
      ->capture_default_str();
  p->add_option("--work-dir", po.work_dir, "the model, split and reference go here")
      ->capture_default_str();
  p->add_flag("--protect-output", po.protect_output, "split --protect-output");
  p->add_option("--precision", po.precision, "the front's precision (split --precision)")
      ->check(CLI::IsMember({"fp32", "bf16"}));

  ComputeOptions co;
  CLI::App* c = app.add_subcommand("compute", "the partitions' compute alone, in this process");
  c->add_option("split", co.split, "split directory")->required();
  c->add_option("--threads", co.threads, "the back partition's threads (serve --threads)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  c->add_option("--enclave-threads", co.enclave_threads, "the front's (serve --enclave-threads)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  c->add_option("--runs", co.runs, "timed requests")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  c->add_option("--warmup", co.warmup, "untimed requests first")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();

  LoadOptions lo;
  CLI::App* r = app.add_subcommand("run", "send requests to a running teesplit serve");
  r->add_option("address", lo.address, "the server, HOST:PORT")->required();
  r->add_option("--expect-manifest", lo.manifest, "the split's manifest.json")->required();
  r->add_option("--sim-root", lo.sim_root, "the simulated attestation root's key (PEM)");
  r->add_flag("--allow-simulated", lo.allow_simulated, "accept a simulated quote");
  r->add_flag("--allow-insecure", lo.allow_insecure, "accept a worker without its lockdown");
  r->add_option("--clients", lo.clients, "attested sessions, one request in flight each")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  r->add_option("--rate", lo.rate, "open loop: arrivals per second (default: closed loop)")
      ->check(CLI::Range(0.0, 1e6));
  r->add_option("--arrivals", lo.arrivals, "open loop: poisson or fixed (evenly spaced)")
      ->check(CLI::IsMember({"poisson", "fixed"}))
      ->capture_default_str();
  r->add_option("--requests", lo.requests, "at most this many requests after the warm-up")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->capture_default_str();
  r->add_option("--duration", lo.duration, "no request starts after this many seconds")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  r->add_option("--warmup", lo.warmup, "untimed requests per client first")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  r->add_option("--seed", lo.seed, "the random inputs' seed")->capture_default_str();
  r->add_option("--reference-input", lo.reference_input, "an input (.npy) whose result is known");
  r->add_option("--reference-output", lo.reference_output, "its result (.npy)");
  r->add_option("--check-every", lo.check_every, "send the reference every N-th request")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  r->add_option("--tolerance", lo.tolerance, "max relative error against the reference")
      ->capture_default_str();
  r->add_option("--deadline-ms", lo.deadline_ms,
                "each request's gRPC deadline (the server does not compute it past that; "
                "default 300 s)")
      ->check(CLI::Range(int64_t{1}, int64_t{86400000}));
  r->add_option("--server-pid", lo.server_pid,
                "count this process's CPU time and its children's over the measured window")
      ->check(CLI::PositiveNumber);
  r->add_option("--json", lo.json, "append the JSON report to this file too");

  CLI11_PARSE(app, argc, argv);
  try {
    if (p->parsed()) return prepare(po);
    if (c->parsed()) return compute(co);
    return run_load(lo);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_load: error: %s\n", e.what());
    return 2;
  }
}
