#include "enclave/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/numbers.h"
#include "core/sanitizers.h"  // TEESPLIT_ASAN

namespace teesplit::enclave {

// The allow-list. Everything a warmed-up worker does from then on is I/O on
// descriptors it already holds, memory management, waiting, time and
// randomness. Nothing here opens a file, creates a process, thread or socket,
// executes code or changes credentials, signal handlers or prctl state
// (prctl would undo PR_SET_DUMPABLE). mmap, mprotect, tgkill and newfstatat are
// added with argument checks in apply_seccomp_allow_list().
const std::vector<std::string> kAllowedSyscalls = {
    // I/O on descriptors opened before the lockdown (the host's socket, stdio).
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    // The host channel: send()/recv() are sendto/recvfrom; sendmsg/recvmsg for
    // scatter-gather. Without socket()/connect() they reach only held sockets.
    "recvmsg",
    "sendmsg",
    "recvfrom",
    "sendto",
    // Dropping a descriptor never grants access.
    "close",
    // glibc's stdio queries a stream with fstat on first use.
    "fstat",
    // Giving memory back and growing it: free(), realloc() of large blocks,
    // glibc's trimming (MADV_DONTNEED), the main heap.
    "munmap",
    "mremap",
    "madvise",
    "brk",
    // OpenMP barriers and pools, mutexes and condition variables.
    "futex",
    // OpenMP's spin-wait yields; libgomp and oneDNN read the CPU set.
    "sched_yield",
    "sched_getaffinity",
    // Time (vDSO fallbacks), session expiry, sleeping, resuming a sleep.
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "clock_nanosleep",
    "nanosleep",
    "restart_syscall",
    // OpenSSL's RAND_bytes: nonces and ephemeral keys.
    "getrandom",
    // Returning from a signal handler; glibc masks signals around some calls.
    "rt_sigreturn",
    "rt_sigprocmask",
    // Waiting on the host channel.
    "poll",
    "ppoll",
    // Identity for logs and for tgkill to itself.
    "getpid",
    "gettid",
    // Ending a thread or the process.
    "exit",
    "exit_group",
};

namespace {

// ---- Landlock (raw system calls: glibc has no wrappers and Debian 12's
// linux/landlock.h stops at ABI 2) ----
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
constexpr uint32_t kLandlockCreateRulesetVersion = 1u << 0;

// struct landlock_ruleset_attr as of ABI 6; the kernel accepts a larger struct
// than it knows as long as the extra fields are zero, so the fields are only
// set when the ABI has them.
struct RulesetAttr {
  uint64_t handled_access_fs = 0;
  uint64_t handled_access_net = 0;  // ABI 4
  uint64_t scoped = 0;              // ABI 6
};

// Filesystem rights: ABI 1 has EXECUTE .. MAKE_SYM (bits 0-12), ABI 2 adds
// REFER (13), ABI 3 TRUNCATE (14), ABI 5 IOCTL_DEV (15).
uint64_t fs_rights(int abi) {
  uint64_t r = (1ull << 13) - 1;
  if (abi >= 2) r |= 1ull << 13;
  if (abi >= 3) r |= 1ull << 14;
  if (abi >= 5) r |= 1ull << 15;
  return r;
}
// ABI 4: BIND_TCP, CONNECT_TCP. ABI 6 scopes: ABSTRACT_UNIX_SOCKET, SIGNAL.
uint64_t net_rights(int abi) {
  return abi >= 4 ? 0x3 : 0;
}
uint64_t scopes(int abi) {
  return abi >= 6 ? 0x3 : 0;
}

std::string errno_text(int e) {
  return std::string(std::strerror(e)) + " (errno " + std::to_string(e) + ")";
}

// One lockdown at a time per process (the handler below uses globals).
std::mutex g_lockdown_mutex;

// Applying a Landlock domain to the other threads: each restricts itself in a
// signal handler and records the result here.
constexpr int kMaxThreads = 4096;
std::atomic<int> g_ruleset_fd{-1};
std::atomic<int> g_acks{0};
std::atomic<pid_t> g_ack_tid[kMaxThreads];
std::atomic<int> g_ack_errno[kMaxThreads];

void restrict_thread_handler(int) {
  const int saved = errno;
  long r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (r == 0) r = syscall(__NR_landlock_restrict_self, g_ruleset_fd.load(), 0);
  const int e = r == 0 ? 0 : errno;
  const int slot = g_acks.fetch_add(1);
  if (slot < kMaxThreads) {
    g_ack_errno[slot].store(e);
    g_ack_tid[slot].store(static_cast<pid_t>(syscall(SYS_gettid)));
  }
  errno = saved;
}

// The thread ids listed by an open /proc/self/task directory (read again from
// the start each time; the descriptor was opened before the lockdown).
std::set<pid_t> list_threads(DIR* dir) {
  std::set<pid_t> tids;
  rewinddir(dir);
  while (dirent* d = readdir(dir)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    tids.insert(static_cast<pid_t>(std::atoi(d->d_name)));
  }
  return tids;
}

void sleep_ms(int ms) {
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
}

// Every other thread of the process applies the ruleset (in a signal handler),
// then the calling thread. Throws Error naming the thread that failed.
void restrict_all_threads(int ruleset_fd) {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) fail("cannot list the threads (/proc/self/task): ", errno_text(errno));
  const int sig = SIGRTMIN + 4;
  struct sigaction sa {
  }, old{};
  sa.sa_handler = restrict_thread_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, &old) != 0) {
    closedir(dir);
    fail("sigaction: ", errno_text(errno));
  }
  g_ruleset_fd.store(ruleset_fd);
  g_acks.store(0);
  const pid_t pid = getpid();
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  std::set<pid_t> done{self};
  std::string error;
  // New threads may appear while we work (started by a not yet restricted
  // thread): repeat until a listing shows none we have not handled.
  for (int round = 0; round < 20 && error.empty(); ++round) {
    std::set<pid_t> pending;
    for (pid_t t : list_threads(dir))
      if (!done.count(t)) pending.insert(t);
    if (pending.empty()) break;
    std::set<pid_t> signalled;
    for (pid_t t : pending) {
      if (syscall(SYS_tgkill, pid, t, sig) == 0)
        signalled.insert(t);
      else if (errno != ESRCH)
        error = "cannot signal thread " + std::to_string(t) + ": " + errno_text(errno);
      done.insert(t);  // handled, or gone (ESRCH)
    }
    // Wait (up to 5 s) until each signalled thread has answered or exited.
    for (int waited = 0; error.empty() && !signalled.empty(); waited += 1) {
      const int n = std::min(g_acks.load(), kMaxThreads);
      for (int i = 0; i < n; ++i) {
        const pid_t t = g_ack_tid[i].load();
        if (!signalled.count(t)) continue;
        if (const int e = g_ack_errno[i].load())
          error = "thread " + std::to_string(t) + " could not apply it: " + errno_text(e);
        signalled.erase(t);
      }
      for (auto it = signalled.begin(); it != signalled.end();)
        it = (syscall(SYS_tgkill, pid, *it, 0) != 0 && errno == ESRCH) ? signalled.erase(it)
                                                                       : std::next(it);
      if (signalled.empty()) break;
      if (waited >= 5000) {
        error = "thread " + std::to_string(*signalled.begin()) +
                " did not answer (signal blocked?) within 5 s";
        break;
      }
      sleep_ms(1);
    }
  }
  sigaction(sig, &old, nullptr);
  if (error.empty()) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
      error = "PR_SET_NO_NEW_PRIVS: " + errno_text(errno);
    else if (syscall(__NR_landlock_restrict_self, ruleset_fd, 0) != 0)
      error = "landlock_restrict_self: " + errno_text(errno);
  }
  if (error.empty()) {
    for (pid_t t : list_threads(dir))
      if (!done.count(t)) error = "thread " + std::to_string(t) + " appeared during the lockdown";
  }
  closedir(dir);
  if (!error.empty()) fail(error);
}

// Runs one step; on failure either throws (fail closed) or records it.
template <class F>
void run_step(const char* step, const LockdownOptions& opts, LockdownReport& report, F&& fn) {
  std::string what;
  try {
    if (opts.test_fail_step == step) fail("forced failure (test hook)");
    what = fn();
  } catch (const std::exception& e) {
    if (!opts.insecure)
      fail("lockdown step ", step, " failed: ", e.what(),
           " (the worker refuses to run without it; --insecure runs it anyway and says so in its "
           "quote and logs)");
    report.failed.push_back(std::string(step) + ": " + e.what());
    report.insecure = true;
    return;
  }
  report.applied.push_back(what);
}

bool has_cap_ipc_lock() {
  __user_cap_header_struct hdr{};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  return (data[CAP_IPC_LOCK / 32].effective >> (CAP_IPC_LOCK % 32)) & 1u;
}

// VmLck of /proc/self/status in bytes (0 when it cannot be read).
size_t locked_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmLck:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

std::string limit_text(rlim_t v) {
  return v == RLIM_INFINITY ? std::string("unlimited") : human_bytes(static_cast<double>(v));
}

}  // namespace

std::string LockdownReport::summary() const {
  std::ostringstream os;
  if (gramine) {
    os << "gramine: isolation by SGX";
    return os.str();
  }
  os << (insecure ? "INSECURE: " : "locked down: ");
  for (size_t i = 0; i < applied.size(); ++i) os << (i ? ", " : "") << applied[i];
  if (!failed.empty()) {
    os << (applied.empty() ? "" : "; ") << "failed: ";
    for (size_t i = 0; i < failed.size(); ++i) os << (i ? "; " : "") << failed[i];
  }
  return os.str();
}

bool running_under_gramine(const std::string& probe) {
  return !probe.empty() && access(probe.c_str(), F_OK) == 0;
}

int landlock_abi(std::string* why) {
  const long abi = syscall(__NR_landlock_create_ruleset, nullptr, 0, kLandlockCreateRulesetVersion);
  if (abi >= 1) return static_cast<int>(abi);
  if (why) {
    const int e = errno;
    if (e == ENOSYS)
      *why = "the kernel was built without Landlock (CONFIG_SECURITY_LANDLOCK)";
    else if (e == EOPNOTSUPP)
      *why = "Landlock is disabled at boot (add landlock to the kernel's lsm= list)";
    else
      *why = "landlock_create_ruleset(VERSION): " + errno_text(e);
  }
  return 0;
}

std::string apply_landlock_no_files(int* abi_out) {
  std::string why;
  const int abi = landlock_abi(&why);
  if (abi < 1) fail(why);
  RulesetAttr attr;
  attr.handled_access_fs = fs_rights(abi);
  attr.handled_access_net = net_rights(abi);
  attr.scoped = scopes(abi);
  const long fd = syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
  if (fd < 0) fail("landlock_create_ruleset (ABI ", abi, "): ", errno_text(errno));
  try {
    restrict_all_threads(static_cast<int>(fd));
  } catch (...) {
    close(static_cast<int>(fd));
    throw;
  }
  close(static_cast<int>(fd));
  if (abi_out) *abi_out = abi;
  std::ostringstream os;
  os << "landlock abi " << abi << " (no file access: fs rights 0x" << std::hex
     << attr.handled_access_fs;
  if (attr.handled_access_net) os << ", tcp bind/connect";
  if (attr.scoped) os << ", scoped abstract unix sockets and signals";
  os << ")";
  return os.str();
}

std::string apply_seccomp_allow_list(const std::vector<std::string>& extra_syscalls) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) fail("seccomp_init failed");
  std::string error;
  auto check = [&](int rc, const std::string& what) {
    if (rc < 0 && error.empty()) error = what + ": " + errno_text(-rc);
  };
  // Every thread gets the filter (and no_new_privs).
  check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1), "seccomp_attr_set(TSYNC)");
  int count = 0;
  auto allow = [&](const std::string& name) {
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) {
      if (error.empty()) error = "unknown system call '" + name + "'";
      return;
    }
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), "allow " + name);
    ++count;
  };
  for (const std::string& name : kAllowedSyscalls) allow(name);
#if TEESPLIT_ASAN
  // AddressSanitizer builds only (TEESPLIT_SANITIZE): its runtime queries and sets
  // the thread's alternate signal stack around intercepted calls, and probes
  // whether memory is readable by writing it into a pipe of its own.
  for (const char* name : {"sigaltstack", "pipe2"}) allow(name);
#endif
  for (const std::string& name : extra_syscalls) allow(name);
  // Memory for malloc and oneDNN's buffers, never executable: the JIT kernels
  // were made during the warm-up, and no new code may appear afterwards.
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
        "allow mmap");
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
        "allow mprotect");
  // abort() and raise() signal the process itself, and only itself.
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                         SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()), 0)),
        "allow tgkill");
  // glibc's fstat() is newfstatat(fd, "", buf, AT_EMPTY_PATH). With the flag
  // set it stats a descriptor; a path it could still name only yields
  // metadata, never an open file.
  check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                         SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)),
        "allow newfstatat");
  count += 4;
  if (error.empty()) check(seccomp_load(ctx), "seccomp_load");
  seccomp_release(ctx);
  if (!error.empty()) fail(error);
  return "seccomp allow-list (" + std::to_string(count) + " system calls, others kill the process)";
}

LockdownReport lock_down(const LockdownOptions& opts) {
  std::lock_guard<std::mutex> lock(g_lockdown_mutex);
  LockdownReport report;
  if (running_under_gramine(opts.gramine_probe)) {
    // Gramine implements none of these calls; the enclave boundary is SGX's.
    report.gramine = true;
    report.applied.push_back("gramine: isolation by SGX");
    return report;
  }
  run_step("dumpable", opts, report, [] {
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
      fail("prctl(PR_SET_DUMPABLE, 0): ", errno_text(errno));
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) fail("PR_GET_DUMPABLE is still not 0");
    return std::string("dumpable=0");
  });
  run_step("no_new_privs", opts, report, [] {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
      fail("prctl(PR_SET_NO_NEW_PRIVS, 1): ", errno_text(errno));
    return std::string("no_new_privs");
  });
  run_step("landlock", opts, report, [&] { return apply_landlock_no_files(&report.landlock_abi); });
  run_step("seccomp", opts, report, [&] { return apply_seccomp_allow_list(opts.extra_syscalls); });
  return report;
}

// ---- RLIMIT_MEMLOCK ----

void check_memlock(size_t needed) {
  if (has_cap_ipc_lock()) return;  // CAP_IPC_LOCK: the limit does not apply
  rlimit rl{};
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) fail("getrlimit(RLIMIT_MEMLOCK): ", errno_text(errno));
  if (rl.rlim_cur == RLIM_INFINITY) return;
  const size_t locked = locked_bytes();
  if (needed <= rl.rlim_cur && locked <= rl.rlim_cur - needed) return;
  fail("the worker needs ", human_bytes(static_cast<double>(needed)),
       " of locked memory (memfd_secret pages count against RLIMIT_MEMLOCK",
       locked ? ", and " + human_bytes(static_cast<double>(locked)) + " are locked already" : "",
       ") but RLIMIT_MEMLOCK is ", limit_text(rl.rlim_cur), " (hard limit ",
       limit_text(rl.rlim_max),
       "); raise it for the worker: the launcher calls raise_memlock_for_child() (root), or "
       "`ulimit -l ",
       (needed + locked + 1023) / 1024,
       "` in the shell that starts it, `prlimit --memlock=", needed + locked,
       " --pid PID`, systemd's LimitMEMLOCK=, or a memlock line in "
       "/etc/security/limits.conf");
}

int raise_memlock_for_child(size_t bytes) noexcept {
  rlimit rl{};
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return errno;
  const rlim_t want = static_cast<rlim_t>(bytes);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) rl.rlim_cur = want;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) rl.rlim_max = rl.rlim_cur;
  return setrlimit(RLIMIT_MEMLOCK, &rl) == 0 ? 0 : errno;
}

void raise_memlock_of(pid_t pid, size_t bytes) {
  rlimit rl{};
  if (prlimit(pid, RLIMIT_MEMLOCK, nullptr, &rl) != 0)
    fail("prlimit(", pid, ", RLIMIT_MEMLOCK): ", errno_text(errno));
  const rlim_t want = static_cast<rlim_t>(bytes);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) rl.rlim_cur = want;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) rl.rlim_max = rl.rlim_cur;
  if (prlimit(pid, RLIMIT_MEMLOCK, &rl, nullptr) != 0)
    fail("cannot raise RLIMIT_MEMLOCK of process ", pid, " to ", human_bytes(double(bytes)), ": ",
         errno_text(errno),
         errno == EPERM ? " (raising the hard limit needs CAP_SYS_RESOURCE)" : "");
}

int drop_to_user_keeping_ipc_lock(uid_t uid, gid_t gid) noexcept {
  // Keep the permitted set across the uid change, then narrow it to CAP_IPC_LOCK.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return errno;
  if (setgroups(0, nullptr) != 0) return errno;
  if (setresgid(gid, gid, gid) != 0) return errno;
  if (setresuid(uid, uid, uid) != 0) return errno;
  __user_cap_header_struct hdr{};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  const uint32_t bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].permitted = bit;
  data[CAP_IPC_LOCK / 32].effective = bit;
  data[CAP_IPC_LOCK / 32].inheritable = bit;
  if (syscall(SYS_capset, &hdr, data) != 0) return errno;
  // Ambient: kept by exec of an ordinary (not setuid, no file capabilities) binary.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_IPC_LOCK, 0, 0) != 0) return errno;
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return errno;
  return 0;
}

AmxPermission request_amx_permission() {
  AmxPermission r;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
    r.cpu_has_amx = (edx >> 24 & 1u) && (edx >> 22 & 1u);
  if (!r.cpu_has_amx) {
    r.detail = "this CPU has no AMX (bf16 runs on AVX512_BF16 where the CPU has it)";
    return r;
  }
  constexpr int kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023, kXtileData = 18;
  const long req = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXtileData);
  const int req_errno = errno;
  unsigned long bits = 0;
  const long got = syscall(SYS_arch_prctl, kArchGetXcompPerm, &bits);
  r.granted = got == 0 && (bits >> kXtileData & 1ul);
  r.detail = r.granted ? std::string("AMX tile data permitted (arch_prctl ARCH_REQ_XCOMP_PERM)")
                       : std::string("AMX permission refused: arch_prctl(ARCH_REQ_XCOMP_PERM) ") +
                             (req == 0 ? "succeeded but XTILEDATA is not permitted"
                                       : std::string("failed: ") + std::strerror(req_errno));
  return r;
}

}  // namespace teesplit::enclave
