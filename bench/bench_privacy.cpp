// bench_privacy: the cost of privacy. For each zoo model at 224x224 and three
// cuts, it splits with --protect-output, starts the real sandboxed enclave
// worker (build/teesplit-enclave, locked down, memfd_secret) and runs requests
// as `teesplit serve` does, timing every stage of the secure path:
//
//   attestation (once per session, reported on its own), the client's sealing
//   of the input, the input's decryption in the worker, the front partition in
//   the worker, the feature map's transfer to the host, the back partition on
//   the host (oneDNN), the transfer back to the worker's tail, the tail, the
//   result's sealing in the worker, the client's opening of it;
//
// beside the front partition alone in this process and the whole model on the
// CPU, and the worker's peak resident memory (libraries included). The secure
// path is everything but the three partitions' compute (attestation excluded);
// its share of the end-to-end time is the number docs/benchmarks.md reports.
//
//   build/bench/bench_privacy [--models vgg16,resnet50,efficientnet_b0] [--size 224]
//       [--threads 2] [--runs 20] [--warmup 3] [--attestations 5]
//       [--work-dir build/bench/privacy] [--json FILE]
#include <stdlib.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/clock.h"
#include "core/numbers.h"
#include "graph/cuts.h"
#include "host/model.h"
#include "host/split_io.h"
#include "onnx/onnx_import.h"
#include "partition/split_dir.h"
#include "planner/secure_path.h"
#include "runtime/session.h"

#include "bench_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Sample = planner::StageSample;

struct Options {
  std::vector<std::string> models = {"vgg16", "resnet50", "efficientnet_b0"};
  int64_t size = 224;
  int threads = 2;
  int runs = 20, warmup = 3, attestations = 5;
  std::string work_dir = "build/bench/privacy";
  std::string json;
  std::string enclave;  // default: beside this program's build dir
};

struct Row {
  std::string model, cut;
  int cut_index = 0;
  size_t feature_bytes = 0;
  double attest_ms = 0, front_inproc = 0, whole = 0, peak_mib = 0, mapped_mib = 0;
  std::map<std::string, double> med;
  double secure_share = 0;
};

Row bench_cut(const Options& o, const std::string& arch, const std::string& model_path,
              const Graph& g, const Cut& cut, Session& whole, const Tensor& x) {
  Row row;
  row.model = arch;
  row.cut = cut.name;
  row.cut_index = cut.index;
  const std::string dir = o.work_dir + "/" + arch + "_" + std::to_string(cut.index);
  fs::remove_all(dir);
  SplitWriteOptions wo;
  wo.protect_output = true;
  wo.enclave_binary = o.enclave;
  const SplitManifest m = write_split(model_path, cut.name, dir + "/split", wo);
  row.feature_bytes = static_cast<size_t>(shape_numel(m.feature_shape)) * 4;

  // The front alone, in this process, on the same backend and threads.
  const SplitFiles files = read_split_files(dir + "/split", true);
  {
    Session front(load_split_front(files, nullptr), {BackendKind::OneDnn, o.threads});
    for (int i = 0; i < o.warmup; ++i) front.run({x});
    std::vector<double> t;
    for (int i = 0; i < o.runs; ++i) {
      const auto t0 = Clock::now();
      front.run({x});
      t.push_back(ms_since(t0));
    }
    row.front_inproc = median(t);
  }
  {
    std::vector<double> t;
    for (int i = 0; i < o.runs; ++i) {
      const auto t0 = Clock::now();
      whole.run({x});
      t.push_back(ms_since(t0));
    }
    row.whole = median(t);
  }

  planner::ProbeOptions po;
  po.split_dir = dir + "/split";
  po.enclave_binary = o.enclave;
  po.attestation_key = o.work_dir + "/sim-root/attestation-key.pem";
  po.seal_root = o.work_dir + "/sim-seal/root.key";
  po.threads = o.threads;
  po.secret_arena_bytes = size_t{512} << 20;
  planner::SecurePathProbe probe(po);

  std::vector<double> att;
  for (int i = 0; i < o.attestations; ++i) att.push_back(probe.attest());
  row.attest_ms = median(att);

  std::vector<Sample> samples;
  for (int i = 0; i < o.warmup + o.runs; ++i) {
    Tensor result;
    const Sample s = probe.run(x, i == 0 ? &result : nullptr);
    if (i == 0) {
      const Tensor want = whole.run({x})[0];
      TS_CHECK(max_relative_error(result, want) <= 1e-4, arch, " cut ", cut.name,
               ": the secure path's result differs from the whole model's");
    }
    if (i >= o.warmup) samples.push_back(s);
  }
  auto med = [&](double Sample::*field) {
    std::vector<double> v;
    for (const Sample& s : samples) v.push_back(s.*field);
    return median(v);
  };
  row.med["client_seal"] = med(&Sample::client_seal);
  row.med["decrypt"] = med(&Sample::decrypt);
  row.med["front"] = med(&Sample::front);
  row.med["transfer_in"] = med(&Sample::transfer_in);
  row.med["back"] = med(&Sample::back);
  row.med["transfer_tail"] = med(&Sample::transfer_tail);
  row.med["tail"] = med(&Sample::tail);
  row.med["seal"] = med(&Sample::seal);
  row.med["client_open"] = med(&Sample::client_open);
  row.med["end_to_end"] = med(&Sample::end_to_end);
  std::vector<double> secure, share;
  for (const Sample& s : samples) {
    secure.push_back(s.secure());
    share.push_back(s.secure() / s.end_to_end);
  }
  row.med["secure"] = median(secure);
  row.secure_share = median(share);
  row.peak_mib = planner::process_status_bytes(probe.worker_pid(), "VmHWM") / (1024.0 * 1024.0);
  row.mapped_mib = planner::mapped_file_bytes(probe.worker_pid()) / (1024.0 * 1024.0);
  return row;
}

std::string json_line(const Options& o, const Row& r) {
  std::ostringstream j;
  j << "{\"model\":\"" << r.model << "\",\"cut\":\"" << r.cut << "\",\"cut_index\":" << r.cut_index
    << ",\"size\":" << o.size << ",\"threads\":" << o.threads << ",\"runs\":" << o.runs
    << ",\"feature_bytes\":" << r.feature_bytes << ",\"attest_ms\":" << r.attest_ms
    << ",\"front_inprocess_ms\":" << r.front_inproc << ",\"whole_model_ms\":" << r.whole
    << ",\"worker_peak_rss_mib\":" << r.peak_mib << ",\"worker_mapped_files_mib\":" << r.mapped_mib
    << ",\"secure_share\":" << r.secure_share;
  for (const auto& [k, v] : r.med) j << ",\"" << k << "_ms\":" << v;
  j << "}";
  return j.str();
}

int run(const Options& o) {
  fs::create_directories(o.work_dir);
  std::vector<Row> rows;
  std::FILE* json = o.json.empty() ? nullptr : std::fopen(o.json.c_str(), "w");
  TS_CHECK(o.json.empty() || json, "cannot write ", o.json);
  for (const std::string& arch : o.models) {
    const std::string model_path = bench::ensure_zoo_model(o.work_dir, arch, o.size);
    auto loaded = load_onnx(model_path);
    if (!loaded) fail(loaded.error());
    const Graph g = specialize_for_cuts(loaded.value());
    Session whole(g, {BackendKind::OneDnn, o.threads});
    Tensor x(DType::F32, g.value(g.inputs[0]).shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float((i * 7919) % 255) / 255.f;
    for (int i = 0; i < o.warmup; ++i) whole.run({x});
    for (const Cut& c : bench::spread_cuts(g)) {
      std::fprintf(stderr, "bench_privacy: %s cut %s (%d) ...\n", arch.c_str(), c.name.c_str(),
                   c.index);
      rows.push_back(bench_cut(o, arch, model_path, g, c, whole, x));
      if (json) std::fprintf(json, "%s\n", json_line(o, rows.back()).c_str());
    }
  }
  if (json) std::fclose(json);

  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  std::printf(
      "Cost of privacy: %lldx%lld, batch 1, %d thread(s), medians of %d runs (ms); load "
      "average %.2f at the end (a busy machine makes every number larger)\n\n",
      static_cast<long long>(o.size), static_cast<long long>(o.size), o.threads, o.runs, load[0]);
  std::printf(
      "| model | cut | feature | attest | seal in | decrypt | front (worker) | front (in-process) "
      "| transfer | back | transfer to tail | tail | seal out | open | end to end | whole model "
      "(CPU) | secure path | share | worker peak RSS | mapped files |\n");
  std::printf(
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|--"
      "-:|---:|---:|\n");
  for (const Row& r : rows) {
    auto m = [&](const char* k) { return r.med.at(k); };
    std::printf(
        "| %s | %s | %.0f KiB | %.2f | %.3f | %.3f | %.2f | %.2f | %.3f | %.2f | %.3f | %.2f | "
        "%.3f | %.3f | %.2f | %.2f | %.3f | %.2f%% | %.0f MiB | %.0f MiB |\n",
        r.model.c_str(), r.cut.c_str(), r.feature_bytes / 1024.0, r.attest_ms, m("client_seal"),
        m("decrypt"), m("front"), r.front_inproc, m("transfer_in"), m("back"), m("transfer_tail"),
        m("tail"), m("seal"), m("client_open"), m("end_to_end"), r.whole, m("secure"),
        100.0 * r.secure_share, r.peak_mib, r.mapped_mib);
  }
  return 0;
}

}  // namespace
}  // namespace teesplit

int main(int argc, char** argv) {
  teesplit::Options o;
  CLI::App app{
      "bench_privacy: the time the secure path adds (attestation, decryption, the "
      "sandboxed worker, transfers, sealing) for zoo models at three cuts"};
  std::string models = "vgg16,resnet50,efficientnet_b0";
  app.add_option("--models", models, "comma-separated zoo architectures");
  app.add_option("--size", o.size, "input height and width")->check(CLI::Range(32, 1024));
  app.add_option("--threads", o.threads, "oneDNN threads (worker and host)")
      ->check(CLI::Range(1, 256));
  app.add_option("--runs", o.runs, "timed requests per cut")->check(CLI::Range(1, 100000));
  app.add_option("--warmup", o.warmup, "untimed requests first")->check(CLI::Range(0, 1000));
  app.add_option("--attestations", o.attestations, "timed attestations per cut")
      ->check(CLI::Range(1, 1000));
  app.add_option("--work-dir", o.work_dir, "models and splits are written here");
  app.add_option("--json", o.json, "one JSON line per cut");
  app.add_option("--enclave", o.enclave,
                 "the worker binary (default: teesplit-enclave in the "
                 "build directory)");
  CLI11_PARSE(app, argc, argv);
  o.models.clear();
  std::stringstream ss(models);
  for (std::string m; std::getline(ss, m, ',');) o.models.push_back(m);
  if (o.enclave.empty()) o.enclave = teesplit::bench::worker_beside_build();
  try {
    return teesplit::run(o);
  } catch (const teesplit::Error& e) {
    std::fprintf(stderr, "bench_privacy: error: %s\n", e.what());
    return 1;
  }
}
