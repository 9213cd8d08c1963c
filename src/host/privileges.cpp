#include "host/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "enclave/sandbox.h"

namespace teesplit {

std::string PrivilegeDrop::summary() const {
  return "running as user " + user + " (uid " + std::to_string(uid) + ", gid " +
         std::to_string(gid) + "), RLIMIT_MEMLOCK " + std::to_string(memlock_bytes >> 20) + " MiB" +
         (kept_ipc_lock ? "; kept CAP_IPC_LOCK only (the hard memlock limit could not be raised)"
                        : "; no capabilities");
}

namespace {

// The threads of this process whose uids or gids are not all `uid`/`gid`
// (/proc/self/task/TID/status), e.g. "1234 (Uid: 0 0 0 0)"; "" when none.
std::string threads_not_running_as(uid_t uid, gid_t gid) {
  const std::string want_uid = "Uid:\t" + std::to_string(uid) + "\t" + std::to_string(uid) + "\t" +
                               std::to_string(uid) + "\t" + std::to_string(uid);
  const std::string want_gid = "Gid:\t" + std::to_string(gid) + "\t" + std::to_string(gid) + "\t" +
                               std::to_string(gid) + "\t" + std::to_string(gid);
  std::string bad;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(e.path() / "status");
    std::string line;
    while (std::getline(status, line))
      if ((line.rfind("Uid:", 0) == 0 && line != want_uid) ||
          (line.rfind("Gid:", 0) == 0 && line != want_gid))
        bad += (bad.empty() ? "" : ", ") + e.path().filename().string() + " (" + line + ")";
  }
  return bad;
}

}  // namespace

PrivilegeDrop drop_privileges_to(const std::string& user, size_t memlock_bytes) {
  TS_CHECK(::geteuid() == 0, "--user ", user, ": only root can change user (running as uid ",
           ::geteuid(), ")");
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  const int e = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  TS_CHECK(e == 0 && found, "--user ", user, ": no such user",
           e ? std::string(" (") + std::strerror(e) + ")" : std::string());
  TS_CHECK(pw.pw_uid != 0, "--user ", user, ": that user is root; name an unprivileged user");

  PrivilegeDrop d;
  d.user = user;
  d.uid = pw.pw_uid;
  d.gid = pw.pw_gid;
  d.memlock_bytes = memlock_bytes;
  struct rlimit cur {};
  TS_CHECK(::getrlimit(RLIMIT_MEMLOCK, &cur) == 0, "getrlimit: ", std::strerror(errno));
  const bool hard_ok = cur.rlim_max == RLIM_INFINITY || cur.rlim_max >= memlock_bytes;
  const rlim_t soft =
      cur.rlim_cur != RLIM_INFINITY && cur.rlim_cur < memlock_bytes ? memlock_bytes : cur.rlim_cur;
  struct rlimit want = {soft, hard_ok ? cur.rlim_max : soft};
  const bool raised = ::setrlimit(RLIMIT_MEMLOCK, &want) == 0;
  TS_CHECK(raised || !hard_ok, "setrlimit(RLIMIT_MEMLOCK): ", std::strerror(errno));
  if (raised) {
    d.memlock_bytes = soft;
    TS_CHECK(::setgroups(0, nullptr) == 0, "setgroups: ", std::strerror(errno));
    TS_CHECK(::setresgid(d.gid, d.gid, d.gid) == 0, "setresgid: ", std::strerror(errno));
    TS_CHECK(::setresuid(d.uid, d.uid, d.uid) == 0, "setresuid: ", std::strerror(errno));
  } else {
    // No CAP_SYS_RESOURCE: the hard limit stays; CAP_IPC_LOCK lifts it instead.
    d.kept_ipc_lock = true;
    d.memlock_bytes = cur.rlim_cur;
    if (const int err = enclave::drop_to_user_keeping_ipc_lock(d.uid, d.gid))
      fail("--user ", user, ": dropping privileges failed: ", std::strerror(err));
  }
  uid_t r, ef, s;
  gid_t gr, ge, gs;
  TS_CHECK(::getresuid(&r, &ef, &s) == 0 && r == d.uid && ef == d.uid && s == d.uid &&
               ::getresgid(&gr, &ge, &gs) == 0 && gr == d.gid && ge == d.gid && gs == d.gid,
           "--user ", user, ": the uid or gid did not change");
  TS_CHECK(::setresuid(0, 0, 0) != 0, "--user ", user, ": root could be regained");
  // glibc changes the ids of every thread (threads a library started at load
  // time, such as OpenBLAS's, included); check each.
  const std::string stray = threads_not_running_as(d.uid, d.gid);
  TS_CHECK(stray.empty(), "--user ", user, ": threads kept other ids: ", stray);
  ::setenv("HOME", pw.pw_dir, 1);
  ::setenv("USER", pw.pw_name, 1);
  ::setenv("LOGNAME", pw.pw_name, 1);
  ::unsetenv("XDG_DATA_HOME");
  return d;
}

}  // namespace teesplit
