#include "tools/teesplit/children.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "core/error.h"
#include "core/file.h"

namespace teesplit {

std::string shell_line(const std::vector<std::string>& args) {
  std::string s = "teesplit";
  for (const std::string& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_./:=,@%+") == std::string::npos;
    if (plain) {
      s += " " + a;
      continue;
    }
    s += " '";
    for (char c : a) s += c == '\'' ? std::string("'\\''") : std::string(1, c);
    s += "'";
  }
  return s;
}

pid_t spawn_self(const std::vector<std::string>& args, const std::string& out_file,
                 const std::string& err_file) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<std::string> argv_s = {"teesplit"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string exe = running_executable();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  TS_CHECK(pid >= 0, "fork failed");
  if (pid == 0) {
    // Ended with this process (it may have gone already, before the prctl).
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(125);
    if (!out_file.empty() && !freopen(out_file.c_str(), "w", stdout)) _exit(126);
    if (!err_file.empty() && !freopen(err_file.c_str(), "w", stderr)) _exit(126);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int exit_code(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

int wait_for(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return exit_code(st);
}

}  // namespace teesplit
