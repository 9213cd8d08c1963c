#include "enclave/host_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "channel/frame.h"
#include "core/error.h"

namespace teesplit::enclave {

namespace {

bool is_loopback(const in_addr& a) {
  return (ntohl(a.s_addr) >> 24) == 127;
}

std::string text_of(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

void set_nodelay(int fd) {
  const int one = 1;
  // Frames are written header then payload; without this, Nagle holds small
  // replies back for the peer's delayed ACK.
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void set_receive_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace

crypto::Bytes32 take_connect_token_from_env() {
  const char* v = std::getenv(kConnectTokenEnv);
  TS_CHECK(v && *v, "--connect needs the host's one-time token in the environment (",
           kConnectTokenEnv, "); the host's launcher sets it");
  crypto::Bytes32 token{};
  const bool ok = std::strlen(v) == 64 && crypto::from_hex(v, token);
  ::unsetenv(kConnectTokenEnv);
  TS_CHECK(ok, kConnectTokenEnv, " must be 64 hex digits (32 bytes)");
  return token;
}

int connect_to_host(const std::string& address, const crypto::Bytes32& token) {
  const size_t colon = address.rfind(':');
  TS_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < address.size(), "--connect ",
           address, ": expected HOST:PORT, e.g. 127.0.0.1:40123");
  const std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  TS_CHECK(end && *end == '\0' && port >= 1 && port <= 65535, "--connect ", address,
           ": the port must be a number from 1 to 65535");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  TS_CHECK(::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) == 1, "--connect ", address,
           ": the host must be an IPv4 address (127.0.0.1)");
  TS_CHECK(is_loopback(sa.sin_addr), "--connect ", address,
           ": the link to the host must stay on this machine (127.0.0.0/8)");
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  TS_CHECK(fd >= 0, "socket: ", std::strerror(errno));
  int r;
  do r = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int e = errno;
    ::close(fd);
    fail("cannot connect to the host at ", address, ": ", std::strerror(e));
  }
  set_nodelay(fd);
  try {
    channel::write_frame(fd, kHelloFrameType, token, token.size());
  } catch (const Error& e) {
    ::close(fd);
    fail("cannot greet the host at ", address, ": ", e.what());
  }
  return fd;
}

HostListener::HostListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  TS_CHECK(fd_ >= 0, "socket: ", std::strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;  // the kernel picks a free port
  socklen_t len = sizeof sa;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd_, 8) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    fail("cannot listen on 127.0.0.1 for the enclave worker: ", std::strerror(e));
  }
  port_ = ntohs(sa.sin_port);
}

HostListener::~HostListener() {
  if (fd_ >= 0) ::close(fd_);
}

std::string HostListener::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

int HostListener::accept_worker(const crypto::Bytes32& token, std::chrono::milliseconds timeout,
                                const std::function<bool()>& keep_waiting,
                                std::chrono::milliseconds hello_timeout) {
  using Clock = std::chrono::steady_clock;
  TS_CHECK(fd_ >= 0, "the enclave worker's listener is closed (it accepts one worker)");
  const auto deadline = Clock::now() + timeout;
  const auto refuse = [&](int c, const std::string& peer, const std::string& why) {
    ::close(c);
    ++refused_;
    std::fprintf(stderr, "teesplit: refused a connection from %s on the enclave port %u: %s\n",
                 peer.c_str(), unsigned(port_), why.c_str());
  };
  while (true) {
    const auto now = Clock::now();
    if (now >= deadline)
      fail("the enclave worker did not connect to ", address(), " within ",
           std::chrono::duration_cast<std::chrono::seconds>(timeout).count(), " s");
    if (keep_waiting && !keep_waiting())
      fail("the enclave worker exited before it connected to ", address());
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    pollfd p = {fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
    if (r < 0 && errno != EINTR) fail("poll on the enclave port: ", std::strerror(errno));
    if (r <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int c = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (c < 0) continue;  // the peer gave up already (ECONNABORTED), or EINTR
    const std::string who = text_of(peer);
    if (peer.sin_family != AF_INET || !is_loopback(peer.sin_addr)) {
      refuse(c, who, "not a loopback address");
      continue;
    }
    // The worker sends its hello at once; a silent peer gets a bounded wait.
    const auto left_now =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    set_receive_timeout(c,
                        std::max(std::chrono::milliseconds(1), std::min(hello_timeout, left_now)));
    std::optional<channel::Frame> hello;
    try {
      hello = channel::read_frame(c, token.size());
    } catch (const Error& e) {
      refuse(c, who, e.what());
      continue;
    }
    if (!hello) {
      refuse(c, who, "closed without a hello");
      continue;
    }
    if (hello->type != kHelloFrameType || hello->payload.size() != token.size()) {
      refuse(c, who, "its first frame is not a hello of 32 bytes");
      continue;
    }
    if (!crypto::ct_equal(hello->payload.data(), token.data(), token.size())) {
      refuse(c, who, "wrong token");
      continue;
    }
    set_receive_timeout(c, std::chrono::milliseconds(0));  // none from now on
    set_nodelay(c);
    ::close(fd_);
    fd_ = -1;
    return c;
  }
}

}  // namespace teesplit::enclave
