#include "tools/teesplit/cli.h"

#include <cstdio>
#include <new>

#include "runtime/session.h"

namespace teesplit {
namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// The subcommand a failed parse was about: the first argument naming one.
std::string command_named(int argc, char** argv, const std::vector<Subcommand>& cmds) {
  for (int i = 1; i < argc; ++i)
    for (const Subcommand& c : cmds)
      if (c.app->get_name() == argv[i]) return c.app->get_name();
  return "";
}

void usage_error(const std::string& cmd, const std::string& msg) {
  const std::string where = cmd.empty() ? "teesplit" : "teesplit " + cmd;
  std::fprintf(stderr, "%s: usage error: %s (see %s --help)\n", where.c_str(),
               one_line(msg).c_str(), where.c_str());
}

void failure(const std::string& cmd, const std::string& msg) {
  std::fprintf(stderr, "teesplit %s: error: %s\n", cmd.c_str(), one_line(msg).c_str());
}

}  // namespace

std::string version_string() {
  std::string v = "teesplit " TEESPLIT_VERSION " (CUDA backend: ";
#ifdef TEESPLIT_HAVE_CUDA
  v += "yes";
#else
  v += "no";
#endif
  v += ", LibTorch: ";
#ifdef TEESPLIT_HAVE_TORCH
  v += "yes";
#else
  v += "no";
#endif
  return v + ")";
}

CLI::Option* add_backend_option(CLI::App* app, std::string* value, const std::string& what) {
  *value = "auto";
  return app
      ->add_option("--backend", *value,
                   what +
                       ": auto (CUDA when a device can be used, else cpu), cpu (oneDNN), "
                       "cuda, or reference (the plain C++ kernels)")
      ->check(CLI::IsMember({"auto", "cpu", "onednn", "cuda", "gpu", "reference", "ref"}))
      ->capture_default_str();
}

CLI::Option* add_threads_option(CLI::App* app, int* value) {
  *value = 0;
  return app->add_option("--threads", *value, "CPU threads (0: all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
}

CLI::Option* add_precision_option(CLI::App* app, std::string* value, const std::string& what) {
  *value = "fp32";
  return app->add_option("--precision", *value, what)
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

CLI::Option* add_seed_option(CLI::App* app, uint64_t* value) {
  *value = 0;
  return app->add_option("--seed", *value, "random seed (runs are repeatable)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

int cli_main(int argc, char** argv) {
  set_attack_command_line(argc, argv);
  CLI::App app{
      "teesplit: private DNN inference split between a TEE and an accelerator.\n"
      "With no command, teesplit runs the main job (teesplit demo).",
      "teesplit"};
  app.set_version_flag("--version", version_string(), "print the version and the build's parts");
  app.require_subcommand(0, 1);
  app.footer("Each command takes -h/--help. Documentation: docs/usage.md");
  std::vector<Subcommand> cmds = {
      add_demo_command(app),    add_run_command(app),          add_bench_command(app),
      add_info_command(app),    add_cuts_command(app),         add_split_command(app),
      add_zoo_command(app),     add_data_command(app),         add_train_command(app),
      add_keygen_command(app),  add_serve_command(app),        add_attest_command(app),
      add_infer_command(app),   add_provision_command(app),    add_gramine_command(app),
      add_profile_command(app), add_plan_command(app),         add_report_command(app),
      add_attack_command(app),  add_attack_merge_command(app),
  };
  // The back partition on a KServe v2 server (serve --back): serving it, and Triton's repository.
  cmds.push_back(add_serve_back_command(app));
  cmds.push_back(add_triton_repo_command(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage_error(command_named(argc, argv, cmds), e.what());
    return 2;
  }
  const Subcommand* chosen = &cmds[0];  // the demo when no command is given
  for (const Subcommand& c : cmds)
    if (c.app->parsed()) chosen = &c;
  const std::string name = chosen->app->get_name();
  try {
    return chosen->run();
  } catch (const UsageError& e) {
    usage_error(name, e.what());
    return 2;
  } catch (const Error& e) {
    failure(name, e.what());
  } catch (const std::bad_alloc&) {
    failure(name, "out of memory");
  } catch (const std::exception& e) {
    failure(name, e.what());
  }
  return 1;
}

}  // namespace teesplit
