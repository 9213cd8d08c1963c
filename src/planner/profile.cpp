#include "planner/profile.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/file.h"
#include "core/numbers.h"
#include "graph/cuts.h"
#include "host/split_io.h"
#include "onnx/onnx_import.h"
#include "partition/front_file.h"
#include "partition/split_dir.h"
#include "planner/secure_path.h"
#include "runtime/cut_profile.h"
#include "runtime/session.h"

namespace teesplit::planner {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

Percentiles percentiles(const std::vector<double>& v) {
  return {percentile(v, 50), percentile(v, 99)};
}

// The cuts --cuts selects (select_cuts: all, blocks or a list), less those that
// leave no room for --protect-output's tail.
std::vector<Cut> profiled_cuts(const Graph& g, const std::string& spec, bool protect_output) {
  std::vector<Cut> chosen = select_cuts(g, spec);
  if (!protect_output) return chosen;
  // With a tail, a cut must leave at least one node before the tail's cut.
  std::vector<Cut> ok;
  for (const Cut& c : chosen) {
    try {
      tail_cut(g, c);
      ok.push_back(c);
    } catch (const Error& e) {
      if (spec != "all" && spec != "blocks")
        fail("cut '", c.name, "' with --protect-output: ", e.what());
    }
  }
  TS_CHECK(!ok.empty(), "no cut leaves room for the tail partition of --protect-output");
  return ok;
}

Tensor probe_input(const Shape& shape) {
  Tensor x(DType::F32, shape);
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = float((i * 7919) % 255) / 255.f;
  return x;
}

json pct_json(const Percentiles& p) {
  return {{"p50", p.p50}, {"p99", p.p99}};
}
Percentiles pct_from(const json& j, const char* key) {
  TS_CHECK(j.contains(key) && j[key].is_object(), "profile.json: a cut lacks '", key, "'");
  return {j[key].at("p50").get<double>(), j[key].at("p99").get<double>()};
}

}  // namespace

ModelProfile profile_model(const ProfileOptions& o) {
  TS_CHECK(o.runs >= 1 && o.warmup >= 0, "profile: --runs must be at least 1");
  TS_CHECK(o.enclave_slowdown >= 1.0 && o.enclave_slowdown <= 1000,
           "profile: the enclave slowdown must be in [1, 1000], not ", o.enclave_slowdown);
  TS_CHECK(!o.work_dir.empty(), "profile: no work directory");
  const std::string model_bytes = read_file(o.model_path);
  auto loaded = load_onnx(o.model_path);
  if (!loaded) fail(loaded.error());
  const Graph g = specialize_for_cuts(loaded.value());
  const std::vector<Cut> cuts = profiled_cuts(g, o.cuts, o.protect_output);

  ModelProfile p;
  p.model_path = o.model_path;
  p.model_sha256 = sha256_hex(model_bytes.data(), model_bytes.size());
  p.backend = backend_kind_name(o.back);
  p.command = o.command;
  p.threads = o.threads;
  p.runs = o.runs;
  p.protect_output = o.protect_output;
  p.enclave_slowdown = o.enclave_slowdown;
  p.slowdown_source = o.enclave_slowdown == 1.0 && o.slowdown_source.empty()
                          ? "none: measured in the simulated enclave, no SGX costs added"
                          : o.slowdown_source;
  p.enclave_runtime = "simulated (sandboxed process)";
  p.cpus = static_cast<int>(std::thread::hardware_concurrency());
  p.load_before = load_average_1min();

  fs::create_directories(o.work_dir);
  const Tensor x = probe_input(g.value(g.inputs[0]).shape);
  Session whole(g, {o.back, o.threads});
  const Tensor want = whole.run({x})[0];
  {
    std::vector<double> t;
    for (int i = 0; i < o.warmup + o.runs; ++i) {
      const auto t0 = Clock::now();
      whole.run({x});
      if (i >= o.warmup) t.push_back(ms_since(t0));
    }
    p.whole_model_ms = median(t);
  }

  // Weights and planned activations of every front, as oneDNN holds them.
  std::map<int, CutProfile> memory;
  for (CutProfile& cp : profile_cuts(g, BackendKind::OneDnn, o.back, o.threads))
    memory[cp.cut.index] = std::move(cp);

  ProbeOptions po;
  po.enclave_binary = o.enclave_binary;
  po.attestation_key = o.work_dir + "/sim-root/attestation-key.pem";
  po.seal_root = o.work_dir + "/sim-seal/root.key";
  po.threads = o.threads;
  po.back = o.back;
  // Per cut, per timed request: (end to end, time inside the enclave), for the
  // adjusted latencies once the slowdown is known.
  std::vector<std::vector<std::pair<double, double>>> samples;
  for (size_t i = 0; i < cuts.size(); ++i) {
    const Cut& cut = cuts[i];
    if (o.progress) o.progress(i, cuts.size(), cut.name);
    CutTiming ct;
    ct.name = cut.name;
    ct.index = cut.index;
    const CutStats st = cut_stats(g, cut);
    ct.feature_shape = st.feature_shape;
    ct.feature_bytes = st.feature_bytes;
    const double flops = st.front_flops + st.back_flops;
    ct.depth = flops > 0 ? st.front_flops / flops : 0;
    auto mem = memory.find(cut.index);
    TS_CHECK(mem != memory.end(), "cut '", cut.name, "': no memory profile");
    ct.front_weight_bytes = mem->second.front_weight_bytes;
    ct.front_activation_bytes = mem->second.front_activation_bytes;

    const std::string dir = o.work_dir + "/cut-" + std::to_string(cut.index);
    fs::remove_all(dir);
    SplitWriteOptions wo;
    wo.back_backend = o.back;
    wo.protect_output = o.protect_output;
    wo.enclave_binary = o.enclave_binary;
    try {
      write_split(o.model_path, std::to_string(cut.index), dir, wo);
    } catch (const Error& e) {
      fail("cut '", cut.name, "': ", e.what());
    }
    double tail_bytes = 0;
    if (o.protect_output) tail_bytes = static_cast<double>(fs::file_size(dir + "/tail.tsf"));

    {  // the front alone, in this process: what the enclave adds is the difference
      Session front(load_split_front(read_split_files(dir, false), nullptr),
                    {BackendKind::OneDnn, o.threads});
      std::vector<double> t;
      for (int r = 0; r < o.warmup + o.runs; ++r) {
        const auto t0 = Clock::now();
        front.run({x});
        if (r >= o.warmup) t.push_back(ms_since(t0));
      }
      ct.front_inprocess_ms = median(t);
    }

    po.split_dir = dir;
    SecurePathProbe probe(po);
    if (probe.worker_gramine()) p.enclave_runtime = "gramine-sgx";
    std::vector<double> front, back, transfer, crypto, tail, e2e;
    samples.emplace_back();
    for (int r = 0; r < o.warmup + o.runs; ++r) {
      Tensor result;
      const StageSample s = probe.run(x, r == 0 ? &result : nullptr);
      if (r == 0) {
        const double err = max_relative_error(result, want);
        TS_CHECK(err <= 1e-4, "cut '", cut.name,
                 "': the split's result differs from the unsplit model's (max relative error ", err,
                 ")");
      }
      if (r < o.warmup) continue;
      front.push_back(s.front);
      back.push_back(s.back);
      transfer.push_back(s.transfer());
      crypto.push_back(s.crypto());
      tail.push_back(s.tail);
      e2e.push_back(s.end_to_end);
      samples.back().emplace_back(s.end_to_end, s.in_enclave());
    }
    ct.front = percentiles(front);
    ct.back = percentiles(back);
    ct.transfer = percentiles(transfer);
    ct.crypto = percentiles(crypto);
    ct.tail = percentiles(tail);
    ct.end_to_end = percentiles(e2e);
    ct.worker_peak_rss_bytes = process_status_bytes(probe.worker_pid(), "VmHWM");
    ct.mapped_file_bytes = mapped_file_bytes(probe.worker_pid());
    ct.enclave_footprint_bytes = ct.mapped_file_bytes + static_cast<double>(ct.front_weight_bytes) +
                                 static_cast<double>(ct.front_activation_bytes) + tail_bytes;
    p.cuts.push_back(std::move(ct));
    fs::remove_all(dir);
  }
  if (o.sgx_reference) {
    p.enclave_slowdown = slowdown_from_profiles(*o.sgx_reference, p);
    p.slowdown_source = "measured under Gramine-SGX: the median ratio of front latencies of " +
                        (o.sgx_reference_path.empty() ? "the SGX profile" : o.sgx_reference_path) +
                        " to this profile's";
  }
  for (size_t i = 0; i < p.cuts.size(); ++i) {
    std::vector<double> adjusted;
    for (const auto& [e2e, inside] : samples[i])
      adjusted.push_back(e2e + (p.enclave_slowdown - 1.0) * inside);
    p.cuts[i].end_to_end_adjusted = percentiles(adjusted);
  }
  p.load_after = load_average_1min();
  return p;
}

double load_average_1min() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return -1;
  double v = -1;
  if (std::fscanf(f, "%lf", &v) != 1 || !(v >= 0)) v = -1;
  std::fclose(f);
  return v;
}

std::string profile_to_json(const ModelProfile& p) {
  json j;
  j["format"] = "teesplit-profile";
  j["version"] = 1;
  j["model"] = {{"path", p.model_path}, {"sha256", p.model_sha256}};
  j["backend"] = p.backend;
  j["command"] = p.command;
  j["enclave_runtime"] = p.enclave_runtime;
  j["threads"] = p.threads;
  j["runs"] = p.runs;
  j["protect_output"] = p.protect_output;
  j["enclave_slowdown"] = {{"factor", p.enclave_slowdown}, {"source", p.slowdown_source}};
  j["whole_model_ms"] = p.whole_model_ms;
  j["machine"] = {{"cpus", p.cpus},
                  {"load_average_before", p.load_before},
                  {"load_average_after", p.load_after}};
  j["cuts"] = json::array();
  for (const CutTiming& c : p.cuts) {
    json cj;
    cj["name"] = c.name;
    cj["index"] = c.index;
    cj["depth"] = c.depth;
    cj["feature_shape"] = c.feature_shape;
    cj["feature_bytes"] = c.feature_bytes;
    cj["front_ms"] = pct_json(c.front);
    cj["back_ms"] = pct_json(c.back);
    cj["transfer_ms"] = pct_json(c.transfer);
    cj["crypto_ms"] = pct_json(c.crypto);
    cj["tail_ms"] = pct_json(c.tail);
    cj["end_to_end_ms"] = pct_json(c.end_to_end);
    cj["end_to_end_adjusted_ms"] = pct_json(c.end_to_end_adjusted);
    cj["front_inprocess_ms"] = c.front_inprocess_ms;
    cj["front_weight_bytes"] = c.front_weight_bytes;
    cj["front_activation_bytes"] = c.front_activation_bytes;
    cj["mapped_file_bytes"] = c.mapped_file_bytes;
    cj["enclave_footprint_bytes"] = c.enclave_footprint_bytes;
    cj["worker_peak_rss_bytes"] = c.worker_peak_rss_bytes;
    j["cuts"].push_back(std::move(cj));
  }
  return j.dump(2) + "\n";
}

ModelProfile profile_from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("profile.json: not JSON: ", e.what());
  }
  TS_CHECK(j.is_object() && j.value("format", "") == "teesplit-profile",
           "profile.json: not a teesplit profile (format must be \"teesplit-profile\")");
  TS_CHECK(j.value("version", 0) == 1, "profile.json: unsupported version ",
           j.contains("version") ? j["version"].dump() : "(none)", " (this teesplit reads 1)");
  ModelProfile p;
  try {
    p.model_path = j.at("model").value("path", "");
    p.model_sha256 = j.at("model").at("sha256").get<std::string>();
    p.backend = j.value("backend", "");
    p.command = j.value("command", "");
    p.enclave_runtime = j.value("enclave_runtime", "");
    p.threads = j.value("threads", 0);
    p.runs = j.value("runs", 0);
    p.protect_output = j.value("protect_output", false);
    p.enclave_slowdown = j.at("enclave_slowdown").at("factor").get<double>();
    p.slowdown_source = j.at("enclave_slowdown").value("source", "");
    p.whole_model_ms = j.value("whole_model_ms", 0.0);
    if (j.contains("machine")) {  // absent in profiles written before it was recorded
      const json& m = j.at("machine");
      p.cpus = m.value("cpus", 0);
      p.load_before = m.value("load_average_before", -1.0);
      p.load_after = m.value("load_average_after", -1.0);
    }
    for (const json& cj : j.at("cuts")) {
      CutTiming c;
      c.name = cj.at("name").get<std::string>();
      c.index = cj.at("index").get<int>();
      c.depth = cj.value("depth", 0.0);
      c.feature_shape = cj.value("feature_shape", Shape{});
      c.feature_bytes = cj.value("feature_bytes", size_t{0});
      c.front = pct_from(cj, "front_ms");
      c.back = pct_from(cj, "back_ms");
      c.transfer = pct_from(cj, "transfer_ms");
      c.crypto = pct_from(cj, "crypto_ms");
      c.tail = pct_from(cj, "tail_ms");
      c.end_to_end = pct_from(cj, "end_to_end_ms");
      c.end_to_end_adjusted = pct_from(cj, "end_to_end_adjusted_ms");
      c.front_inprocess_ms = cj.value("front_inprocess_ms", 0.0);
      c.front_weight_bytes = cj.value("front_weight_bytes", size_t{0});
      c.front_activation_bytes = cj.value("front_activation_bytes", size_t{0});
      c.mapped_file_bytes = cj.value("mapped_file_bytes", 0.0);
      c.enclave_footprint_bytes = cj.at("enclave_footprint_bytes").get<double>();
      c.worker_peak_rss_bytes = cj.value("worker_peak_rss_bytes", 0.0);
      TS_CHECK(c.end_to_end_adjusted.p50 >= 0 && c.enclave_footprint_bytes >= 0,
               "profile.json: cut '", c.name, "' has a negative latency or footprint");
      p.cuts.push_back(std::move(c));
    }
  } catch (const json::exception& e) {
    fail("profile.json: ", e.what());
  }
  TS_CHECK(!p.cuts.empty(), "profile.json: no cuts");
  return p;
}

double slowdown_from_profiles(const ModelProfile& sgx, const ModelProfile& here) {
  TS_CHECK(sgx.enclave_runtime == "gramine-sgx",
           "the SGX profile was not measured under Gramine-SGX (enclave_runtime '",
           sgx.enclave_runtime, "')");
  TS_CHECK(sgx.model_sha256 == here.model_sha256,
           "the SGX profile is of another model (sha256 differs)");
  std::map<std::string, double> here_front;
  for (const CutTiming& c : here.cuts) here_front[c.name] = c.front.p50;
  std::vector<double> ratios;
  for (const CutTiming& c : sgx.cuts) {
    auto it = here_front.find(c.name);
    if (it != here_front.end() && it->second > 0) ratios.push_back(c.front.p50 / it->second);
  }
  TS_CHECK(!ratios.empty(), "the SGX profile and this one have no cut in common");
  return std::max(1.0, median(ratios));
}

void print_profile_table(std::FILE* out, const ModelProfile& p) {
  std::fprintf(out,
               "model %s, back on %s, %d thread(s), %d runs per cut; enclave: %s; slowdown %.2f "
               "(%s)\n",
               p.model_path.c_str(), p.backend.c_str(), p.threads, p.runs,
               p.enclave_runtime.c_str(), p.enclave_slowdown, p.slowdown_source.c_str());
  std::fprintf(out, "whole model on the host: %.3f ms (median)\n", p.whole_model_ms);
  if (p.load_before >= 0 && p.load_after >= 0 && p.cpus > 0) {
    const double worst = std::max(p.load_before, p.load_after);
    std::fprintf(
        out, "machine: %d CPUs, load average %.2f before and %.2f after%s\n", p.cpus, p.load_before,
        p.load_after,
        worst > p.cpus ? " (above the CPU count: other work competed, latencies are noisy)" : "");
  }
  std::fprintf(out, "\n");
  std::fprintf(out, "%5s  %-24s %6s %10s %10s %10s %10s %10s %12s %12s %11s\n", "index", "name",
               "depth", "front p50", "back p50", "transfer", "crypto", "tail", "e2e p50/p99",
               "adjusted p50", "enclave");
  for (const CutTiming& c : p.cuts) {
    char e2e[64];
    std::snprintf(e2e, sizeof e2e, "%.2f/%.2f", c.end_to_end.p50, c.end_to_end.p99);
    std::fprintf(out, "%5d  %-24s %5.1f%% %10.3f %10.3f %10.3f %10.3f %10.3f %12s %12.3f %11s\n",
                 c.index, c.name.c_str(), 100 * c.depth, c.front.p50, c.back.p50, c.transfer.p50,
                 c.crypto.p50, c.tail.p50, e2e, c.end_to_end_adjusted.p50,
                 human_bytes(c.enclave_footprint_bytes).c_str());
  }
  std::fprintf(out,
               "\nms per request; enclave = the worker's binary and libraries + the front's "
               "weights and activations%s\n",
               p.protect_output ? " + the tail" : "");
}

}  // namespace teesplit::planner
