// The link between the host and its enclave worker, when it is loopback TCP
// rather than an inherited socketpair: Gramine does not pass Unix sockets or
// socketpairs from the host into an enclave, but it does pass TCP.
//
// The host listens on 127.0.0.1, on a port the kernel picks, and starts the
// worker with `--connect 127.0.0.1:PORT` and a one-time random token in its
// environment (kConnectTokenEnv, 64 hex digits; the environment, unlike the
// command line, is not readable by other users' processes). The worker
// connects before its lockdown and sends the token first, as one frame:
//
//   u32 length = 33 | u8 kHelloFrameType | token (32 bytes)
//
// The host accepts connections until one presents the token (compared in
// constant time), within a deadline; every other connection (another port
// scanner or local process racing the worker, a wrong token, garbage, silence)
// is closed and logged, and does not stop the host from accepting the worker.
// Then the listening socket is closed: exactly one worker per port. From there
// on both sides speak the frames of channel/frame.h, as on a socketpair.
//
// The link is untrusted, as the host is: everything secret on it is the
// channel's ciphertext (the client's input, the provisioned key), and the
// integrity of a client's traffic is checked end to end by the channel. The
// token only keeps another local process from taking the worker's place on
// the host's side of the link (docs/protocol.md, "Host and worker").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "crypto/primitives.h"

namespace teesplit::enclave {

constexpr const char* kConnectTokenEnv = "TEESPLIT_CONNECT_TOKEN";
// Not a MsgType: it is the link's own first frame, before any message.
constexpr uint8_t kHelloFrameType = 0x7E;

// ---- the worker's side ----

// Reads the token from kConnectTokenEnv (64 hex digits) and removes it from
// the environment. Throws Error when it is missing or malformed.
crypto::Bytes32 take_connect_token_from_env();

// Connects to "HOST:PORT" (HOST an IPv4 loopback address, 127.0.0.0/8, so
// that the link never leaves the machine), sets TCP_NODELAY and sends the
// hello frame. Returns the connected socket. Throws Error naming the address.
int connect_to_host(const std::string& address, const crypto::Bytes32& token);

// ---- the host's side ----

class HostListener {
 public:
  // Listens on 127.0.0.1 on a port the kernel picks (close-on-exec).
  HostListener();
  ~HostListener();
  HostListener(const HostListener&) = delete;
  HostListener& operator=(const HostListener&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT"

  // Accepts connections until one sends the hello frame with `token`; returns
  // its socket (TCP_NODELAY, blocking, no timeout) and closes the listener.
  // Each other connection is closed with a line on stderr saying why (it gets
  // at most `hello_timeout` to send its hello). Throws Error "... did not
  // connect within N s" at the deadline, or when keep_waiting() returns false
  // (checked every 50 ms: the host's way to notice that its worker died).
  int accept_worker(const crypto::Bytes32& token, std::chrono::milliseconds timeout,
                    const std::function<bool()>& keep_waiting = {},
                    std::chrono::milliseconds hello_timeout = std::chrono::seconds(2));

  // Connections refused so far (for tests and logs).
  int refused() const { return refused_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  int refused_ = 0;
};

}  // namespace teesplit::enclave
