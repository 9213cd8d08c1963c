// Replays files through a fuzz entry point (LLVMFuzzerTestOneInput) without
// libFuzzer, so that any compiler's test build checks the committed corpus
// (fuzz/CMakeLists.txt registers one CTest test per fuzzer).
//   fuzz_replay_NAME [--malloc-limit-mb N] [--rss-limit-mb N] [--timeout S] PATH...
// PATH is a file or a folder (its regular files, in name order). An input fails
// the run when, while it is replayed:
//  - it crashes, or an exception other than the entry point's own escapes;
//  - one allocation asks for more than --malloc-limit-mb, or an allocation fails
//    (the address space is limited to twice --rss-limit-mb): as libFuzzer's
//    -malloc_limit_mb, since the code under test may turn a failed allocation into
//    an ordinary error that would otherwise pass unnoticed (not under
//    AddressSanitizer, which brings its own malloc and needs its address space);
//  - the peak resident memory of the process exceeds --rss-limit-mb;
//  - it takes more than --timeout seconds of CPU (OpenMP limited to one thread),
//    or 10 x that + 10 s of wall-clock time (a loaded machine).
// The first failure ends the run with exit 1 and names the file; 0 when all pass.
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The file being replayed, for the messages of signal handlers and malloc.
char g_current[4096] = "(none)";
size_t g_malloc_limit = 0;  // bytes; 0 = no limit
volatile sig_atomic_t g_armed = 0;
double g_timeout = 0;

void say(const char* s) {
  ssize_t ignored = write(2, s, std::strlen(s));
  (void)ignored;
}

[[noreturn]] void die(const char* what) {
  say("fuzz_replay: FAIL: ");
  say(what);
  say(" while replaying ");
  say(g_current);
  say("\n");
  _exit(1);
}

void on_signal(int sig) {
  switch (sig) {
    case SIGPROF:
      die("CPU time limit (--timeout) exceeded");
    case SIGALRM:
      die("wall-clock limit (10 x --timeout + 10 s) exceeded");
    default:
      die(strsignal(sig));
  }
}

void install_handlers() {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPROF, SIGALRM}) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK;
    sigaction(sig, &sa, nullptr);
  }
  static std::vector<char> alt(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  sigaltstack(&ss, nullptr);
}

void arm_timers(double seconds) {
  itimerval cpu{};
  cpu.it_value.tv_sec = static_cast<time_t>(seconds);
  cpu.it_value.tv_usec =
      static_cast<suseconds_t>((seconds - static_cast<double>(cpu.it_value.tv_sec)) * 1e6);
  setitimer(ITIMER_PROF, &cpu, nullptr);
  alarm(seconds > 0 ? static_cast<unsigned>(10 * seconds + 10) : 0);  // a loaded machine
}

int64_t peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::vector<std::string> list_inputs(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> here;
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) here.push_back(e.path().string());
      std::sort(here.begin(), here.end());
      if (here.empty()) {
        std::fprintf(stderr, "fuzz_replay: %s holds no files\n", p.c_str());
        std::exit(2);
      }
      files.insert(files.end(), here.begin(), here.end());
    } else if (fs::is_regular_file(p)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "fuzz_replay: %s is neither a file nor a folder\n", p.c_str());
      std::exit(2);
    }
  }
  return files;
}

}  // namespace

// ---- the allocation limit: glibc's malloc family, replaced by forwarding wrappers ----
// (not under AddressSanitizer, which replaces them itself and has its own limits)
#if defined(__SANITIZE_ADDRESS__)
#define TEESPLIT_REPLAY_MALLOC_HOOKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEESPLIT_REPLAY_MALLOC_HOOKS 0
#endif
#endif
#ifndef TEESPLIT_REPLAY_MALLOC_HOOKS
#define TEESPLIT_REPLAY_MALLOC_HOOKS 1
#endif

#if TEESPLIT_REPLAY_MALLOC_HOOKS
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
void check_request(size_t n) {
  if (g_armed && g_malloc_limit && n > g_malloc_limit) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "an allocation of %zu bytes (over --malloc-limit-mb)", n);
    die(msg);
  }
}
void* checked_result(void* p, size_t n) {
  if (!p && n && g_armed) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "a failed allocation of %zu bytes", n);
    die(msg);
  }
  return p;
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  check_request(n);
  return checked_result(__libc_malloc(n), n);
}
void* calloc(size_t k, size_t n) {
  const size_t total = n && k > SIZE_MAX / n ? SIZE_MAX : k * n;
  check_request(total);
  return checked_result(__libc_calloc(k, n), total);
}
void* realloc(void* p, size_t n) {
  check_request(n);
  return checked_result(__libc_realloc(p, n), n);
}
void free(void* p) {
  __libc_free(p);
}
void* memalign(size_t align, size_t n) {
  check_request(n);
  return checked_result(__libc_memalign(align, n), n);
}
void* aligned_alloc(size_t align, size_t n) {
  return memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = memalign(align, n);
  if (!p && n) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(size_t n) {
  return memalign(static_cast<size_t>(sysconf(_SC_PAGESIZE)), n);
}
}
#endif

int main(int argc, char** argv) {
  int64_t malloc_mb = 1024, rss_mb = 1024;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> double {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fuzz_replay: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atof(argv[++i]);
    };
    if (a == "--malloc-limit-mb")
      malloc_mb = static_cast<int64_t>(value());
    else if (a == "--rss-limit-mb")
      rss_mb = static_cast<int64_t>(value());
    else if (a == "--timeout")
      g_timeout = value();
    else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: %s [--malloc-limit-mb N] [--rss-limit-mb N] [--timeout S] PATH...\n"
          "Replays each file (or each file of each folder) through the fuzz entry point;\n"
          "exit 1 at the first crash, over-limit allocation, memory peak or timeout.\n",
          argv[0]);
      return 0;
    } else
      paths.push_back(a);
  }
  if (paths.empty()) {
    std::fprintf(stderr, "usage: %s [options] PATH... (--help)\n", argv[0]);
    return 2;
  }
#ifdef _OPENMP
  omp_set_num_threads(1);  // the CPU limit is per input, not per thread
#endif
  const std::vector<std::string> files = list_inputs(paths);
  if (rss_mb > 0 && TEESPLIT_REPLAY_MALLOC_HOOKS) {  // a sanitizer reserves terabytes
    rlimit as{};
    as.rlim_cur = as.rlim_max = static_cast<rlim_t>(2 * rss_mb) << 20;
    setrlimit(RLIMIT_AS, &as);
  }
  g_malloc_limit = static_cast<size_t>(std::max<int64_t>(0, malloc_mb)) << 20;
  install_handlers();
  const auto t0 = std::chrono::steady_clock::now();
  double slowest = 0;
  std::string slowest_file;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "fuzz_replay: cannot read %s\n", f.c_str());
      return 2;
    }
    std::snprintf(g_current, sizeof g_current, "%s", f.c_str());
    const auto s0 = std::chrono::steady_clock::now();
    arm_timers(g_timeout);
    g_armed = 1;
    try {
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      g_armed = 0;
      std::fprintf(stderr, "fuzz_replay: FAIL: uncaught exception (%s) while replaying %s\n",
                   e.what(), f.c_str());
      return 1;
    }
    g_armed = 0;
    arm_timers(0);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    if (secs > slowest) {
      slowest = secs;
      slowest_file = f;
    }
    if (rss_mb > 0 && peak_rss_kb() > rss_mb * 1024) {
      std::fprintf(stderr,
                   "fuzz_replay: FAIL: peak resident memory %lld MB (over --rss-limit-mb) "
                   "after replaying %s\n",
                   static_cast<long long>(peak_rss_kb() / 1024), f.c_str());
      return 1;
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz_replay: %zu inputs passed in %.2f s (peak RSS %lld MB; slowest %.3f s: %s)\n",
              files.size(), total, static_cast<long long>(peak_rss_kb() / 1024), slowest,
              slowest_file.c_str());
  return 0;
}
