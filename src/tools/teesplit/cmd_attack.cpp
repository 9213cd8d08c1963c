// teesplit attack MODEL.onnx --dataset SPEC --cuts all|blocks|LIST --attacks ... -o DIR
// and teesplit attack-merge DIR... -o DIR (docs/privacy.md). The attacks run in
// the LibTorch plugin (torch_plugin.h); without it both commands parse and
// answer --help, --list works, and running them says what is missing.
//
// --jobs: the cuts and their attacks are independent, so by default each
// (cut, attack) runs in a single-threaded child process of its own (`teesplit
// attack ... --attacks A --shard P/N`, P the cut's position among the N
// selected), as many at a time as --threads, each cut in
// DIR/shards/shard-P-of-N, then merged into DIR. On this 2-core machine two
// one-thread processes attack two cuts in about the time one two-thread
// process takes for one: LibTorch's small operations do not keep two threads
// busy (docs/privacy.md, "Training speed").
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/file.h"
#include "core/progress.h"
#include "core/text.h"
#include "graph/cuts.h"
#include "onnx/onnx_import.h"
#include "tools/teesplit/children.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/torch_plugin.h"

namespace teesplit {
namespace {

struct AttackArgs {
  std::string precision;
  std::string model, dataset = "fashion-mnist", cuts = "blocks",
                     attacks = "cgan,inversion,optimization", shard = "0/1", output;
  int64_t steps = 2000, opt_steps = 1000, aux = 4096, victims = 256, batch = 64, width = 128,
          eval_every = 100, patience = 5;
  double tv_weight = -1, l1_weight = 100;
  uint64_t seed = 0;
  int threads = 0;
  int jobs = 0;               // 0: one single-threaded process per thread, at most one per cut
  std::string progress_file;  // a child's (hidden option): its progress line, for the parent
  bool no_progress = false, list = false;
  std::string command;
};

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string number(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// What a failed child said last: its "teesplit attack: error: ..." line
// without the prefix, else its last line.
std::string child_error(const std::string& err_file) {
  std::string text;
  try {
    text = read_file(err_file, size_t{1} << 20);
  } catch (const Error&) {
    return "(no error output)";
  }
  std::istringstream in(text);
  std::string line, last, error;
  const std::string prefix = "teesplit attack: error: ";
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.rfind(prefix, 0) == 0) error = line.substr(prefix.size());
  }
  return !error.empty() ? error : !last.empty() ? last : "(no error output)";
}

// The sweep as child processes, at most `jobs` at a time (see the top of this
// file). `selected` are the names of the N cuts that --cuts selects, `mine` the
// positions that --shard leaves to this run, `attacks` those asked for, in
// attack_names() order.
//
// Each (cut, attack) is one child: `teesplit attack ... --attacks A --shard P/N
// -o DIR/shards/shard-P-of-N`. A cut's attacks share that folder, hence its
// cached feature maps and probe; a second attack of a cut waits until the first
// has written them (`cuts/*/probe.json`), so that they are computed once. The
// children are queued heaviest first: every cut's c-GAN (about twice an
// inversion network's time), then the inversion networks, then the
// optimisations (minutes at most), so the short ones fill the end and the
// processes finish close together; whole cuts as the unit left one process
// alone for a quarter of an hour. When a cut's last attack ends, one more child
// with every attack reuses their results and writes the folder's attack.json
// and grid (seconds); then the folders are merged into DIR.
int attack_with_jobs(const AttackArgs& a, const std::vector<std::string>& selected,
                     const std::vector<size_t>& mine, const std::vector<std::string>& attacks,
                     int threads, int jobs) {
  const auto t0 = Clock::now();
  const size_t n = selected.size();
  const std::string parts = a.output + "/shards";
  fs::create_directories(parts);
  auto part_dir = [&](size_t p) {
    return parts + "/shard-" + std::to_string(p) + "-of-" + std::to_string(n);
  };
  const int child_threads = std::max(1, threads / jobs);
  std::vector<std::string> base = {"attack",          a.model,
                                   "--dataset",       a.dataset,
                                   "--cuts",          a.cuts,
                                   "--steps",         std::to_string(a.steps),
                                   "--opt-steps",     std::to_string(a.opt_steps),
                                   "--aux",           std::to_string(a.aux),
                                   "--victims",       std::to_string(a.victims),
                                   "--batch",         std::to_string(a.batch),
                                   "--decoder-width", std::to_string(a.width),
                                   "--eval-every",    std::to_string(a.eval_every),
                                   "--patience",      std::to_string(a.patience),
                                   "--tv-weight",     number(a.tv_weight),
                                   "--l1-weight",     number(a.l1_weight),
                                   "--seed",          std::to_string(a.seed),
                                   "--precision",     a.precision,
                                   "--threads",       std::to_string(child_threads),
                                   "--jobs",          "1"};
  std::vector<std::string> shown = base;
  shown.insert(shown.end(), {"--attacks", "A", "--shard", "P/" + std::to_string(n), "-o",
                             parts + "/shard-P-of-" + std::to_string(n)});
  const size_t runs = mine.size() * attacks.size();
  std::printf("%zu cut%s, %zu attack%s each, %d processes at a time, each: %s\n", mine.size(),
              mine.size() == 1 ? "" : "s", attacks.size(), attacks.size() == 1 ? "" : "s", jobs,
              shell_line(shown).c_str());
  std::fflush(stdout);

  struct Run {
    size_t pos;
    std::string attack;  // empty: the cut's last child, which collects its results
  };
  std::deque<Run> pending;
  for (const std::string& at : attacks)
    for (size_t p : mine) pending.push_back({p, at});
  std::map<size_t, size_t> left;  // per cut, its attacks not yet finished
  std::map<size_t, double> busy;  // per cut, the seconds its children ran
  for (size_t p : mine) left[p] = attacks.size();
  auto stem = [&](const Run& r) {
    return part_dir(r.pos) + "/attack" + (r.attack.empty() ? "" : "-" + r.attack);
  };
  auto progress_path = [&](const Run& r) { return part_dir(r.pos) + "/progress-" + r.attack; };
  auto name = [&](const Run& r) {
    return "cut " + selected[r.pos] + (r.attack.empty() ? "" : " " + r.attack);
  };
  // Whether the cut's feature maps and probe are on disk (a first attack wrote them).
  auto cut_cached = [&](size_t p) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(part_dir(p) + "/cuts", ec))
      if (fs::exists(e.path() / "probe.json")) return true;
    return false;
  };

  struct Running {
    pid_t pid;
    Run run;
    Clock::time_point t0;
    std::string shown;  // its last progress line (kept while it clears it between steps)
  };
  std::vector<Running> running;
  std::vector<std::string> failed;
  size_t attacks_done = 0, cuts_done = 0;
  ProgressBlock block(!a.no_progress);
  while ((!pending.empty() && failed.empty()) || !running.empty()) {
    // After a failure nothing new starts; those running finish (their results are kept).
    while (failed.empty() && static_cast<int>(running.size()) < jobs) {
      auto it = std::find_if(pending.begin(), pending.end(), [&](const Run& r) {
        const bool sibling_running = std::any_of(
            running.begin(), running.end(), [&](const Running& x) { return x.run.pos == r.pos; });
        return !sibling_running || cut_cached(r.pos);
      });
      if (it == pending.end()) break;
      const Run r = *it;
      pending.erase(it);
      const std::string dir = part_dir(r.pos);
      fs::create_directories(dir);
      std::vector<std::string> args = base;
      args.insert(args.end(), {"--attacks", r.attack.empty() ? a.attacks : r.attack, "--shard",
                               std::to_string(r.pos) + "/" + std::to_string(n), "-o", dir});
      if (a.no_progress || r.attack.empty()) {
        args.push_back("--no-progress");
      } else {
        fs::remove(progress_path(r));
        args.insert(args.end(), {"--progress-file", progress_path(r)});
      }
      running.push_back({spawn_self(args, stem(r) + ".out", stem(r) + ".err"), r, Clock::now(),
                         name(r) + (r.attack.empty() ? ": collecting its results" : ": starting")});
    }
    std::vector<std::string> lines = {
        "attack " + progress_bar(static_cast<int64_t>(attacks_done), static_cast<int64_t>(runs)) +
        " " + std::to_string(attacks_done) + "/" + std::to_string(runs) + " attacks, " +
        std::to_string(cuts_done) + "/" + std::to_string(mine.size()) + " cuts, " +
        std::to_string(running.size()) + " running, " + clock_text(seconds_since(t0)) + " elapsed"};
    for (Running& r : running) {
      if (!r.run.attack.empty()) {
        const std::string l = read_progress_file(progress_path(r.run));
        if (!l.empty()) r.shown = l;
      }
      lines.push_back("  " + r.shown);
    }
    block.update(lines);
    int st = 0;
    auto it = running.end();
    for (auto r = running.begin(); r != running.end() && it == running.end(); ++r) {
      const pid_t got = waitpid(r->pid, &st, WNOHANG);
      TS_CHECK(got >= 0 || errno == EINTR, "waitpid failed while the attacks ran");
      if (got == r->pid) it = r;
    }
    if (it == running.end()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      continue;
    }
    const Run r = it->run;
    const std::string dir = part_dir(r.pos);
    const int code = exit_code(st);
    busy[r.pos] += seconds_since(it->t0);
    block.clear();
    if (code != 0) {
      const std::string why = child_error(stem(r) + ".err");
      std::printf("%s FAILED (exit %d): %s\n", name(r).c_str(), code, why.c_str());
      failed.push_back(name(r) + ": " + why + " (log: " + stem(r) + ".err)");
    } else if (!r.attack.empty()) {  // its result line, as an in-process run prints it
      ++attacks_done;
      std::istringstream in(read_file(stem(r) + ".out", size_t{1} << 20));
      for (std::string l; std::getline(in, l);)
        if (!l.empty() && l.rfind("wrote ", 0) != 0) std::printf("%s\n", l.c_str());
      if (--left[r.pos] == 0) pending.push_front({r.pos, ""});
    } else {
      ++cuts_done;
      std::printf("cut %s done: %.0f s in its processes (%s)\n", selected[r.pos].c_str(),
                  busy[r.pos], dir.c_str());
    }
    std::fflush(stdout);
    running.erase(it);
  }
  block.clear();
  if (!failed.empty()) {
    if (failed.size() == 1) fail(failed[0]);
    std::string list;
    for (const std::string& f : failed) list += (list.empty() ? "" : "; ") + f;
    fail(failed.size(), " attacks failed: ", list);
  }

  std::vector<std::string> dirs;
  for (size_t p : mine) dirs.push_back(part_dir(p));
  std::string error;
  if (!torch_plugin().merge(dirs, a.output, a.command, &error)) fail(error);
  // Which rows the attacker had and which were attacked: the same in every child.
  fs::copy_file(part_dir(mine[0]) + "/victims.json", a.output + "/victims.json",
                fs::copy_options::overwrite_existing);
  // The merged file reads as this run's: its threads, jobs, shard and wall time.
  const std::string path = a.output + "/attack.json";
  nlohmann::json j = nlohmann::json::parse(read_file(path, size_t{256} << 20));
  j["options"]["threads"] = threads;
  j["options"]["jobs"] = jobs;
  j["options"]["shard"] = a.shard;
  j.erase("merged_shards");
  j["seconds"] = seconds_since(t0);
  write_file(path, j.dump(2) + "\n");
  std::printf(
      "wrote %s (%zu cuts, %d processes, %.0f s; floor SSIM mean %.3f; model accuracy "
      "%.3f)\n",
      path.c_str(), mine.size(), jobs, seconds_since(t0), j["floor"].value("ssim_mean", 0.0),
      j.value("model_accuracy", 0.0));
  return 0;
}

int attack(const AttackArgs& a) {
  if (a.list) {  // the cuts --cuts selects (and --shard takes), then exit
    auto g = load_onnx(a.model);
    if (!g) fail(g.error());
    int index = 0, count = 1;
    try {
      parse_shard(a.shard, &index, &count);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    const auto cuts = select_cuts(specialize_for_cuts(g.value()), a.cuts);
    for (size_t i = 0; i < cuts.size(); ++i)
      if (in_shard(i, index, count)) std::printf("%s\n", cuts[i].name.c_str());
    return 0;
  }
  AttackOptions o;
  o.model = a.model;
  o.dataset = a.dataset;
  o.cuts = a.cuts;
  try {
    o.attacks = split_list(a.attacks, "--attacks");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  for (const std::string& name : o.attacks)
    if (!is_attack_name(name))
      throw UsageError("unknown attack '" + name +
                       "' in --attacks (cgan, inversion, optimization)");
  try {
    parse_shard(a.shard, &o.shard_index, &o.shard_count);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  o.steps = a.steps;
  o.opt_steps = a.opt_steps;
  o.aux = a.aux;
  o.victims = a.victims;
  o.batch = a.batch;
  o.decoder_width = a.width;
  o.eval_every = a.eval_every;
  o.patience = a.patience;
  o.tv_weight = a.tv_weight;
  o.l1_weight = a.l1_weight;
  o.seed = a.seed;
  o.precision = a.precision;
  o.threads =
      a.threads ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.progress = !a.no_progress;
  o.progress_file = a.progress_file;
  if (a.output.empty()) throw UsageError("-o DIR is required (except with --list)");
  if (a.jobs != 1) {
    // Processes of their own for the cuts this run takes, when there are several.
    // A model or --cuts that selects nothing is left to the attack in this
    // process, which says what is wrong with it (not an image model, no such cut).
    std::vector<Cut> cuts;
    if (auto g = load_onnx(a.model); g) try {
        cuts = select_cuts(specialize_for_cuts(g.value()), a.cuts);
      } catch (const Error&) {
      }
    std::vector<std::string> names;
    std::vector<size_t> mine;
    for (size_t i = 0; i < cuts.size(); ++i) {
      names.push_back(cuts[i].name);
      if (in_shard(i, o.shard_index, o.shard_count)) mine.push_back(i);
    }
    const std::vector<std::string> attacks = attacks_in_order(o.attacks);  // heaviest first
    const int jobs = static_cast<int>(
        std::min<size_t>(a.jobs > 0 ? a.jobs : o.threads, mine.size() * attacks.size()));
    if (jobs > 1) {
      torch_plugin();  // says what is missing before any process starts
      return attack_with_jobs(a, names, mine, attacks, o.threads, jobs);
    }
  }
  o.output = a.output;
  o.command = a.command;
  std::string error;
  if (!torch_plugin().attack(o, &error)) fail(error);
  return 0;
}

struct MergeArgs {
  std::vector<std::string> dirs;
  std::string output, command;
};

int merge(const MergeArgs& a) {
  std::string error;
  if (!torch_plugin().merge(a.dirs, a.output, a.command, &error)) fail(error);
  const nlohmann::json merged =
      nlohmann::json::parse(read_file(a.output + "/attack.json", size_t{256} << 20));
  std::printf("wrote %s/attack.json (%zu cuts from %zu folders)\n", a.output.c_str(),
              merged["cuts"].size(), a.dirs.size());
  return 0;
}

// The command line as typed, for attack.json (CLI11 does not keep argv).
std::string g_command;

}  // namespace

Subcommand add_attack_command(CLI::App& root) {
  auto a = std::make_shared<AttackArgs>();
  CLI::App* app = root.add_subcommand(
      "attack",
      "reconstruction attacks on the feature map each cut exposes: c-GAN, inversion network, "
      "white-box optimisation; SSIM/PSNR per cut, linear probe (docs/privacy.md)");
  app->add_option("model", a->model, "the model (ONNX) to attack")->required();
  app->add_option("--dataset", a->dataset, "a data set spec (teesplit data --help)")
      ->capture_default_str();
  app->add_option("--cuts", a->cuts,
                  "all (every valid cut), blocks (the first conv's output and the end of each "
                  "stage) or a comma list of cut names/indices (teesplit cuts)")
      ->capture_default_str();
  app->add_option("--attacks", a->attacks, "comma list of cgan, inversion, optimization")
      ->capture_default_str();
  app->add_option("--steps", a->steps, "training step budget of cgan and inversion")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))
      ->capture_default_str();
  app->add_option("--opt-steps", a->opt_steps, "iteration budget of the optimisation attack")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))
      ->capture_default_str();
  app->add_option("--aux", a->aux, "auxiliary (attacker) samples, from the train split")
      ->check(CLI::Range(int64_t{20}, int64_t{100000000}))
      ->capture_default_str();
  app->add_option("--victims", a->victims, "victim samples, from the test split")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->capture_default_str();
  app->add_option("--batch", a->batch)
      ->check(CLI::Range(int64_t{2}, int64_t{4096}))
      ->capture_default_str();
  app->add_option("--decoder-width", a->width, "channels of the decoder's first stage")
      ->check(CLI::Range(int64_t{8}, int64_t{1024}))
      ->capture_default_str();
  app->add_option("--eval-every", a->eval_every, "validation period in steps")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  app->add_option("--patience", a->patience,
                  "stop after this many evaluations without a validation SSIM gain > 0.002")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app->add_option("--tv-weight", a->tv_weight,
                  "optimisation: total-variation prior weight (< 0: the best of 0.02, 0.1, 0.5, 2 "
                  "on 32 auxiliary samples)")
      ->check(CLI::Range(-1.0, 1000.0))
      ->capture_default_str();
  app->add_option("--l1-weight", a->l1_weight, "c-GAN: lambda of adversarial + lambda * L1")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app->add_option("--shard", a->shard, "I/N: attack every N-th selected cut, starting at I")
      ->capture_default_str();
  add_seed_option(app, &a->seed);
  add_threads_option(app, &a->threads);
  app->add_option("--jobs", a->jobs,
                  "attack processes at a time, each on one attack of one cut with --threads / N "
                  "threads (0: as many as --threads, at most one per cut and attack; 1: "
                  "everything in this process)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  // Set by a parent `teesplit attack --jobs` for its children: their progress
  // line goes to this file, which the parent shows.
  app->add_option("--progress-file", a->progress_file)->group("");
  add_precision_option(app, &a->precision,
                       "the front partition's precision, as the enclave would run it (the "
                       "feature maps attacked)");
  app->add_flag("--no-progress", a->no_progress, "no progress bar on stderr");
  app->add_flag("--list", a->list, "print the cuts that --cuts and --shard select, and exit");
  app->add_option("-o,--output", a->output, "the output directory (kept results are reused)");
  return {app, [a] {
            a->command = g_command;
            return attack(*a);
          }};
}

Subcommand add_attack_merge_command(CLI::App& root) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* app = root.add_subcommand(
      "attack-merge", "join the attack.json of several `teesplit attack --shard` directories");
  app->add_option("dirs", a->dirs, "the shard output directories")->required();
  app->add_option("-o,--output", a->output, "the merged output directory")->required();
  return {app, [a] {
            a->command = g_command;
            return merge(*a);
          }};
}

void set_attack_command_line(int argc, char** argv) {
  g_command = shell_line(std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
}

}  // namespace teesplit
