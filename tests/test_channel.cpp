// channel/frame.h over socketpairs and pipes (short reads and writes, EINTR,
// bad lengths, ends inside a frame) and in memory; channel/secure_channel.h:
// the key schedule and the message layout against an independent computation
// (HMAC-SHA256 by hand, AES-GCM with the nonce built here), and every
// rejection (tampered, replayed, reordered, truncated, too large, expired)
// with messages free of key and plaintext bytes.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "channel/frame.h"
#include "channel/secure_channel.h"
#include "core/error.h"
#include "crypto/aead.h"
#include "crypto/primitives.h"

namespace teesplit::channel {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes to_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
  ~SocketPair() {
    close_end(0);
    close_end(1);
  }
  void close_end(int i) {
    if (fd[i] >= 0) close(fd[i]);
    fd[i] = -1;
  }
};

void write_raw(int fd, const Bytes& b) {
  ASSERT_EQ(write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
}

// ---- frames ----

TEST(Frame, RoundTripThenCleanEof) {
  SocketPair sp;
  const Bytes a = to_bytes("hello"), big(100000, 0xab);
  write_frame(sp.fd[0], 7, a);
  write_frame(sp.fd[0], 0, {});
  write_frame(sp.fd[0], 255, big);
  sp.close_end(0);
  auto f = read_frame(sp.fd[1]);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 7);
  EXPECT_EQ(f->payload, a);
  f = read_frame(sp.fd[1]);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0);
  EXPECT_TRUE(f->payload.empty());
  f = read_frame(sp.fd[1]);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 255);
  EXPECT_EQ(f->payload, big);
  EXPECT_FALSE(read_frame(sp.fd[1]));  // a clean end between frames
  EXPECT_FALSE(read_frame(sp.fd[1]));
}

TEST(Frame, WireLayout) {
  const Bytes f = encode_frame(0x42, to_bytes("abc"));
  EXPECT_EQ(f, (Bytes{4, 0, 0, 0, 0x42, 'a', 'b', 'c'}));
  SocketPair sp;
  write_frame(sp.fd[0], 0x42, to_bytes("abc"));
  Bytes got(8);
  ASSERT_EQ(read(sp.fd[1], got.data(), got.size()), 8);
  EXPECT_EQ(got, f);
}

TEST(Frame, OneByteAtATimeFromAnotherThread) {
  SocketPair sp;
  std::vector<Frame> sent;
  Bytes stream;
  for (int i = 0; i < 6; ++i) {
    Frame f;
    f.type = static_cast<uint8_t>(i * 40);
    f.payload.resize(static_cast<size_t>(i * i * 7));
    for (size_t j = 0; j < f.payload.size(); ++j) f.payload[j] = static_cast<uint8_t>(i + j);
    const Bytes e = encode_frame(f.type, f.payload);
    stream.insert(stream.end(), e.begin(), e.end());
    sent.push_back(std::move(f));
  }
  std::thread writer([&] {
    for (uint8_t b : stream) {
      ASSERT_EQ(write(sp.fd[0], &b, 1), 1);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    sp.close_end(0);
  });
  for (const Frame& want : sent) {
    auto got = read_frame(sp.fd[1]);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->type, want.type);
    EXPECT_EQ(got->payload, want.payload);
  }
  EXPECT_FALSE(read_frame(sp.fd[1]));
  writer.join();
}

TEST(Frame, LargeFrameWithShortWritesAndReads) {
  SocketPair sp;
  int small = 4096;  // small socket buffers: many short writes and reads
  setsockopt(sp.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(sp.fd[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  Bytes big(8 << 20);
  std::mt19937 rng(1);
  for (auto& b : big) b = static_cast<uint8_t>(rng());
  std::thread writer([&] { write_frame(sp.fd[0], 3, big, big.size()); });
  auto f = read_frame(sp.fd[1], big.size());
  writer.join();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 3);
  EXPECT_TRUE(f->payload == big);
}

extern "C" void on_sigusr1(int) {}

TEST(Frame, ReadsAndWritesRetryAfterEintr) {
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;  // no SA_RESTART: blocked calls return EINTR
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  SocketPair sp;
  std::atomic<bool> reading{false};
  std::optional<Frame> got;
  std::string err;
  std::thread reader([&] {
    reading = true;
    try {
      got = read_frame(sp.fd[1]);
    } catch (const Error& e) {
      err = e.what();
    }
  });
  while (!reading) std::this_thread::yield();
  for (int i = 0; i < 5; ++i) {  // interrupt the blocked read several times
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(reader.native_handle(), SIGUSR1);
  }
  const Bytes e = encode_frame(9, to_bytes("after the signals"));
  write_raw(sp.fd[0], Bytes(e.begin(), e.begin() + 3));  // then a partial header
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pthread_kill(reader.native_handle(), SIGUSR1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_raw(sp.fd[0], Bytes(e.begin() + 3, e.end()));
  reader.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(err, "");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload, to_bytes("after the signals"));
}

TEST(Frame, OversizedLengthIsRefusedBeforeAllocating) {
  SocketPair sp;
  write_raw(sp.fd[0], {0xff, 0xff, 0xff, 0xff, 1});
  EXPECT_EQ(error_of([&] { read_frame(sp.fd[1], 1024); }),
            "frame of 4294967295 bytes exceeds the limit of 1025 bytes (a type byte and a "
            "payload of at most 1024)");
  SocketPair sp2;  // one byte over the default limit
  const uint32_t len = static_cast<uint32_t>(kMaxFramePayload + 2);
  write_raw(sp2.fd[0], {static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8),
                        static_cast<uint8_t>(len >> 16), static_cast<uint8_t>(len >> 24), 0});
  EXPECT_NE(error_of([&] { read_frame(sp2.fd[1]); }).find("frame of 67108866 bytes exceeds"),
            std::string::npos);
  // Exactly at the limit is fine.
  SocketPair sp3;
  write_frame(sp3.fd[0], 1, Bytes(1024, 5), 1024);
  EXPECT_EQ(read_frame(sp3.fd[1], 1024)->payload.size(), 1024u);
  EXPECT_NE(error_of([&] {
              write_frame(sp3.fd[0], 1, Bytes(1025, 5), 1024);
            }).find("cannot send a frame payload of 1025 bytes"),
            std::string::npos);
}

TEST(Frame, ZeroLengthIsRefused) {
  SocketPair sp;
  write_raw(sp.fd[0], {0, 0, 0, 0, 1});
  EXPECT_EQ(error_of([&] { read_frame(sp.fd[1]); }),
            "frame of 0 bytes: a frame holds at least its type byte (a length of 1 or more)");
}

TEST(Frame, EndOfStreamInsideAFrame) {
  {
    SocketPair sp;  // a header promising 9 bytes, then 3 of them
    write_raw(sp.fd[0], {9, 0, 0, 0, 'T', 'a', 'b'});
    sp.close_end(0);
    EXPECT_EQ(error_of([&] { read_frame(sp.fd[1]); }),
              "connection closed inside a frame (got 7 of 13 bytes)");
  }
  {
    SocketPair sp;  // inside the header
    write_raw(sp.fd[0], {9, 0});
    sp.close_end(0);
    EXPECT_EQ(error_of([&] { read_frame(sp.fd[1]); }),
              "connection closed inside a frame header (got 2 of 5 bytes)");
  }
  {
    SocketPair sp;  // a whole frame, then a partial one
    write_frame(sp.fd[0], 1, to_bytes("ok"));
    write_raw(sp.fd[0], {3, 0, 0, 0});
    sp.close_end(0);
    EXPECT_TRUE(read_frame(sp.fd[1]));
    EXPECT_EQ(error_of([&] { read_frame(sp.fd[1]); }),
              "connection closed inside a frame header (got 4 of 5 bytes)");
  }
}

// read_frame in steps: the header, then the payload in pieces placed by the
// caller; the same errors as read_frame, counted in the whole frame.
TEST(Frame, HeaderThenBodyInPieces) {
  SocketPair sp;
  write_frame(sp.fd[0], 9, to_bytes("abcdefgh"));
  write_raw(sp.fd[0], {9, 0, 0, 0, 'T', 'a', 'b'});  // promises 8 payload bytes, sends 2
  sp.close_end(0);
  const std::optional<FrameHeader> h = read_frame_header(sp.fd[1]);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, 9);
  EXPECT_EQ(h->payload_bytes, 8u);
  uint8_t first[3], rest[5];
  read_frame_body(sp.fd[1], *h, 0, first, 3);
  read_frame_body(sp.fd[1], *h, 3, rest, 5);
  EXPECT_EQ(std::string(first, first + 3) + std::string(rest, rest + 5), "abcdefgh");
  EXPECT_EQ(error_of([&] { read_frame_body(sp.fd[1], *h, 8, rest, 1); }),
            "read_frame_body: bytes 8..9 of a payload of 8");  // past the payload: refused
  const std::optional<FrameHeader> h2 = read_frame_header(sp.fd[1]);
  ASSERT_TRUE(h2);
  EXPECT_EQ(h2->payload_bytes, 8u);
  uint8_t two[2];
  read_frame_body(sp.fd[1], *h2, 0, two, 2);
  EXPECT_EQ(error_of([&] { read_frame_body(sp.fd[1], *h2, 2, rest, 5); }),
            "connection closed inside a frame (got 7 of 13 bytes)");
  SocketPair empty;
  empty.close_end(0);
  EXPECT_FALSE(read_frame_header(empty.fd[1]));  // a clean end between frames
  SocketPair big;
  write_raw(big.fd[0], {0xff, 0xff, 0, 0, 1});
  EXPECT_NE(error_of([&] { read_frame_header(big.fd[1], 16); }).find("exceeds the limit of 17"),
            std::string::npos);
}

TEST(Frame, WritingToAClosedPeerIsAnErrorNotSigpipe) {
  SocketPair sp;
  sp.close_end(1);
  const std::string e = error_of([&] { write_frame(sp.fd[0], 1, Bytes(100, 1)); });
  EXPECT_NE(e.find("writing a frame failed"), std::string::npos) << e;
  EXPECT_NE(e.find("Broken pipe"), std::string::npos) << e;
}

TEST(Frame, WorksOverAPipe) {  // not a socket: plain writes
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  write_frame(p[1], 5, to_bytes("through a pipe"));
  close(p[1]);
  auto f = read_frame(p[0]);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->payload, to_bytes("through a pipe"));
  EXPECT_FALSE(read_frame(p[0]));
  close(p[0]);
}

TEST(Frame, ReadErrorsSayWhat) {
  EXPECT_NE(error_of([] { read_frame(-1); }).find("reading a frame failed: Bad file descriptor"),
            std::string::npos);
}

TEST(FrameReader, SameFramesInAnyChunking) {
  Bytes stream;
  std::vector<Frame> sent;
  for (int i = 0; i < 20; ++i) {
    Frame f;
    f.type = static_cast<uint8_t>(i);
    f.payload.assign(static_cast<size_t>((i * 37) % 300), static_cast<uint8_t>(i));
    const Bytes e = encode_frame(f.type, f.payload);
    stream.insert(stream.end(), e.begin(), e.end());
    sent.push_back(std::move(f));
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    FrameReader r;
    std::vector<Frame> got;
    size_t off = 0;
    while (off < stream.size()) {
      const size_t n = std::min<size_t>(stream.size() - off, 1 + rng() % (trial < 10 ? 2 : 200));
      r.feed(std::span(stream).subspan(off, n));
      off += n;
      while (auto f = r.next()) got.push_back(std::move(*f));
    }
    r.finish();
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].type, sent[i].type);
      EXPECT_EQ(got[i].payload, sent[i].payload);
    }
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(FrameReader, BadLengthsAndEnds) {
  {
    FrameReader r(16);
    EXPECT_EQ(error_of([&] {
                r.feed(Bytes{18, 0, 0, 0});
              }),
              "frame of 18 bytes exceeds the limit of 17 bytes (a type byte and a payload of at "
              "most 16)");
  }
  {
    FrameReader r;
    EXPECT_NE(error_of([&] {
                r.feed(Bytes{0, 0, 0, 0});
              }).find("frame of 0 bytes"),
              std::string::npos);
  }
  {
    FrameReader r;
    r.feed(Bytes{9, 0, 0, 0, 'T', 'a', 'b'});
    EXPECT_FALSE(r.next());
    EXPECT_EQ(error_of([&] { r.finish(); }),
              "connection closed inside a frame (got 7 of 13 bytes)");
  }
  {
    FrameReader r;
    r.feed(Bytes{9});
    EXPECT_EQ(error_of([&] { r.finish(); }),
              "connection closed inside a frame header (got 1 of 5 bytes)");
  }
  {
    FrameReader r;  // a bad length right behind a good frame
    const Bytes good = encode_frame(1, to_bytes("x"));
    Bytes s = good;
    s.insert(s.end(), {0, 0, 0, 0});
    r.feed(std::span(s).first(good.size()));
    EXPECT_TRUE(r.next());
    EXPECT_THROW(r.feed(std::span(s).subspan(good.size())), Error);
  }
}

// ---- the key schedule, computed independently ----

Bytes hmac_sha256(const Bytes& key, const Bytes& msg) {
  unsigned char out[32];
  unsigned len = 0;
  EXPECT_TRUE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(),
                   out, &len));
  return Bytes(out, out + len);
}

// RFC 5869 with HMAC directly: PRK = HMAC(salt, IKM); T(i) = HMAC(PRK, T(i-1) | info | i).
Bytes hkdf_by_hand(const Bytes& salt, const Bytes& ikm, const Bytes& info, size_t length) {
  const Bytes prk = hmac_sha256(salt, ikm);
  Bytes okm, t;
  for (uint8_t i = 1; okm.size() < length; ++i) {
    Bytes m = t;
    m.insert(m.end(), info.begin(), info.end());
    m.push_back(i);
    t = hmac_sha256(prk, m);
    okm.insert(okm.end(), t.begin(), t.end());
  }
  okm.resize(length);
  return okm;
}

Bytes32 filled(uint8_t start) {
  Bytes32 b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(start + i);
  return b;
}

TEST(ChannelKeys, MatchAnIndependentDerivation) {
  SecretBytes shared(32);
  for (size_t i = 0; i < 32; ++i) shared[i] = static_cast<uint8_t>(0xa0 + i);
  const Bytes32 cpub = filled(1), epub = filled(50), nonce = filled(100);
  // transcript: u32 version LE | client pub | enclave pub | nonce
  Bytes t{1, 0, 0, 0};
  t.insert(t.end(), cpub.begin(), cpub.end());
  t.insert(t.end(), epub.begin(), epub.end());
  t.insert(t.end(), nonce.begin(), nonce.end());
  ASSERT_EQ(t.size(), 100u);
  const Bytes32 th = crypto::sha256(t);
  EXPECT_EQ(transcript_hash(1, cpub, epub, nonce), th);
  Bytes info = to_bytes("teesplit channel v1");
  info.insert(info.end(), th.begin(), th.end());
  const Bytes okm = hkdf_by_hand(Bytes(nonce.begin(), nonce.end()),
                                 Bytes(shared.begin(), shared.end()), info, 64);
  const SessionKeys k = derive_session_keys(shared, cpub, epub, nonce);
  EXPECT_EQ(Bytes(k.client_to_enclave.begin(), k.client_to_enclave.end()),
            Bytes(okm.begin(), okm.begin() + 32));
  EXPECT_EQ(Bytes(k.enclave_to_client.begin(), k.enclave_to_client.end()),
            Bytes(okm.begin() + 32, okm.end()));
  // Every transcript input changes the keys.
  const auto c2e = [&](const Bytes32& a, const Bytes32& b, const Bytes32& n) {
    return derive_session_keys(shared, a, b, n).client_to_enclave;
  };
  EXPECT_NE(c2e(filled(2), epub, nonce), k.client_to_enclave);
  EXPECT_NE(c2e(cpub, filled(51), nonce), k.client_to_enclave);
  EXPECT_NE(c2e(cpub, epub, filled(101)), k.client_to_enclave);
  EXPECT_NE(c2e(epub, cpub, nonce), k.client_to_enclave);  // roles swapped
  EXPECT_THROW(derive_session_keys(shared, cpub, epub, nonce, 2), Error);
  EXPECT_THROW(derive_session_keys(SecretBytes(16), cpub, epub, nonce), Error);
}

// ---- the secure channel ----

struct FakeClock {
  std::chrono::steady_clock::time_point t{};
  Clock fn() {
    return [this] { return t; };
  }
};

struct Session {  // a client and an enclave after a real handshake, one fake clock
  FakeClock clock;
  ClientHandshake ch;
  EnclaveHandshake eh;
  SecureChannel client;
  SecureChannel enclave;
  explicit Session(Limits limits = {})
      : client(ch.finish(eh.public_key(), limits, clock.fn())),
        enclave(eh.accept(ch.public_key(), ch.nonce(), limits, clock.fn())) {}
};

Bytes plain(const SecretBytes& s) {
  return Bytes(s.begin(), s.end());
}

TEST(SecureChannel, HandshakeAndBothDirections) {
  Session s;
  const Bytes aad = to_bytes("infer:resnet50");
  for (int i = 0; i < 5; ++i) {
    const Bytes m = to_bytes("request " + std::to_string(i));
    const Bytes sealed = s.client.seal(m, aad);
    EXPECT_EQ(sealed.size(), m.size() + kMessageOverhead);
    EXPECT_EQ(plain(s.enclave.open(sealed, aad)), m);
    const Bytes r = to_bytes("response " + std::to_string(i));
    EXPECT_EQ(plain(s.client.open(s.enclave.seal(r, aad), aad)), r);
  }
  EXPECT_EQ(plain(s.enclave.open(s.client.seal({}))), Bytes());  // empty plaintext
  EXPECT_EQ(s.client.sent(), 6u);
  EXPECT_EQ(s.enclave.received(), 6u);
}

TEST(SecureChannel, MessageLayoutMatchesTheDocument) {
  SecretBytes shared(32, 7);
  const SessionKeys k = derive_session_keys(shared, filled(1), filled(2), filled(3));
  SecureChannel client(derive_session_keys(shared, filled(1), filled(2), filled(3)), Role::client);
  SecureChannel enclave(derive_session_keys(shared, filled(1), filled(2), filled(3)),
                        Role::enclave);
  const Bytes pt = to_bytes("layout check"), aad = to_bytes("aad");
  client.seal(to_bytes("first"));
  const Bytes m = client.seal(pt, aad);  // sequence number 1
  EXPECT_EQ(Bytes(m.begin(), m.begin() + 8), (Bytes{1, 0, 0, 0, 0, 0, 0, 0}));
  // nonce = 'c' '2' 'e' 0 | u64 LE sequence; GCM aad = header | aad
  const Bytes nonce{'c', '2', 'e', 0, 1, 0, 0, 0, 0, 0, 0, 0};
  Bytes gaad(m.begin(), m.begin() + 8);
  gaad.insert(gaad.end(), aad.begin(), aad.end());
  SecretBytes out;
  ASSERT_TRUE(crypto::aes256gcm_open(k.client_to_enclave,
                                     std::span<const uint8_t, 12>(nonce.data(), 12), gaad,
                                     std::span(m).subspan(8), out));
  EXPECT_EQ(plain(out), pt);
  // The enclave's direction: 'e' '2' 'c' 0, its own key.
  const Bytes r = enclave.seal(pt);
  const Bytes enonce{'e', '2', 'c', 0, 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_TRUE(crypto::aes256gcm_open(k.enclave_to_client,
                                     std::span<const uint8_t, 12>(enonce.data(), 12),
                                     std::span(r).first(8), std::span(r).subspan(8), out));
  EXPECT_EQ(plain(out), pt);
}

Rejected::Reason reason_of(const std::function<void()>& fn, std::string* what = nullptr) {
  try {
    fn();
  } catch (const Rejected& e) {
    if (what) *what = e.what();
    return e.reason();
  }
  ADD_FAILURE() << "not rejected";
  return Rejected::Reason::expired;
}

using R = Rejected::Reason;

TEST(SecureChannel, TamperedMessagesAreRejectedAndChangeNothing) {
  Session s;
  const Bytes aad = to_bytes("aad");
  const Bytes m = s.client.seal(to_bytes("a secret input"), aad);
  for (size_t i = 0; i < m.size(); ++i) {
    Bytes bad = m;
    bad[i] ^= 0x01;
    // A changed header byte names another sequence number.
    const R want = i < 8 ? R::reordered : R::tampered;
    EXPECT_EQ(reason_of([&] { s.enclave.open(bad, aad); }), want) << "byte " << i;
  }
  EXPECT_EQ(reason_of([&] { s.enclave.open(m, to_bytes("aaD")); }), R::tampered);
  EXPECT_EQ(reason_of([&] { s.enclave.open(m); }), R::tampered);
  Bytes longer = m;
  longer.push_back(0);
  EXPECT_EQ(reason_of([&] { s.enclave.open(longer, aad); }), R::tampered);
  EXPECT_EQ(reason_of([&] { s.enclave.open(Bytes(m.begin(), m.end() - 1), aad); }), R::tampered);
  // Reflected back to its sender: another key and direction label.
  EXPECT_EQ(reason_of([&] { s.client.open(m, aad); }), R::tampered);
  // Another session's message with the right sequence number.
  Session other;
  EXPECT_EQ(reason_of([&] { s.enclave.open(other.client.seal(to_bytes("x"), aad), aad); }),
            R::tampered);
  EXPECT_EQ(s.enclave.received(), 0u);
  EXPECT_EQ(plain(s.enclave.open(m, aad)), to_bytes("a secret input"));  // still expected
}

TEST(SecureChannel, ReplayedAndReorderedMessagesAreRejected) {
  Session s;
  const Bytes m0 = s.client.seal(to_bytes("zero")), m1 = s.client.seal(to_bytes("one")),
              m2 = s.client.seal(to_bytes("two"));
  std::string what;
  EXPECT_EQ(reason_of([&] { s.enclave.open(m1); }, &what), R::reordered);
  EXPECT_EQ(what,
            "channel: message rejected (reordered): sequence number 1 arrived before 0 "
            "(messages must arrive in order)");
  EXPECT_EQ(reason_of([&] { s.enclave.open(m2); }), R::reordered);
  EXPECT_EQ(plain(s.enclave.open(m0)), to_bytes("zero"));
  EXPECT_EQ(reason_of([&] { s.enclave.open(m0); }, &what), R::replayed);
  EXPECT_EQ(what,
            "channel: message rejected (replayed): sequence number 0 was already received; "
            "expected 1");
  EXPECT_EQ(plain(s.enclave.open(m1)), to_bytes("one"));
  EXPECT_EQ(reason_of([&] { s.enclave.open(m1); }), R::replayed);
  EXPECT_EQ(reason_of([&] { s.enclave.open(m0); }), R::replayed);
  EXPECT_EQ(plain(s.enclave.open(m2)), to_bytes("two"));
}

TEST(SecureChannel, TruncatedAndOversizedMessagesAreRejected) {
  Limits lim;
  lim.max_message_bytes = 100;
  Session s(lim);
  const Bytes m = s.client.seal(to_bytes("hello"));
  for (size_t n : {size_t{0}, size_t{1}, size_t{8}, kMessageOverhead - 1})
    EXPECT_EQ(reason_of([&] { s.enclave.open(std::span(m).first(std::min(n, m.size()))); }),
              R::truncated)
        << n;
  EXPECT_EQ(reason_of([&] { s.enclave.open(Bytes(101, 0)); }), R::too_large);
  EXPECT_EQ(reason_of([&] { s.enclave.open(Bytes(size_t{1} << 24, 0)); }), R::too_large);
  // 76 bytes of plaintext fill a 100-byte message; 77 do not.
  EXPECT_EQ(reason_of([&] { s.client.seal(Bytes(77, 1)); }), R::too_large);
  EXPECT_EQ(plain(s.enclave.open(m)), to_bytes("hello"));
  const Bytes full = s.client.seal(Bytes(76, 1));
  EXPECT_EQ(full.size(), 100u);
  EXPECT_EQ(plain(s.enclave.open(full)), Bytes(76, 1));
  Limits tiny;
  tiny.max_message_bytes = kMessageOverhead - 1;
  EXPECT_THROW(
      SecureChannel(derive_session_keys(SecretBytes(32, 1), filled(1), filled(2), filled(3)),
                    Role::client, tiny),
      Error);
}

TEST(SecureChannel, SessionsExpireByTime) {
  Session s;
  const Bytes m = s.client.seal(to_bytes("early"));
  s.clock.t += std::chrono::minutes(59);
  EXPECT_FALSE(s.enclave.expired());
  EXPECT_EQ(plain(s.enclave.open(m)), to_bytes("early"));
  const Bytes late = s.client.seal(to_bytes("late"));
  s.clock.t += std::chrono::minutes(1);  // exactly one hour: over
  EXPECT_TRUE(s.enclave.expired());
  std::string what;
  EXPECT_EQ(reason_of([&] { s.enclave.open(late); }, &what), R::expired);
  EXPECT_EQ(what,
            "channel: message rejected (expired): the session is older than its lifetime of "
            "3600 s; attest again");
  EXPECT_EQ(reason_of([&] { s.client.seal(to_bytes("x")); }), R::expired);
}

TEST(SecureChannel, SessionsExpireByCount) {
  Limits lim;
  lim.max_messages = 3;
  Session s(lim);
  std::vector<Bytes> m;
  for (int i = 0; i < 3; ++i) m.push_back(s.client.seal(to_bytes("m")));
  EXPECT_EQ(reason_of([&] { s.client.seal(to_bytes("m")); }), R::expired);
  for (const Bytes& x : m) s.enclave.open(x);
  std::string what;
  EXPECT_EQ(reason_of([&] { s.enclave.open(m[0]); }, &what), R::expired);
  EXPECT_EQ(what,
            "channel: message rejected (expired): the session has received its limit of 3 "
            "messages; attest again");
  // The default is 2^32 per direction.
  EXPECT_EQ(Limits().max_messages, uint64_t{1} << 32);
  EXPECT_EQ(Limits().lifetime, std::chrono::hours(1));
}

TEST(SecureChannel, RejectionsCarryNoKeyOrPlaintextBytes) {
  SecretBytes shared(32);
  crypto::random_bytes(shared.data(), shared.size());
  const Bytes32 cpub = filled(1), epub = filled(2), nonce = filled(3);
  const SessionKeys k = derive_session_keys(shared, cpub, epub, nonce);
  Limits lim;
  lim.max_message_bytes = 200;
  lim.max_messages = 4;
  FakeClock clock;
  SecureChannel client(derive_session_keys(shared, cpub, epub, nonce), Role::client, lim,
                       clock.fn());
  SecureChannel enclave(derive_session_keys(shared, cpub, epub, nonce), Role::enclave, lim,
                        clock.fn());
  const std::string secret_text = "PATIENT-RECORD-7f3a-SECRET";
  const Bytes pt = to_bytes(secret_text);
  std::vector<std::string> forbidden = {secret_text, crypto::to_hex(pt), crypto::to_hex(shared),
                                        crypto::to_hex(k.client_to_enclave),
                                        crypto::to_hex(k.enclave_to_client)};
  // Also every 8-byte window of the keys' hex, in case a message held part of one.
  for (const SecretBytes* key : std::initializer_list<const SecretBytes*>{
           &k.client_to_enclave, &k.enclave_to_client, &shared}) {
    const std::string h = crypto::to_hex(*key);
    for (size_t i = 0; i + 16 <= h.size(); i += 2) forbidden.push_back(h.substr(i, 16));
  }
  std::vector<std::string> whats;
  auto collect = [&](const std::function<void()>& fn) {
    std::string w;
    reason_of(fn, &w);
    whats.push_back(w);
  };
  const Bytes m0 = client.seal(pt), m1 = client.seal(pt);
  Bytes bad = m0;
  bad[20] ^= 4;
  collect([&] { enclave.open(bad); });                      // tampered
  collect([&] { enclave.open(m0, pt); });                   // tampered (aad)
  collect([&] { enclave.open(m1); });                       // reordered
  collect([&] { enclave.open(std::span(m0).first(10)); });  // truncated
  collect([&] { enclave.open(Bytes(201, 0)); });            // too large
  collect([&] { client.seal(Bytes(300, 'x')); });           // too large (seal)
  enclave.open(m0);
  collect([&] { enclave.open(m0); });  // replayed
  clock.t += std::chrono::hours(2);
  collect([&] { enclave.open(m1); });  // expired
  ASSERT_EQ(whats.size(), 8u);
  for (const std::string& w : whats) {
    for (const std::string& f : forbidden) EXPECT_EQ(w.find(f), std::string::npos) << w;
    // Nor raw plaintext bytes of any length over 5.
    for (size_t i = 0; i + 6 <= secret_text.size(); ++i)
      EXPECT_EQ(w.find(secret_text.substr(i, 6)), std::string::npos) << w;
  }
}

TEST(SecureChannel, HandshakesAreUsedOnceAndRefuseSmallOrderKeys) {
  ClientHandshake ch;
  EnclaveHandshake eh;
  SecureChannel c = ch.finish(eh.public_key());
  EXPECT_NE(error_of([&] { ch.finish(eh.public_key()); }).find("already called"),
            std::string::npos);
  SecureChannel e = eh.accept(ch.public_key(), ch.nonce());
  EXPECT_THROW(eh.accept(ch.public_key(), ch.nonce()), Error);
  EXPECT_EQ(plain(e.open(c.seal(to_bytes("ok")))), to_bytes("ok"));
  ClientHandshake ch2;
  EXPECT_NE(error_of([&] { ch2.finish(Bytes32{}); }).find("all-zero"), std::string::npos);
  // A different nonce on the two sides gives different keys.
  ClientHandshake a;
  EnclaveHandshake b;
  Bytes32 wrong = a.nonce();
  wrong[0] ^= 1;
  SecureChannel ca = a.finish(b.public_key());
  SecureChannel cb = b.accept(a.public_key(), wrong);
  EXPECT_EQ(reason_of([&] { cb.open(ca.seal(to_bytes("x"))); }), R::tampered);
}

TEST(SecureChannel, NamesOfReasons) {
  EXPECT_STREQ(reason_name(R::tampered), "tampered");
  EXPECT_STREQ(reason_name(R::replayed), "replayed");
  EXPECT_STREQ(reason_name(R::reordered), "reordered");
  EXPECT_STREQ(reason_name(R::truncated), "truncated");
  EXPECT_STREQ(reason_name(R::too_large), "too large");
  EXPECT_STREQ(reason_name(R::expired), "expired");
}

// fuzz/make_channel_seeds.py seals messages with python3-cryptography under the
// fuzzer's fixed session, following docs/protocol.md: teesplit must open them.
TEST(ChannelSeeds, MessagesSealedByAnIndependentImplementationOpen) {
  const std::string path =
      std::string(TEESPLIT_SOURCE_DIR) + "/fuzz/corpus/fuzz_channel/open_valid";
  FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_TRUE(f) << path;
  Bytes data;
  for (int c; (c = std::fgetc(f)) != EOF;) data.push_back(static_cast<uint8_t>(c));
  std::fclose(f);
  ASSERT_FALSE(data.empty());
  EXPECT_EQ(data[0], 2);  // the fuzzer's open mode
  FrameReader r;
  r.feed(std::span(data).subspan(1));
  const Bytes32 s = [] {
    Bytes32 b{};
    for (size_t i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(3 + 7 * i);
    return b;
  }();
  const SecretBytes shared(s.begin(), s.end());
  auto run = [](int start) {
    Bytes32 b{};
    for (size_t i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(start + i);
    return b;
  };
  SecureChannel enclave(derive_session_keys(shared, run(0x10), run(0x40), run(0x80)),
                        Role::enclave);
  const Bytes fuzz_aad = to_bytes("fuzz");
  std::vector<Bytes> got;
  while (auto fr = r.next())
    got.push_back(plain(enclave.open(fr->payload, (fr->type & 1) ? fuzz_aad : Bytes())));
  r.finish();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], to_bytes("first input"));
  EXPECT_EQ(got[1], to_bytes("with aad"));
  EXPECT_EQ(got[2], Bytes());
  EXPECT_EQ(got[3], Bytes(100, 0));
}

}  // namespace
}  // namespace teesplit::channel
