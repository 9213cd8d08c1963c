// The enclave worker's sandbox (src/enclave/): the memfd_secret arena against a
// model of its free space, and lock_down() observed from outside. Every test
// that locks a process down does so in a forked child, so that the test
// process itself stays unrestricted; the child reports through a pipe and its
// exit status. Skips only for missing kernel features (memfd_secret, Landlock,
// seccomp).
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/secret.h"
#include "core/tensor.h"
#include "crypto/primitives.h"
#include "enclave/sandbox.h"
#include "enclave/secret_arena.h"
#include "runtime/session.h"
#include "support/graph_builder.h"
#include "support/skip.h"
#include "support/test_support.h"

namespace teesplit::enclave {
namespace {

using teesplit::testing::Hardware;

// ---- running code in a child ----

struct ChildResult {
  int status = 0;
  std::string out;  // what the child wrote to its pipe
};

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    return std::string("killed by ") + (s == SIGSYS ? "SIGSYS" : strsignal(s));
  }
  return "status " + std::to_string(status);
}

bool exited_ok(const ChildResult& r) {
  return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
}

void say(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
    else if (n < 0 && errno == EINTR)
      continue;
    else
      break;
  }
  return out;
}

// Runs fn(out_fd) in a forked child; its return value is the exit code. An
// exception becomes "exception: ..." on the pipe and exit code 90.
ChildResult in_child(const std::function<int(int)>& fn) {
  int p[2];
  if (pipe(p) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(p[0]);
    int code = 91;
    try {
      code = fn(p[1]);
    } catch (const std::exception& e) {
      say(p[1], std::string("exception: ") + e.what() + "\n");
      code = 90;
    }
    _exit(code);
  }
  close(p[1]);
  ChildResult r;
  r.out = read_all(p[0]);
  close(p[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

// ---- features of this kernel ----

bool seccomp_supported(std::string* why) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Seccomp_filters:", 0) == 0 || line.rfind("Seccomp:", 0) == 0) return true;
  *why = "the kernel has no seccomp (no Seccomp: line in /proc/self/status)";
  return false;
}

#define REQUIRE_LANDLOCK()                            \
  do {                                                \
    std::string why_;                                 \
    if (landlock_abi(&why_) < 1) {                    \
      TS_SKIP_FOR_HARDWARE(Hardware::Landlock, why_); \
    }                                                 \
  } while (0)

// seccomp has no tag of its own in tests/support/skip.h; lock_down needs
// Landlock as well, and a kernel without seccomp filters predates Landlock.
#define REQUIRE_LOCKDOWN()                            \
  do {                                                \
    REQUIRE_LANDLOCK();                               \
    std::string why_;                                 \
    if (!seccomp_supported(&why_)) {                  \
      TS_SKIP_FOR_HARDWARE(Hardware::Landlock, why_); \
    }                                                 \
  } while (0)

#define REQUIRE_MEMFD_SECRET()                           \
  do {                                                   \
    std::string why_;                                    \
    if (!memfd_secret_available(&why_)) {                \
      TS_SKIP_FOR_HARDWARE(Hardware::MemfdSecret, why_); \
    }                                                    \
  } while (0)

// ======================= MemfdSecretArena =======================

// The free space as 64-byte units; first fit over coalesced free blocks picks
// the lowest run of free units that is long enough, so the model predicts the
// exact offset of every allocation.
struct FreeModel {
  std::vector<bool> used;
  explicit FreeModel(size_t capacity) : used(capacity / 64, false) {}
  // Offset in bytes of the first fit, or SIZE_MAX.
  size_t first_fit(size_t units) const {
    size_t run = 0;
    for (size_t i = 0; i < used.size(); ++i) {
      run = used[i] ? 0 : run + 1;
      if (run == units) return (i + 1 - units) * 64;
    }
    return SIZE_MAX;
  }
  void mark(size_t off, size_t bytes, bool v) {
    for (size_t i = off / 64; i < (off + bytes) / 64; ++i) used[i] = v;
  }
  std::vector<std::pair<size_t, size_t>> runs() const {
    std::vector<std::pair<size_t, size_t>> r;
    for (size_t i = 0; i < used.size();) {
      if (used[i]) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < used.size() && !used[j]) ++j;
      r.push_back({i * 64, (j - i) * 64});
      i = j;
    }
    return r;
  }
};

TEST(SecretArena, RandomPatternsMatchAModelOfFreeSpace) {
  REQUIRE_MEMFD_SECRET();
  auto arena = MemfdSecretArena::create(1 << 20);
  ASSERT_EQ(arena->capacity(), size_t{1} << 20);
  EXPECT_STREQ(arena->kind(), "memfd_secret");
  FreeModel model(arena->capacity());
  struct Live {
    uint8_t* p;
    size_t bytes;
    uint8_t tag;
  };
  std::vector<Live> live;
  std::mt19937_64 rng(42);
  int nulls = 0, allocs = 0;
  for (int step = 0; step < 20000; ++step) {
    const bool do_alloc = live.empty() || rng() % 100 < 55;
    if (do_alloc) {
      size_t bytes;
      switch (rng() % 10) {
        case 0:
          bytes = 0;
          break;
        case 1:
          bytes = 64 * (1 + rng() % 4);
          break;  // exact multiples
        case 2:
          bytes = 50000 + rng() % 200000;
          break;  // large
        default:
          bytes = 1 + rng() % 8000;
      }
      const size_t units = std::max<size_t>(1, (bytes + 63) / 64);
      const size_t want = model.first_fit(units);
      auto* p = static_cast<uint8_t*>(arena->allocate(bytes));
      if (want == SIZE_MAX) {
        ASSERT_EQ(p, nullptr) << "step " << step << ": the model has no room for " << bytes;
        ++nulls;
        continue;
      }
      ASSERT_NE(p, nullptr) << "step " << step << ": the model has room for " << bytes;
      ASSERT_EQ(static_cast<size_t>(p - static_cast<const uint8_t*>(arena->base())), want)
          << "step " << step << ": not the first fit";
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
      for (size_t i = 0; i < units * 64; ++i) ASSERT_EQ(p[i], 0) << "not zeroed at " << i;
      const auto tag = static_cast<uint8_t>(1 + rng() % 255);
      std::memset(p, tag, units * 64);
      model.mark(want, units * 64, true);
      live.push_back({p, bytes, tag});
      ++allocs;
    } else {
      const size_t k = rng() % live.size();
      Live l = live[k];
      live.erase(live.begin() + static_cast<long>(k));
      const size_t units = std::max<size_t>(1, (l.bytes + 63) / 64);
      for (size_t i = 0; i < units * 64; ++i)
        ASSERT_EQ(l.p[i], l.tag) << "block overwritten by another allocation";
      secure_wipe(l.p, units * 64);  // the SecretArena contract: wiped before it returns
      arena->deallocate(l.p, l.bytes);
      model.mark(static_cast<size_t>(l.p - static_cast<const uint8_t*>(arena->base())), units * 64,
                 false);
    }
    if (step % 500 == 0) {
      ASSERT_EQ(arena->free_blocks(), model.runs()) << "step " << step;
    }
  }
  EXPECT_GT(nulls, 0) << "the pattern never exhausted the arena";
  EXPECT_GT(allocs, 5000);
  for (const Live& l : live) arena->deallocate(l.p, l.bytes);
  const std::vector<std::pair<size_t, size_t>> one{{0, arena->capacity()}};
  EXPECT_EQ(arena->free_blocks(), one) << "freeing everything must coalesce into one block";
  EXPECT_EQ(arena->bytes_free(), arena->capacity());
}

TEST(SecretArena, ExhaustionAndAlignment) {
  REQUIRE_MEMFD_SECRET();
  auto arena = MemfdSecretArena::create(200000);  // rounded up to pages
  const size_t cap = arena->capacity();
  EXPECT_EQ(cap % static_cast<size_t>(sysconf(_SC_PAGESIZE)), 0u);
  EXPECT_GE(cap, 200000u);
  EXPECT_EQ(arena->allocate(cap + 1), nullptr);
  void* all = arena->allocate(cap);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all, arena->base());
  EXPECT_EQ(arena->allocate(1), nullptr);
  EXPECT_EQ(arena->largest_free_block(), 0u);
  arena->deallocate(all, cap);
  // Odd sizes: every block is 64-byte aligned and they do not overlap.
  std::vector<std::pair<char*, size_t>> blocks;
  for (size_t s = 1; s < 3000; s += 37) {
    char* p = static_cast<char*>(arena->allocate(s));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << s;
    EXPECT_TRUE(arena->contains(p));
    if (!blocks.empty()) {
      EXPECT_GE(p, blocks.back().first + blocks.back().second);
    }
    blocks.push_back({p, s});
  }
  for (auto& [p, s] : blocks) arena->deallocate(p, s);
  EXPECT_EQ(arena->largest_free_block(), cap);
  // A hole in the middle is reused first (first fit), the tail stays free.
  void* a = arena->allocate(640);
  void* b = arena->allocate(640);
  void* c = arena->allocate(640);
  arena->deallocate(b, 640);
  EXPECT_EQ(arena->allocate(100), b);
  arena->deallocate(a, 640);
  arena->deallocate(c, 640);
  arena->deallocate(b, 100);
  EXPECT_EQ(arena->free_blocks().size(), 1u);
}

TEST(SecretArena, ThreadsDoNotShareBlocks) {
  REQUIRE_MEMFD_SECRET();
  auto arena = MemfdSecretArena::create(4 << 20);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<uint8_t*, size_t>> mine;
      for (int i = 0; i < 3000; ++i) {
        if (mine.size() < 20 && rng() % 2) {
          const size_t n = 1 + rng() % 20000;
          auto* p = static_cast<uint8_t*>(arena->allocate(n));
          if (!p) continue;
          std::memset(p, 0x10 + t, n);
          mine.push_back({p, n});
        } else if (!mine.empty()) {
          auto [p, n] = mine.back();
          mine.pop_back();
          for (size_t k = 0; k < n; ++k)
            if (p[k] != 0x10 + t) {
              ++bad;
              break;
            }
          secure_wipe(p, n);
          arena->deallocate(p, n);
        }
      }
      for (auto [p, n] : mine) arena->deallocate(p, n);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(arena->free_blocks().size(), 1u);
}

TEST(SecretArena, InstalledArenaHoldsSecretsAndTensors) {
  REQUIRE_MEMFD_SECRET();
  auto arena = MemfdSecretArena::create(1 << 20);
  install_secret_arena(arena.get());
  {
    EXPECT_STREQ(secret_memory_kind(), "memfd_secret");
    SecretBytes key(32, 0x5A);
    Tensor t(DType::F32, {4, 100});
    EXPECT_TRUE(arena->contains(key.data()));
    EXPECT_TRUE(arena->contains(t.data<float>()));
    EXPECT_LT(arena->bytes_free(), arena->capacity());
  }
  install_secret_arena(nullptr);
  EXPECT_EQ(arena->bytes_free(), arena->capacity());
}

TEST(SecretArenaDeathTest, BadFreeAborts) {
  REQUIRE_MEMFD_SECRET();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto arena = MemfdSecretArena::create(1 << 16);
  char* p = static_cast<char*>(arena->allocate(256));
  EXPECT_DEATH(arena->deallocate(p + 64, 192), "not allocated");
  EXPECT_DEATH(arena->deallocate(p, 512), "size other than allocated");
  int x;
  EXPECT_DEATH(arena->deallocate(&x, 4), "outside the arena");
  arena->deallocate(p, 256);
}

// /proc/PID/mem of the arena's pages: EIO, while the heap next to it reads back.
struct MemRead {
  bool ok;
  int err;
  std::string bytes;
};
MemRead read_mem(pid_t pid, uintptr_t addr, size_t n) {
  const std::string path = "/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/mem";
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return {false, errno, {}};
  std::string buf(n, '\0');
  const ssize_t got = pread(fd, buf.data(), n, static_cast<off_t>(addr));
  const int e = errno;
  close(fd);
  if (got != static_cast<ssize_t>(n)) return {false, got < 0 ? e : 0, {}};
  return {true, 0, buf};
}

const char kPattern[] = "teesplit-secret-pattern-0123456789abcdef";

TEST(SecretArena, PagesUnreadableThroughProcSelfMem) {
  REQUIRE_MEMFD_SECRET();
  auto arena = MemfdSecretArena::create(1 << 16);
  char* secret = static_cast<char*>(arena->allocate(sizeof kPattern));
  std::memcpy(secret, kPattern, sizeof kPattern);
  std::vector<char> heap(kPattern, kPattern + sizeof kPattern);
  const MemRead h = read_mem(0, reinterpret_cast<uintptr_t>(heap.data()), sizeof kPattern);
  ASSERT_TRUE(h.ok) << "control: the heap must be readable, errno " << h.err;
  EXPECT_EQ(std::memcmp(h.bytes.data(), kPattern, sizeof kPattern), 0);
  const MemRead s = read_mem(0, reinterpret_cast<uintptr_t>(secret), sizeof kPattern);
  EXPECT_FALSE(s.ok) << "memfd_secret page read back through /proc/self/mem";
  EXPECT_EQ(s.err, EIO) << strerror(s.err);
  EXPECT_EQ(std::memcmp(secret, kPattern, sizeof kPattern), 0);  // the owner still can
  arena->deallocate(secret, sizeof kPattern);
}

TEST(SecretArena, PagesUnreadableEvenToRoot) {
  REQUIRE_MEMFD_SECRET();
  // The child fills a secret block and a heap block with the pattern, sends
  // both addresses and waits; the parent (root when the suite runs as root,
  // else the child's dumpable parent) reads both through /proc/CHILD/mem.
  int addr_pipe[2], go_pipe[2];
  ASSERT_EQ(pipe(addr_pipe), 0);
  ASSERT_EQ(pipe(go_pipe), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(addr_pipe[0]);
    close(go_pipe[1]);
    auto arena = MemfdSecretArena::create(1 << 16);
    char* secret = static_cast<char*>(arena->allocate(4096));
    auto* heap = static_cast<char*>(std::malloc(4096));
    std::memcpy(secret, kPattern, sizeof kPattern);
    std::memcpy(heap, kPattern, sizeof kPattern);
    uintptr_t addrs[2] = {reinterpret_cast<uintptr_t>(secret), reinterpret_cast<uintptr_t>(heap)};
    if (write(addr_pipe[1], addrs, sizeof addrs) != sizeof addrs) _exit(2);
    char c;
    (void)!read(go_pipe[0], &c, 1);
    _exit(std::memcmp(secret, kPattern, sizeof kPattern) == 0 ? 0 : 3);
  }
  close(addr_pipe[1]);
  close(go_pipe[0]);
  uintptr_t addrs[2] = {0, 0};
  ASSERT_EQ(read(addr_pipe[0], addrs, sizeof addrs), static_cast<ssize_t>(sizeof addrs));
  const MemRead heap = read_mem(pid, addrs[1], sizeof kPattern);
  const MemRead secret = read_mem(pid, addrs[0], sizeof kPattern);
  close(go_pipe[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  close(addr_pipe[0]);
  ASSERT_TRUE(heap.ok) << "control: root must read the child's heap, errno " << heap.err;
  EXPECT_EQ(std::memcmp(heap.bytes.data(), kPattern, sizeof kPattern), 0);
  EXPECT_FALSE(secret.ok) << "root read the child's memfd_secret page";
  EXPECT_EQ(secret.err, EIO) << strerror(secret.err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
  std::printf("%s reading /proc/%d/mem: heap block readable, memfd_secret block: %s\n",
              geteuid() == 0 ? "root" : "the parent", pid,
              secret.ok ? "READABLE" : strerror(secret.err));
}

// Drops to nobody (uid/gid 65534) when root; returns false on failure.
bool drop_to_nobody() {
  if (geteuid() != 0) return true;
  return setgroups(0, nullptr) == 0 && setresgid(65534, 65534, 65534) == 0 &&
         setresuid(65534, 65534, 65534) == 0;
}

TEST(SecretArena, MemlockLimitIsNamedAndMatchesTheKernel) {
  REQUIRE_MEMFD_SECRET();
  const ChildResult r = in_child([](int out) {
    // Without CAP_IPC_LOCK (root holds it), with a 1 MiB limit.
    if (!drop_to_nobody()) return say(out, "cannot drop privileges\n"), 2;
    rlimit rl{1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return say(out, "setrlimit failed\n"), 3;
    check_memlock(256 << 10);  // fits
    const std::string e1 = teesplit::testing::error_of([] { check_memlock(4 << 20); });
    const std::string e2 = teesplit::testing::error_of([] { MemfdSecretArena::create(4 << 20); });
    say(out, "check: " + e1 + "\ncreate: " + e2 + "\n");
    if (e1.find("RLIMIT_MEMLOCK is 1.0 MiB") == std::string::npos) return 4;
    if (e1.find("ulimit -l") == std::string::npos) return 5;
    if (e2.find("RLIMIT_MEMLOCK") == std::string::npos) return 6;
    // The kernel agrees: 512 KiB maps, 4 MiB is refused with EAGAIN.
    auto try_map = [](size_t n) {
      const int fd = static_cast<int>(syscall(447, 0));
      if (fd < 0 || ftruncate(fd, static_cast<off_t>(n)) != 0) return -1;
      void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      const int e = errno;
      close(fd);
      if (p == MAP_FAILED) return e;
      munmap(p, n);
      return 0;
    };
    if (try_map(512 << 10) != 0) return say(out, "512 KiB refused\n"), 7;
    const int e = try_map(4 << 20);
    say(out, "kernel, 4 MiB: " + std::string(e ? strerror(e) : "mapped") + "\n");
    if (e != EAGAIN) return 8;
    // An unprivileged process cannot raise its hard limit.
    if (raise_memlock_for_child(8 << 20) != EPERM) return 9;
    if (MemfdSecretArena::create(512 << 10)->capacity() != 512u << 10) return 10;
    return 0;
  });
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << "\n" << r.out;
  std::printf("%s", r.out.c_str());
}

bool has_capability(int cap) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return false;
}

TEST(SecretArena, RaiseMemlockForChild) {
  // Anyone may raise the soft limit up to the hard one; above it needs
  // CAP_SYS_RESOURCE (24), which root may lack in a container (it does here).
  const ChildResult r = in_child([](int out) {
    rlimit rl{};
    getrlimit(RLIMIT_MEMLOCK, &rl);
    if (rl.rlim_max == RLIM_INFINITY) return say(out, "hard limit unlimited\n"), 0;
    const rlim_t hard = rl.rlim_max;
    rl.rlim_cur = std::min<rlim_t>(hard, 1u << 20) / 2;
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 2;
    if (raise_memlock_for_child(hard) != 0) return 3;
    getrlimit(RLIMIT_MEMLOCK, &rl);
    if (rl.rlim_cur != hard) return 4;
    const int above = raise_memlock_for_child(hard + (64u << 20));
    const bool cap = has_capability(24);
    getrlimit(RLIMIT_MEMLOCK, &rl);
    say(out, std::string("CAP_SYS_RESOURCE ") + (cap ? "held" : "not held") +
                 "; raising above the hard limit: " + (above ? strerror(above) : "done") +
                 "; now " + std::to_string(rl.rlim_cur) + "/" + std::to_string(rl.rlim_max) + "\n");
    if (cap) return above == 0 && rl.rlim_cur >= hard + (64u << 20) ? 0 : 5;
    return above == EPERM ? 0 : 6;
  });
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << " " << r.out;
  std::printf("%s", r.out.c_str());
}

TEST(SecretArena, UnprivilegedWorkerKeepsIpcLockAcrossExec) {
  REQUIRE_MEMFD_SECRET();
  if (geteuid() != 0 || !has_capability(CAP_IPC_LOCK)) {
    // Without root the helper can only fail; it must say so, not pretend.
    EXPECT_NE(drop_to_user_keeping_ipc_lock(getuid(), getgid()), 0);
    return;
  }
  // In the child, as the launcher would: drop to nobody keeping CAP_IPC_LOCK,
  // with the default 8 MiB limit, then map 16 MiB of secret memory, then exec
  // a program that shows its capabilities.
  const ChildResult r = in_child([](int out) {
    rlimit rl{8u << 20, 8u << 20};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 2;
    if (const int e = drop_to_user_keeping_ipc_lock(65534, 65534))
      return say(out, std::string("drop: ") + strerror(e) + "\n"), 3;
    if (getuid() != 65534 || geteuid() != 65534 || getegid() != 65534) return 4;
    if (!has_capability(CAP_IPC_LOCK) || has_capability(CAP_SYS_PTRACE)) return 5;
    if (MemfdSecretArena::create(16u << 20)->capacity() != 16u << 20) return 6;
    dup2(out, 1);
    execl("/bin/grep", "grep", "-E", "^(Uid|CapEff|CapAmb):", "/proc/self/status", nullptr);
    return 7;
  });
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << " " << r.out;
  // After exec: uid 65534 and CAP_IPC_LOCK (bit 14) effective and ambient, nothing else.
  EXPECT_NE(r.out.find("Uid:\t65534\t65534\t65534\t65534"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapEff:\t0000000000004000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CapAmb:\t0000000000004000"), std::string::npos) << r.out;
  std::printf("after drop_to_user_keeping_ipc_lock and exec:\n%s", r.out.c_str());
}

// ======================= lock_down =======================

// (a) A system call outside the allow-list kills the locked-down child.
struct Forbidden {
  const char* name;
  std::function<void()> call;
};

TEST(Sandbox, CallsOutsideTheAllowListKillWithSigsys) {
  REQUIRE_LOCKDOWN();
  const std::vector<Forbidden> calls = {
      {"socket", [] { (void)!socket(AF_INET, SOCK_STREAM, 0); }},
      {"openat", [] { (void)!open("/etc/hostname", O_RDONLY); }},
      {"execve",
       [] {
         char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
         execve("/bin/true", argv, environ);
       }},
      {"clone (fork)", [] { (void)!syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }},
      {"mmap PROT_EXEC",
       [] {
         (void)!mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
       }},
      {"prctl (PR_SET_DUMPABLE 1)", [] { (void)!prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); }},
      {"ptrace", [] { (void)!ptrace(PTRACE_PEEKDATA, getppid(), nullptr, nullptr); }},
  };
  for (const Forbidden& f : calls) {
    // Control: without the lockdown the same call returns.
    const ChildResult control = in_child([&](int) {
      if (std::string(f.name) == "execve") return 0;  // would replace the child
      f.call();
      return 0;
    });
    EXPECT_TRUE(exited_ok(control)) << f.name << " (control): " << describe(control.status);
    const ChildResult r = in_child([&](int out) {
      lock_down();
      say(out, "locked down\n");
      f.call();
      say(out, std::string(f.name) + " returned\n");
      return 3;
    });
    EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS)
        << f.name << ": " << describe(r.status) << "\n"
        << r.out;
    EXPECT_EQ(r.out, "locked down\n") << f.name;
    std::printf("after lock_down, %s: child %s\n", f.name, describe(r.status).c_str());
  }
}

// (b) Landlock alone: no file or directory can be opened, created or made,
// on any thread; descriptors opened before keep working.
TEST(Sandbox, LandlockAloneDeniesEveryOpen) {
  REQUIRE_LANDLOCK();
  const std::string file = teesplit::testing::source_path("CMakeLists.txt");
  const std::string dir = teesplit::testing::generated_dir();
  const ChildResult r = in_child([&](int out) {
    const int before = open(file.c_str(), O_RDONLY);
    if (before < 0) return say(out, "control open failed\n"), 2;
    // Threads that exist before the lockdown, blocked until it is done.
    int gate[2];
    if (pipe(gate) != 0) return 3;
    std::atomic<int> denied{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
      threads.emplace_back([&] {
        char c;
        (void)!read(gate[0], &c, 1);
        const int fd = open(file.c_str(), O_RDONLY);
        if (fd < 0 && errno == EACCES)
          ++denied;
        else if (fd >= 0)
          close(fd);
      });
    int abi = 0;
    say(out, apply_landlock_no_files(&abi) + "\n");
    (void)!write(gate[1], "xxx", 3);
    for (auto& th : threads) th.join();
    int bad = 0;
    auto expect_eacces = [&](const char* what, int fd) {
      const int e = errno;
      say(out, std::string(what) + ": " + (fd >= 0 ? "OPENED" : strerror(e)) + "\n");
      if (fd >= 0 || e != EACCES) ++bad;
      if (fd >= 0) close(fd);
    };
    expect_eacces("open file", open(file.c_str(), O_RDONLY));
    expect_eacces("open directory", open(dir.c_str(), O_RDONLY | O_DIRECTORY));
    expect_eacces("create file", open((dir + "/landlock-probe").c_str(), O_CREAT | O_WRONLY, 0600));
    expect_eacces("open /proc/self/status", open("/proc/self/status", O_RDONLY));
    char buf[16];
    if (pread(before, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) {
      say(out, "the descriptor opened before no longer reads\n");
      ++bad;
    }
    say(out, "threads denied: " + std::to_string(denied.load()) + "/3\n");
    if (denied.load() != 3) ++bad;
    return bad;
  });
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << "\n" << r.out;
  std::printf("%s", r.out.c_str());
}

// A fresh key and nonce from RAND_bytes, AES-256-GCM seal and open of 10 kB;
// true when the plaintext comes back and the key lives in `arena`.
bool aes_gcm_roundtrip(const MemfdSecretArena* arena) {
  SecretBytes key(32);
  crypto::random_bytes(key.data(), key.size());
  uint8_t iv[12];
  crypto::random_bytes(iv, sizeof iv);
  if (arena && !arena->contains(key.data())) return false;
  std::vector<uint8_t> plain(10000, 0x42), ct(plain.size()), dec(plain.size());
  uint8_t tag[16];
  int n = 0, m = 0;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key.data(), iv) == 1 &&
            EVP_EncryptUpdate(c, ct.data(), &n, plain.data(), int(plain.size())) == 1 &&
            EVP_EncryptFinal_ex(c, ct.data() + n, &m) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
  EVP_CIPHER_CTX_free(c);
  c = EVP_CIPHER_CTX_new();
  ok = ok && c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key.data(), iv) == 1 &&
       EVP_DecryptUpdate(c, dec.data(), &n, ct.data(), int(ct.size())) == 1 &&
       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
       EVP_DecryptFinal_ex(c, dec.data() + n, &m) == 1 && dec == plain && ct != plain;
  EVP_CIPHER_CTX_free(c);
  return ok;
}

// (c) What a worker needs still works after the full lockdown.
// OpenSSL reads openssl.cnf and seeds its generator on first use: the worker
// warms it up (one RAND_bytes, one AES-GCM) before the lockdown, as it warms
// up oneDNN.
TEST(Sandbox, WorkerStillRunsOneDnnCryptoAndIoAfterLockdown) {
  REQUIRE_LOCKDOWN();
  const ChildResult r = in_child([](int out) {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) return 2;
    // A tiny front: Conv + Relu, on oneDNN with 2 threads, warmed up once
    // (JIT kernels made, OpenMP's threads started), the reference as oracle.
    teesplit::testing::GraphBuilder b;
    const int x = b.input({1, 8, 16, 16});
    Attrs a;
    a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
    b.output(b.node("Relu", {b.conv(x, 8, 16, 3, a)}));
    Session fast(b.g, {BackendKind::OneDnn, 2});
    Session ref(b.g, {BackendKind::Reference, 1});
    const Tensor in1 = teesplit::testing::random_tensor({1, 8, 16, 16}, 7);
    const Tensor in2 = teesplit::testing::random_tensor({1, 8, 16, 16}, 8);
    fast.run({in1});
    const Tensor want = ref.run({in2})[0];
    // Secret memory made before, used after.
    auto arena = MemfdSecretArena::create(4 << 20);
    install_secret_arena(arena.get());
    if (!aes_gcm_roundtrip(arena.get())) return 4;  // OpenSSL's warm-up

    const LockdownReport rep = lock_down();
    say(out, rep.summary() + "\n");
    if (rep.insecure || !rep.failed.empty()) return 3;

    int bad = 0;
    // The oneDNN graph, again, on new data.
    const Tensor got = fast.run({in2})[0];
    const double err = teesplit::testing::rel_error(got, want);
    char line[96];
    std::snprintf(line, sizeof line,
                  "onednn (2 threads) after lockdown vs reference: rel error %.3g\n", err);
    say(out, line);
    if (!(err < 1e-4)) ++bad;
    // I/O on the socketpair.
    const char msg[] = "feature map";
    char back[sizeof msg] = {};
    if (send(sp[0], msg, sizeof msg, 0) != sizeof msg ||
        recv(sp[1], back, sizeof back, 0) != sizeof msg ||
        std::memcmp(msg, back, sizeof msg) != 0) {
      say(out, "socketpair failed\n");
      ++bad;
    }
    // Large buffers (malloc goes to mmap), freed again.
    for (int i = 0; i < 3; ++i) {
      auto* big = static_cast<char*>(std::malloc(64 << 20));
      if (!big) {
        ++bad;
        break;
      }
      std::memset(big, i, 64 << 20);
      std::free(big);
    }
    std::vector<float> grow;
    for (int i = 0; i < 4'000'000; ++i) grow.push_back(float(i));  // realloc path: mremap
    // Randomness and AES-256-GCM (OpenSSL), the key in the secret arena.
    const bool ok = aes_gcm_roundtrip(arena.get());
    say(out,
        std::string("RAND_bytes + AES-256-GCM after lockdown: ") + (ok ? "ok" : "FAILED") + "\n");
    if (!ok) ++bad;
    const std::vector<uint8_t> plain(1000, 0x42);
    const auto digest = crypto::sha256(plain.data(), plain.size());
    if (crypto::to_hex(digest).size() != 64) ++bad;
    install_secret_arena(nullptr);
    return bad;
  });
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << "\n" << r.out;
  std::printf("%s", r.out.c_str());
}

// (d) Not dumpable: a process of the same (unprivileged) user can neither
// ptrace the locked-down worker nor read its memory; the control target, also
// of that user but dumpable, can be both.
struct Attack {
  bool attached = false;
  int attach_errno = 0;
  bool read_ok = false;
  int read_errno = 0;
};

Attack attack(pid_t target, uintptr_t addr) {
  const ChildResult r = in_child([&](int out) {
    if (!drop_to_nobody()) return 2;
    Attack a;
    if (ptrace(PTRACE_ATTACH, target, nullptr, nullptr) == 0) {
      a.attached = true;
      int st;
      waitpid(target, &st, 0);
      ptrace(PTRACE_DETACH, target, nullptr, nullptr);
    } else {
      a.attach_errno = errno;
    }
    const MemRead m = read_mem(target, addr, sizeof kPattern);
    a.read_ok = m.ok && std::memcmp(m.bytes.data(), kPattern, sizeof kPattern) == 0;
    a.read_errno = m.err;
    say(out, std::string(reinterpret_cast<const char*>(&a), sizeof a));
    return 0;
  });
  Attack a;
  if (r.out.size() == sizeof a) std::memcpy(&a, r.out.data(), sizeof a);
  return a;
}

TEST(Sandbox, SameUserCannotPtraceOrReadTheLockedDownWorker) {
  REQUIRE_LOCKDOWN();
  for (bool locked : {false, true}) {
    int info[2], go[2];
    ASSERT_EQ(pipe(info), 0);
    ASSERT_EQ(pipe(go), 0);
    const pid_t target = fork();
    ASSERT_GE(target, 0);
    if (target == 0) {
      close(info[0]);
      close(go[1]);
      if (!drop_to_nobody()) _exit(2);
      static char buffer[sizeof kPattern];
      std::memcpy(buffer, kPattern, sizeof kPattern);
      int dumpable;
      if (locked) {
        LockdownOptions o;
        o.extra_syscalls = {"prctl"};  // only to report PR_GET_DUMPABLE below
        lock_down(o);
        dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
      } else {
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // changing uid cleared it
        dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
      }
      uintptr_t msg[2] = {reinterpret_cast<uintptr_t>(buffer), uintptr_t(dumpable)};
      (void)!write(info[1], msg, sizeof msg);
      char c;
      while (read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
    close(info[1]);
    close(go[0]);
    uintptr_t msg[2] = {0, 99};
    ASSERT_EQ(read(info[0], msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
    const Attack a = attack(target, msg[0]);
    close(go[1]);
    int status;
    waitpid(target, &status, 0);
    close(info[0]);
    std::printf(
        "%s target (uid %s): PR_GET_DUMPABLE %d; same-uid attacker: ptrace %s, /proc/PID/mem %s\n",
        locked ? "locked-down" : "control", geteuid() == 0 ? "65534" : "own", int(msg[1]),
        a.attached ? "ATTACHED" : strerror(a.attach_errno),
        a.read_ok ? "READ" : strerror(a.read_errno));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe(status);
    if (locked) {
      EXPECT_EQ(msg[1], 0u);
      EXPECT_FALSE(a.attached);
      EXPECT_EQ(a.attach_errno, EPERM);
      EXPECT_FALSE(a.read_ok);
    } else {
      EXPECT_EQ(msg[1], 1u);
      EXPECT_TRUE(a.attached) << "control: the attack must work on a dumpable target";
      EXPECT_TRUE(a.read_ok) << "control: errno " << a.read_errno;
    }
  }
}

// (e) Fail closed, or, with insecure, each failed step recorded.
TEST(Sandbox, FailedStepThrowsUnlessInsecure) {
  REQUIRE_LOCKDOWN();
  for (const std::string step : {"dumpable", "no_new_privs", "landlock", "seccomp"}) {
    const ChildResult strict = in_child([&](int out) {
      LockdownOptions o;
      o.test_fail_step = step;
      const std::string e = teesplit::testing::error_of([&] { lock_down(o); });
      say(out, e);
      return e.find("lockdown step " + step + " failed") != std::string::npos ? 0 : 2;
    });
    EXPECT_TRUE(exited_ok(strict)) << step << ": " << describe(strict.status) << " " << strict.out;
    const ChildResult lax = in_child([&](int out) {
      LockdownOptions o;
      o.insecure = true;
      o.test_fail_step = step;
      o.extra_syscalls = {"prctl"};
      const LockdownReport rep = lock_down(o);
      say(out, rep.summary());
      int bad = 0;
      if (!rep.insecure) ++bad;
      if (rep.failed.size() != 1 || rep.failed[0].rfind(step + ": ", 0) != 0) ++bad;
      if (rep.applied.size() != 3) ++bad;
      if (rep.summary().rfind("INSECURE: ", 0) != 0) ++bad;
      // The other steps did take effect.
      if (step != "dumpable" && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ++bad;
      // seccomp failed, Landlock held: open() is refused rather than fatal.
      if (step == "seccomp" && !(open("/etc/hostname", O_RDONLY) < 0 && errno == EACCES)) ++bad;
      return bad;
    });
    EXPECT_TRUE(exited_ok(lax)) << step << ": " << describe(lax.status) << " " << lax.out;
    if (step == "landlock") std::printf("insecure, landlock forced to fail: %s\n", lax.out.c_str());
  }
  // A fully applied lockdown reports every step.
  const ChildResult full = in_child([](int out) {
    const LockdownReport rep = lock_down();
    say(out, rep.summary());
    return rep.applied.size() == 4 && !rep.insecure && rep.landlock_abi >= 1 ? 0 : 2;
  });
  EXPECT_TRUE(exited_ok(full)) << describe(full.status) << " " << full.out;
  std::printf("full lockdown: %s\n", full.out.c_str());
}

TEST(Sandbox, UnknownExtraSyscallIsAnError) {
  REQUIRE_LOCKDOWN();
  const ChildResult r = in_child([](int out) {
    LockdownOptions o;
    o.extra_syscalls = {"no_such_call"};
    const std::string e = teesplit::testing::error_of([&] { lock_down(o); });
    say(out, e);
    return e.find("seccomp") != std::string::npos && e.find("no_such_call") != std::string::npos
               ? 0
               : 2;
  });
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << " " << r.out;
}

// Under Gramine the kernel steps are skipped and the report says so.
TEST(Sandbox, GramineIsDetectedAndSkipsKernelSteps) {
  EXPECT_FALSE(running_under_gramine()) << "this machine is not Gramine";
  // A stand-in for /dev/attestation/attestation_type (in /tmp: the suite may
  // run as a user who cannot write the build directory).
  char probe_path[] = "/tmp/teesplit-fake-attestation-type-XXXXXX";
  const int probe_fd = mkstemp(probe_path);
  ASSERT_GE(probe_fd, 0) << strerror(errno);
  ASSERT_EQ(write(probe_fd, "dcap", 4), 4);
  close(probe_fd);
  const std::string probe = probe_path;
  const ChildResult r = in_child([&](int out) {
    LockdownOptions o;
    o.gramine_probe = probe;
    const LockdownReport rep = lock_down(o);
    say(out, rep.summary());
    const bool untouched =
        prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0;
    return rep.gramine && !rep.insecure && rep.summary() == "gramine: isolation by SGX" && untouched
               ? 0
               : 2;
  });
  std::remove(probe.c_str());
  EXPECT_TRUE(exited_ok(r)) << describe(r.status) << " " << r.out;
}

}  // namespace
}  // namespace teesplit::enclave
