// The teesplit command line on CLI11: one subcommand per job. Each cmd_*.cpp
// registers its subcommand (options bound to its own argument struct) and the
// function that runs it. Conventions every subcommand keeps (docs/usage.md):
// -h/--help everywhere (exit 0); usage errors are one line and exit 2; failures
// are one line ("teesplit CMD: error: ...") and exit 1; -o/--output names every
// file or folder a command writes; --key FILE every key file; --backend
// (default auto), --threads (default 0: all cores) and --seed (default 0) mean
// the same everywhere.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace teesplit {

// A command line that parses but cannot be run as asked (a missing model, two
// options that exclude each other): main() prints it like CLI11's errors and
// exits 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;  // called when app was parsed; returns the exit code
};

// One registration function per subcommand (cmd_*.cpp).
Subcommand add_run_command(CLI::App& root);
Subcommand add_bench_command(CLI::App& root);
Subcommand add_info_command(CLI::App& root);
Subcommand add_cuts_command(CLI::App& root);
Subcommand add_split_command(CLI::App& root);
Subcommand add_zoo_command(CLI::App& root);
Subcommand add_data_command(CLI::App& root);
Subcommand add_train_command(CLI::App& root);  // LibTorch builds; else explains
Subcommand add_demo_command(CLI::App& root);
Subcommand add_keygen_command(CLI::App& root);
Subcommand add_serve_command(CLI::App& root);        // the untrusted host (gRPC)
Subcommand add_serve_back_command(CLI::App& root);   // a back partition over KServe v2
Subcommand add_triton_repo_command(CLI::App& root);  // the back partition for Triton
Subcommand add_attest_command(CLI::App& root);       // the client's commands
Subcommand add_infer_command(CLI::App& root);
Subcommand add_provision_command(CLI::App& root);
Subcommand add_gramine_command(CLI::App& root);  // the enclave's Gramine manifest
Subcommand add_profile_command(CLI::App& root);  // the cut planner: measure, then choose
Subcommand add_plan_command(CLI::App& root);
Subcommand add_report_command(CLI::App& root);  // the HTML report of attack results
Subcommand add_attack_command(CLI::App& root);  // reconstruction attacks (LibTorch builds)
Subcommand add_attack_merge_command(CLI::App& root);
// Keeps the command line for attack.json ("teesplit attack ...", shell-quoted).
void set_attack_command_line(int argc, char** argv);

// The whole CLI: parses argv and runs the subcommand (the demo when there is
// none). Returns the process exit code; never throws.
int cli_main(int argc, char** argv);

// "teesplit 0.1.0 (CUDA backend: yes, LibTorch: no)".
std::string version_string();

// Options with the same name, meaning and default in every subcommand.
CLI::Option* add_backend_option(CLI::App* app, std::string* value, const std::string& what);
CLI::Option* add_threads_option(CLI::App* app, int* value);
CLI::Option* add_seed_option(CLI::App* app, uint64_t* value);
// --precision fp32|bf16 (default fp32); parse with parse_precision().
CLI::Option* add_precision_option(CLI::App* app, std::string* value, const std::string& what);

// Blocks SIGINT and SIGTERM in the calling thread and so in every thread it
// starts from then on (the servers call it first; forked children unblock them
// before exec). StopOnSignal then reads them from a signalfd.
void block_stop_signals();

// For the servers (serve, serve-back): on the first SIGINT or SIGTERM, says
// "WHO: SIGNAL: shutting down" on stderr and calls `stop` once, from a thread
// of its own. Both ways a signal can arrive are watched: pending while blocked
// everywhere (block_stop_signals; a signalfd), or caught by a thread that does
// not block it (a library's thread started earlier: a handler that writes to a
// pipe), which would otherwise die of it (exit 143). ThreadSanitizer defers a
// caught signal until the thread enters an intercepted call, which gRPC's idle
// threads never do: blocking makes the signalfd the path. One at a time; the
// destructor stops waiting and joins.
class StopOnSignal {
 public:
  StopOnSignal(std::string who, std::function<void()> stop);
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  std::thread waiter_;
};

}  // namespace teesplit
