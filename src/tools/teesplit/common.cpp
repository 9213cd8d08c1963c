#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

#include "graph/passes.h"
#include "host/model.h"
#include "io/image.h"
#include "io/npy.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {

std::unique_ptr<Session> open_session(const std::string& path, const SessionOptions& opts) {
  auto s = open_model_session(path, opts);
  if (!s) fail(s.error());
  return std::move(s).value();
}

Tensor make_input(const Graph& g, const std::string& file, int64_t batch, uint64_t seed) {
  TS_CHECK(g.inputs.size() == 1, "the model has ", g.inputs.size(),
           " inputs; teesplit run feeds models with one input");
  return make_input(g.value(g.inputs[0]).shape, file, batch, seed);
}

Tensor make_input(const Shape& declared, const std::string& file, int64_t batch, uint64_t seed) {
  Shape shape = declared;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] < 0) {
      TS_CHECK(d == 0, "the input has unknown dimension ", d, " in ", shape_str(declared),
               "; only the batch dimension may be dynamic");
      shape[d] = batch;
    }
  if (file.empty()) {
    Tensor t(DType::F32, shape);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
    return t;
  }
  auto ends_with = [&](const char* suf) {
    std::string s = file, x = suf;
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (ends_with(".npy")) {
    Tensor t = read_npy(file);
    TS_CHECK(t.dtype() == DType::F32, file, ": input must be float32, got ", dtype_name(t.dtype()));
    const Shape& expect = declared;
    bool ok = t.rank() == static_cast<int64_t>(expect.size());
    for (size_t d = 0; ok && d < expect.size(); ++d)
      if (expect[d] >= 0 && expect[d] != t.shape()[d]) ok = false;
    TS_CHECK(ok, file, ": input has shape ", shape_str(t.shape()), ", the model expects ",
             shape_str(expect));
    return t;
  }
  TS_CHECK(shape.size() == 4 && shape[2] == shape[3], "image input needs a model with a square ",
           "[N,C,S,S] input, this one takes ", shape_str(shape));
  TS_CHECK(batch == 1, "an image input gives batch 1; use a .npy file for batches");
  const int64_t crop = shape[2];
  const int64_t resize = crop * 256 / 224;
  Image img = decode_image(file);
  Tensor t = imagenet_preprocess(img, resize, crop);
  TS_CHECK(t.shape() == shape, file, ": preprocessed image has shape ", shape_str(t.shape()),
           ", the model expects ", shape_str(shape));
  return t;
}

void print_top_classes(const Tensor& out, int k) {
  TS_CHECK(out.dtype() == DType::F32, "output is not float32");
  const int64_t rows = out.rank() >= 2 ? out.dim(0) : 1;
  const int64_t cols = out.numel() / std::max<int64_t>(rows, 1);
  const float* d = out.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = d + r * cols;
    std::vector<int64_t> idx(static_cast<size_t>(cols));
    std::iota(idx.begin(), idx.end(), 0);
    const int64_t kk = std::min<int64_t>(k, cols);
    std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(),
                      [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    const float mx = cols ? row[idx[0]] : 0.f;
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += std::exp(double(row[c]) - mx);
    std::printf("sample %lld:", static_cast<long long>(r));
    for (int64_t i = 0; i < kk; ++i)
      std::printf("  class %lld (logit %.4f, p=%.3f)", static_cast<long long>(idx[i]), row[idx[i]],
                  std::exp(double(row[idx[i]]) - mx) / sum);
    std::printf("\n");
  }
}

size_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

namespace {
int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(g_stop_pipe[1], &b, 1);
}
}  // namespace

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopOnSignal::StopOnSignal(std::string who, std::function<void()> stop) {
  TS_CHECK(g_stop_pipe[0] < 0, "StopOnSignal: one at a time");
  TS_CHECK(::pipe2(g_stop_pipe, O_CLOEXEC) == 0, "pipe2: ", std::strerror(errno));
  // The signals blocked in every thread (block_stop_signals) stay pending and
  // are read here; a thread that does not block them runs the handler instead.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const int sfd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  TS_CHECK(sfd >= 0, "signalfd: ", std::strerror(errno));
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  waiter_ = std::thread([who = std::move(who), stop = std::move(stop), sfd] {
    unsigned char sig = 0;
    pollfd fds[2] = {{g_stop_pipe[0], POLLIN, 0}, {sfd, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents & POLLIN) {
        signalfd_siginfo si{};
        if (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
          sig = static_cast<unsigned char>(si.ssi_signo);
          break;
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP)) {
        if (::read(g_stop_pipe[0], &sig, 1) < 0 && errno == EINTR) continue;
        break;
      }
    }
    ::close(sfd);
    if (sig == 0) return;  // released by the destructor
    std::fprintf(stderr, "%s: %s: shutting down\n", who.c_str(), strsignal(sig));
    stop();
  });
}

StopOnSignal::~StopOnSignal() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  on_stop_signal(0);  // wakes the waiter if no signal did
  waiter_.join();
  ::close(g_stop_pipe[0]);
  ::close(g_stop_pipe[1]);
  g_stop_pipe[0] = g_stop_pipe[1] = -1;
}

}  // namespace teesplit
