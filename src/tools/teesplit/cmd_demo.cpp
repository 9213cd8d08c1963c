// The main job (teesplit with no command, scripts/main.sh): the whole system on
// Fashion-MNIST with a shipped trained model. Each stage is one of teesplit's
// own commands, run as a child process of this binary so that what the demo
// does is what a user can type (the commands are printed):
//
//   1 model    the shipped model's accuracy on the test set (the engine, unsplit)
//   2 attack   teesplit attack on the block-level cuts (results cached in OUT)
//   3 profile  teesplit profile on the attacked cuts, through the enclave worker
//   4 plan     teesplit plan: the cut, the Pareto table; the split, front sealed
//   5 serve    teesplit serve on the split; teesplit provision gives it the key
//   6 infer    teesplit infer --dataset: the test set through the enclave; its
//              accuracy must equal the unsplit model's
//   7 report   teesplit report: attack curves, latency against depth, the choice
//
// --quick is a smoke run of every stage (a few attack steps, two cuts, 200
// images) for CI; --full runs all three architectures on every cut.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "attest/sim_root.h"
#include "core/clock.h"
#include "core/file.h"
#include "data/dataset.h"
#include "graph/cuts.h"
#include "host/model.h"
#include "onnx/onnx_import.h"
#include "partition/manifest.h"
#include "planner/attack_results.h"
#include "tools/teesplit/children.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"
#include "zoo/zoo.h"

namespace teesplit {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct DemoArgs {
  std::string arch = "resnet50", model, output = "teesplit-out", cuts, attacks;
  int threads = 0, model_threads = 0;
  int64_t steps = 0, opt_steps = 0, aux = 0, victims = 0, limit = 0;
  bool quick = false, full = false;
};

// The settings of one run: the defaults of each mode, then what was given.
struct DemoPlan {
  std::vector<std::string> archs;
  std::string cuts, attacks = "cgan,inversion,optimization";
  // The attack's budget; 0: teesplit attack's own default.
  int64_t steps = 0, opt_steps = 0, aux = 0, victims = 0, eval_every = 0;
  int64_t limit = 0;  // test images through the enclave; 0: all
  int profile_runs = 20;
  std::vector<std::string> plan_privacy = {"--floor", "class"};
  int jobs = 1;           // attack processes at a time (--threads, default: the cores)
  int model_threads = 1;  // threads of each model run: unsplit, profile, serve
};

// Runs `teesplit ARGS` to its end; stdout to `out_file` when given, stderr
// (progress) shared. Returns the exit status.
int run_self(const std::vector<std::string>& args, const std::string& out_file = "") {
  std::printf("      $ %s\n", shell_line(args).c_str());
  return wait_for(spawn_self(args, out_file, ""));
}

void must(int code, const char* stage) {
  TS_CHECK(code == 0, stage, " failed (exit ", code, "); see its output above");
}

// `teesplit serve` in the background until destroyed (SIGTERM, then wait).
class Server {
 public:
  Server(const std::vector<std::string>& args, const std::string& dir) {
    out_ = dir + "/serve.out";
    err_ = dir + "/serve.err";
    std::printf("      $ %s &\n", shell_line(args).c_str());
    pid_ = spawn_self(args, out_, err_);
    for (int i = 0; i < 1200 && address_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(out_);
      std::string a, b, addr;
      if (in >> a >> b >> addr && a == "listening" && b == "on") address_ = addr;
      int st;
      if (address_.empty() && waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        fail("teesplit serve stopped before listening: ", tail_of(err_));
      }
    }
    TS_CHECK(!address_.empty(),
             "teesplit serve did not start listening within 120 s: ", tail_of(err_));
  }
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      wait_for(pid_);
    }
  }
  const std::string& address() const { return address_; }

 private:
  static std::string tail_of(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    return last.empty() ? "(no output)" : last;
  }
  pid_t pid_ = -1;
  std::string out_, err_, address_;
};

// The shipped model for an architecture: --model, else models/ in the current
// directory, else models/ beside the build directory that holds this binary, else
// models/ in the source tree it was built from (a build folder outside the tree).
std::string find_model(const std::string& arch, const std::string& given) {
  if (!given.empty()) return given;
  const std::string name = "models/fashion-mnist-" + arch + ".onnx";
  if (fs::exists(name)) return name;
  const fs::path build_dir = fs::path(running_executable()).parent_path();
  const fs::path beside = build_dir.parent_path() / name;
  if (fs::exists(beside)) return beside.string();
  const fs::path in_sources = fs::path(TEESPLIT_SOURCE_DIR) / name;
  if (fs::exists(in_sources)) return in_sources.string();
  fail("no shipped model ", name, " here, beside ", build_dir.string(), " or in ",
       TEESPLIT_SOURCE_DIR, " (give --model FILE)");
}

// The unsplit model's top-1 accuracy on the first `limit` test images (0: all),
// with the engine (oneDNN), in batches.
std::pair<int64_t, int64_t> unsplit_correct(const std::string& model, int64_t limit, int threads) {
  auto session = open_model_session(model, {BackendKind::OneDnn, threads});
  if (!session) fail(session.error());
  DatasetOptions o;
  o.split = "test";
  o.image_size = 32;
  auto data = open_dataset("fashion-mnist", o);
  const int64_t total = limit > 0 ? std::min(limit, data->size()) : data->size();
  int64_t correct = 0;
  for (int64_t b = 0; b < total; b += 500) {
    const int64_t n = std::min<int64_t>(500, total - b);
    const Batch batch = data->get_batch(b, n);
    const Tensor logits = (*session)->run({batch.images})[0];
    const int64_t k = logits.dim(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data<float>() + i * k;
      correct += (std::max_element(row, row + k) - row) == batch.labels.data<int64_t>()[i];
    }
  }
  return {correct, total};
}

// Two cuts for --quick: the first, and the one two thirds down the list.
std::string quick_cuts(const std::string& model) {
  auto g = load_onnx(model);
  if (!g) fail(g.error());
  const std::vector<Cut> cuts = enumerate_cuts(specialize_for_cuts(g.value()));
  TS_CHECK(cuts.size() >= 2, model, " has fewer than two valid cuts");
  return std::to_string(cuts.front().index) + "," + std::to_string(cuts[cuts.size() * 2 / 3].index);
}

void stage(int i, const char* name, const std::string& what) {
  std::printf("\n[%d/7] %s: %s\n", i, name, what.c_str());
  std::fflush(stdout);
}

struct ArchResult {
  std::string arch, chosen, report;
  bool qualified = true;  // the cut met the plan's constraints (else: the most private one)
  int64_t correct_unsplit = 0, correct_enclave = -1, total = 0;
  double seconds = 0;
};

ArchResult run_arch(const DemoArgs& a, const DemoPlan& p, const std::string& arch) {
  ArchResult r;
  r.arch = arch;
  const auto t_arch = Clock::now();
  const std::string out = (fs::path(a.output) / arch).string();
  fs::create_directories(out);
  const std::string model = find_model(arch, a.model);
  const std::string threads = std::to_string(p.model_threads);

  stage(1, "model", model);
  {
    const auto t0 = Clock::now();
    const auto [correct, total] = unsplit_correct(model, p.limit, p.model_threads);
    r.correct_unsplit = correct;
    r.total = total;
    std::printf(
        "      unsplit model on %lld test images (oneDNN, this process): accuracy %.2f%% "
        "(%lld correct) in %.1f s\n",
        static_cast<long long>(total), 100.0 * double(correct) / double(total),
        static_cast<long long>(correct), seconds_since(t0));
  }

  stage(2, "attack",
        "rebuild the input from the feature map at each cut (cached in " + out + "/attack)");
  const std::string cuts = p.cuts == "quick" ? quick_cuts(model) : p.cuts;
  std::vector<std::string> attack = {"attack", model,       "--dataset", "fashion-mnist", "--cuts",
                                     cuts,     "--attacks", p.attacks,   "--seed",        "0"};
  if (p.steps > 0) attack.insert(attack.end(), {"--steps", std::to_string(p.steps)});
  if (p.eval_every > 0) attack.insert(attack.end(), {"--eval-every", std::to_string(p.eval_every)});
  if (p.opt_steps > 0) attack.insert(attack.end(), {"--opt-steps", std::to_string(p.opt_steps)});
  if (p.aux > 0) attack.insert(attack.end(), {"--aux", std::to_string(p.aux)});
  if (p.victims > 0) attack.insert(attack.end(), {"--victims", std::to_string(p.victims)});
  // One single-threaded process per cut and attack, p.jobs at a time (teesplit attack --jobs).
  attack.insert(attack.end(), {"--threads", std::to_string(p.jobs), "--jobs",
                               std::to_string(p.jobs), "-o", out + "/attack"});
  must(run_self(attack), "teesplit attack");

  // The attacked cuts: the profile measures the same ones.
  std::string cut_list;
  {
    const planner::AttackResults r = planner::read_attack_results(out + "/attack");
    for (const planner::CutResult& c : r.cuts) {
      TS_CHECK(c.index, out, "/attack/attack.json: cut '", c.name, "' has no index");
      cut_list += (cut_list.empty() ? "" : ",") + std::to_string(*c.index);
    }
    TS_CHECK(!cut_list.empty(), out, "/attack/attack.json names no cut");
  }

  stage(3, "profile", "each attacked cut through the sandboxed enclave worker");
  must(run_self({"profile", model, "--cuts", cut_list, "--threads", threads, "--runs",
                 std::to_string(p.profile_runs), "-o", out + "/profile.json"}),
       "teesplit profile");

  stage(4, "plan", "the fastest cut that leaks no usable input; the split, front sealed");
  if (p.plan_privacy[0] == "--ssim-max")
    std::printf(
        "      --quick: a smoke run; its attacks are too short to judge privacy, so any "
        "cut is accepted (--ssim-max 1)\n");
  const std::string key = out + "/enclave.key";
  if (!fs::exists(key)) must(run_self({"keygen", "-o", key}, out + "/keygen.out"), "keygen");
  fs::remove_all(out + "/split");
  const int plan_code =
      run_self({"plan", model, "--attacks", out + "/attack/attack.json", "--profile",
                out + "/profile.json", p.plan_privacy[0], p.plan_privacy[1], "--plan-json",
                out + "/plan.json", "--key", key, "-o", out + "/split"});
  if (plan_code == 1 && !fs::exists(out + "/split/manifest.json") &&
      fs::exists(out + "/plan.json")) {
    // No cut meets the privacy rule. The plan refuses, and a deployment stops
    // here; the demonstration goes on at the most private cut, and says so.
    const auto plan = nlohmann::json::parse(read_file(out + "/plan.json", size_t{64} << 20));
    const nlohmann::json* best = nullptr;
    for (const auto& row : plan.at("rows"))
      if (row.at("score").is_number() &&
          (!best || row.at("score").get<double>() < best->at("score").get<double>()))
        best = &row;
    TS_CHECK(best, out, "/plan.json: no cut has a privacy score");
    r.qualified = false;
    std::printf(
        "      NO CUT QUALIFIES (see above). teesplit plan refused, and a deployment stops there.\n"
        "      For the demonstration only, the flow goes on at the most private cut, '%s' "
        "(score %.3f, over the limit %.3f):\n",
        best->at("name").get<std::string>().c_str(), best->at("score").get<double>(),
        plan.at("privacy_limit").get<double>());
    must(run_self({"split", model, "--at", std::to_string(best->at("index").get<int>()), "--key",
                   key, "-o", out + "/split"},
                  out + "/split.out"),
         "teesplit split");
  } else {
    must(plan_code, "teesplit plan");
  }
  {
    r.chosen =
        manifest_from_json(read_file(out + "/split/manifest.json", size_t{1} << 20)).cut_name;

    stage(5, "serve", "the host and its enclave worker; the owner provisions the front key");
    const std::string sim_root = out + "/sim-root.pem";
    // The split was just written (a new front.tsf, so a new measurement): a key
    // sealed for an earlier one would not open. The owner provisions it again.
    fs::remove_all(out + "/state");
    Server server({"serve", out + "/split", "--listen", "127.0.0.1:0", "--workers", "1",
                   "--threads", threads, "--sim-root", sim_root, "--state-dir", out + "/state"},
                  out);
    std::printf("      listening on %s\n", server.address().c_str());
    const std::vector<std::string> policy = {"--expect-manifest", out + "/split/manifest.json",
                                             "--sim-root", attest::sim_root_public_path(sim_root),
                                             "--allow-simulated"};
    std::vector<std::string> provision = {"provision", server.address(), "--key", key};
    provision.insert(provision.end(), policy.begin(), policy.end());
    must(run_self(provision), "teesplit provision");

    stage(6, "infer", "the test set through the enclave, as a client");
    std::vector<std::string> infer = {"infer", server.address(), "--dataset", "fashion-mnist"};
    if (p.limit > 0) infer.insert(infer.end(), {"--limit", std::to_string(p.limit)});
    infer.insert(infer.end(), policy.begin(), policy.end());
    const std::string infer_out = out + "/infer.out";
    const int infer_code = run_self(infer, infer_out);
    const std::string text = read_file(infer_out, size_t{1} << 20);
    std::fputs(text.c_str(), stdout);
    must(infer_code, "teesplit infer");
    std::smatch acc;
    TS_CHECK(std::regex_search(text, acc, std::regex("accuracy [0-9.]+% \\(([0-9]+) correct\\)")),
             "teesplit infer printed no accuracy");
    r.correct_enclave = std::stoll(acc[1]);
    std::printf("      through the enclave %.2f%%, unsplit %.2f%%: %s\n",
                100.0 * double(r.correct_enclave) / double(r.total),
                100.0 * double(r.correct_unsplit) / double(r.total),
                r.correct_enclave == r.correct_unsplit ? "equal" : "DIFFERENT");
  }

  stage(7, "report", "attack curves, latency against cut depth, the chosen cut");
  r.report = out + "/report.html";
  std::vector<std::string> report = {"report", out + "/attack", "--profile", out + "/profile.json",
                                     "-o",     r.report};
  if (fs::exists(out + "/plan.json"))
    report.insert(report.end() - 2, {"--plan", out + "/plan.json"});
  must(run_self(report), "teesplit report");
  r.seconds = seconds_since(t_arch);
  return r;
}

int demo(const DemoArgs& a) {
  if (a.quick && a.full) throw UsageError("--quick and --full exclude each other");
  DemoPlan p;
  p.jobs = a.threads > 0 ? a.threads : static_cast<int>(std::thread::hardware_concurrency());
  // One thread per model run by default: the shipped models take about 0.1 ms an
  // image at 32x32, too little work for a second thread, and when another job
  // holds a core, two OpenMP threads waiting on each other made the enclave's
  // front 500 to 4000 times slower here (docs/usage.md, the main job).
  p.model_threads = a.model_threads > 0 ? a.model_threads : 1;
  if (a.full) {
    p.archs = {"vgg16", "resnet50", "efficientnet_b0"};
    p.cuts = "all";
  } else {
    p.archs = {a.arch};
    p.cuts = "blocks";
    // The two cheaper attacks: at every cut of the VGG-16 sweep (docs/privacy.md)
    // the inversion network's p90 SSIM was above the c-GAN's or within 0.013 of
    // it, and the c-GAN takes twice its time. --full and teesplit attack run all
    // three.
    p.attacks = "inversion,optimization";
    // The main job's budget, so that it ends within ten minutes on two cores (6 min
    // measured under load, docs/usage.md):
    // a tenth of teesplit attack's default training steps and a quarter of its
    // auxiliary set. Weaker attacks than the sweeps of docs/privacy.md (their
    // scores are lower bounds); the report says which budget ran.
    p.steps = 200;
    p.opt_steps = 200;
    p.aux = 1024;
    p.victims = 128;
    p.eval_every = 25;
  }
  if (a.quick) {
    // Every stage, seconds each: a smoke run, not a measurement.
    p.cuts = "quick";
    p.attacks = "inversion";
    p.steps = 20;
    p.opt_steps = 20;
    p.aux = 256;
    p.victims = 16;
    p.eval_every = 10;
    p.limit = 200;
    p.profile_runs = 3;
    // Twenty steps decide nothing about privacy: any cut is taken, so that the
    // later stages run. Said in the output; never the default.
    p.plan_privacy = {"--ssim-max", "1"};
  }
  if (!a.cuts.empty()) p.cuts = a.cuts;
  if (!a.attacks.empty()) p.attacks = a.attacks;
  if (a.steps > 0) p.steps = a.steps;
  if (a.opt_steps > 0) p.opt_steps = a.opt_steps;
  if (a.aux > 0) p.aux = a.aux;
  if (a.victims > 0) p.victims = a.victims;
  if (a.limit > 0) p.limit = a.limit;
  if (!a.model.empty() && p.archs.size() > 1)
    throw UsageError("--model names one model; --full runs three");

  std::printf(
      "teesplit main job: %s on Fashion-MNIST, cuts %s, attacks %s; %d attack process(es) at "
      "a time, %d thread(s) per model run; output in %s\n",
      a.model.empty() ? (p.archs.size() > 1 ? "three shipped models" : "the shipped model")
                      : a.model.c_str(),
      p.cuts.c_str(), p.attacks.c_str(), p.jobs, p.model_threads, a.output.c_str());
  const auto t0 = Clock::now();
  std::vector<ArchResult> results;
  for (const std::string& arch : p.archs) {
    if (p.archs.size() > 1) std::printf("\n=== %s ===\n", arch.c_str());
    results.push_back(run_arch(a, p, arch));
  }
  std::printf("\nsummary (%.0f s):\n", seconds_since(t0));
  bool ok = true;
  for (const ArchResult& r : results) {
    if (r.correct_enclave < 0) {
      std::printf("  %-16s no cut qualified; report %s\n", r.arch.c_str(), r.report.c_str());
      ok = false;
      continue;
    }
    const bool same = r.correct_enclave == r.correct_unsplit;
    ok = ok && same;
    if (!r.qualified)
      std::printf(
          "  %-16s NO CUT met the privacy rule (the plan's table above); the flow ran at "
          "the most private cut for the demonstration only\n",
          r.arch.c_str());
    std::printf(
        "  %-16s cut '%s': accuracy through the enclave %.2f%%, unsplit %.2f%% (%s); "
        "report %s (%.0f s)\n",
        r.arch.c_str(), r.chosen.c_str(), 100.0 * double(r.correct_enclave) / double(r.total),
        100.0 * double(r.correct_unsplit) / double(r.total), same ? "agree" : "DIFFER",
        r.report.c_str(), r.seconds);
  }
  return ok ? 0 : 1;
}

}  // namespace

Subcommand add_demo_command(CLI::App& root) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* app = root.add_subcommand(
      "demo",
      "the main job (also what teesplit runs with no command): on Fashion-MNIST with a shipped "
      "model, attack the cuts, profile them, choose one, serve it through the enclave, run the "
      "test set as a client, and write the report");
  app->add_option("--arch", a->arch, "the shipped model's architecture")
      ->check(CLI::IsMember(zoo_archs()))
      ->capture_default_str();
  app->add_option("--model", a->model, "another Fashion-MNIST model (1x32x32 input)")
      ->check(CLI::ExistingFile);
  app->add_option("-o,--output,--out", a->output,
                  "the folder to write into (attack results "
                  "there are reused by the next run)")
      ->capture_default_str();
  app->add_option("--threads", a->threads,
                  "attack processes at a time, one cut and one thread each (0: the cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app->add_option("--model-threads", a->model_threads,
                  "threads of each model run: unsplit, profile, serve (0: 1)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  auto* quick =
      app->add_flag("--quick", a->quick, "a smoke run of every stage in under a minute (for CI)");
  app->add_flag("--full", a->full, "all three architectures, every cut")->excludes(quick);
  app->add_option("--cuts", a->cuts, "the cuts to attack (teesplit attack --cuts)");
  app->add_option("--attacks", a->attacks, "the attacks (teesplit attack --attacks)");
  app->add_option("--steps", a->steps, "attack step budget (teesplit attack --steps)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  app->add_option("--opt-steps", a->opt_steps,
                  "optimisation attack's iterations (teesplit attack --opt-steps)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  app->add_option("--aux", a->aux, "attacker's auxiliary images (teesplit attack --aux)")
      ->check(CLI::Range(int64_t{1}, int64_t{60000}));
  app->add_option("--victims", a->victims, "victim images scored (teesplit attack --victims)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  app->add_option("--limit", a->limit, "test images through the enclave (default: all 10,000)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  return {app, [a] { return demo(*a); }};
}

}  // namespace teesplit
