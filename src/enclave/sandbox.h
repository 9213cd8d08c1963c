// The worker's lockdown: after it has loaded and warmed up its front partition,
// the trusted worker gives up everything it no longer needs (docs/threat-model.md,
// "The sandboxed worker (simulated enclave)"). In this order:
//   1. PR_SET_DUMPABLE 0: no core dumps; same-uid processes can no longer ptrace
//      it or read /proc/PID/mem (root still can: only memfd_secret pages are
//      hidden from root, src/enclave/secret_arena.h).
//   2. PR_SET_NO_NEW_PRIVS 1: exec can never gain privileges; required by
//      Landlock and unprivileged seccomp.
//   3. Landlock: a ruleset that handles every filesystem access right the running
//      kernel's ABI knows (and TCP bind/connect, abstract Unix sockets and
//      signals where the ABI has them) with no rule: no file can be opened any
//      more. Applied to every thread of the process.
//   4. seccomp: an allow-list (libseccomp), default action: kill the process.
//      Synchronised to every thread (TSYNC).
// Fail closed: outside Gramine, a step that fails throws an Error naming it,
// unless LockdownOptions::insecure, in which case the report lists it and
// LockdownReport::insecure is true (the worker puts that in its quote and logs).
//
// Under Gramine-SGX these kernel calls are not implemented and SGX isolates the
// enclave: lock_down() skips them and reports "gramine: isolation by SGX".
// Contract for the caller: a worker whose report says gramine must take its
// quote from Gramine's /dev/attestation/quote (a genuine DCAP quote), never
// from the simulated signer; then a host that fakes /dev/attestation to make
// the worker skip its lockdown gains nothing a verifier would accept.
//
// Warm-up first. Call lock_down() after every thread the worker will ever use
// exists (OpenMP's pool is created by the warm-up run; afterwards clone kills
// the process), after every oneDNN primitive it will run was created (JIT code
// needs PROT_EXEC, refused afterwards), after OpenSSL's first use (it reads
// openssl.cnf and seeds its generator lazily: one RAND_bytes and one AES-GCM
// seal before the lockdown; openat afterwards kills the process), after AMX
// permission (arch_prctl), after the MemfdSecretArena exists (memfd_secret is
// not on the list) and after stdio has been used once.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace teesplit::enclave {

struct LockdownOptions {
  // Tolerate failed steps (recorded in the report) instead of throwing.
  bool insecure = false;
  // System calls allowed on top of kAllowedSyscalls (names as libseccomp knows
  // them, e.g. "epoll_wait"); an unknown name is an error of the seccomp step.
  std::vector<std::string> extra_syscalls;
  // Gramine detection probes this file (it exists only under Gramine on an SGX
  // host: /dev/attestation/attestation_type). Tests point it elsewhere.
  std::string gramine_probe = "/dev/attestation/attestation_type";
  // Test hook: this step ("dumpable", "no_new_privs", "landlock", "seccomp")
  // fails as if the kernel had refused it, and is not applied.
  std::string test_fail_step;
};

struct LockdownReport {
  bool gramine = false;              // running under Gramine-SGX: kernel steps skipped
  bool insecure = false;             // a step failed and LockdownOptions::insecure let it pass
  int landlock_abi = 0;              // 0 when Landlock was not applied
  std::vector<std::string> applied;  // one line per step that took effect
  std::vector<std::string> failed;   // "STEP: why", one per failed step
  // One line for logs and quotes, e.g. "locked down: dumpable=0, no_new_privs, ..."
  // or "INSECURE: ... failed: seccomp: ...", or "gramine: isolation by SGX".
  std::string summary() const;
};

// The four steps in order (above). Throws Error("lockdown step STEP failed: ...")
// on the first failure unless opts.insecure. Not reentrant (one lockdown per process).
LockdownReport lock_down(const LockdownOptions& opts = {});

// AMX's tile data is off until a process asks the kernel for it
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); the seccomp allow
// list has no arch_prctl, so the worker asks before its lockdown. Without
// permission oneDNN silently runs bf16 on AVX-512 instead of AMX.
struct AmxPermission {
  bool cpu_has_amx = false;  // CPUID.(7,0):EDX bits 24 (AMX-TILE) and 22 (AMX-BF16)
  bool granted = false;      // ARCH_GET_XCOMP_PERM reports XTILEDATA
  std::string detail;        // one line for logs
};
AmxPermission request_amx_permission();

// True when `probe` (default: Gramine's /dev/attestation/attestation_type) exists.
bool running_under_gramine(const std::string& probe = "/dev/attestation/attestation_type");

// The Landlock ABI of the running kernel (LANDLOCK_CREATE_RULESET_VERSION), or
// 0 with the reason in *why (ENOSYS: kernel built without Landlock; EOPNOTSUPP:
// disabled at boot, "lsm=" lacks landlock).
int landlock_abi(std::string* why = nullptr);

// Step 3 alone, on every thread of the process: a Landlock domain that handles
// every access right of the running ABI and allows none. Throws Error on failure.
// Sets PR_SET_NO_NEW_PRIVS on every thread first (Landlock requires it). Returns
// a line describing what was handled.
std::string apply_landlock_no_files(int* abi_out = nullptr);

// Step 4 alone (every thread, TSYNC). Throws Error on failure. Returns a line
// saying how many system calls are allowed.
std::string apply_seccomp_allow_list(const std::vector<std::string>& extra_syscalls = {});

// The allow-list, by libseccomp name; the reasons are in sandbox.cpp.
extern const std::vector<std::string> kAllowedSyscalls;

// ---- RLIMIT_MEMLOCK: memfd_secret pages (and mlock) count against it ----

// Throws Error unless this process may lock `needed` more bytes: it holds
// CAP_IPC_LOCK (root does), or its locked memory plus `needed` fits its
// RLIMIT_MEMLOCK soft limit. The message names the limit and how to raise it.
void check_memlock(size_t needed);

// For the host's launcher, in the child between fork and exec (async-signal-safe:
// no allocation, no exception): raises this process's RLIMIT_MEMLOCK soft (and,
// when needed, hard) limit to at least `bytes`. Raising the hard limit needs
// CAP_SYS_RESOURCE (root). Returns 0 or the errno of setrlimit.
int raise_memlock_for_child(size_t bytes) noexcept;

// The same for a running process (prlimit(2)); throws Error on failure.
void raise_memlock_of(pid_t pid, size_t bytes);

// For a root launcher, in the child between fork and exec (async-signal-safe):
// drops to uid/gid (no supplementary groups) but keeps CAP_IPC_LOCK, as an
// ambient capability that survives exec, and no other capability. The worker
// then runs unprivileged (other users, and the host once it drops privileges
// too, cannot ptrace it) yet may lock as much memfd_secret memory as it needs,
// where RLIMIT_MEMLOCK's hard limit cannot be raised (root without
// CAP_SYS_RESOURCE, as in containers). Returns 0 or an errno.
int drop_to_user_keeping_ipc_lock(uid_t uid, gid_t gid) noexcept;

}  // namespace teesplit::enclave
