// libFuzzer target for the channel's parsers (src/channel/; docs/protocol.md).
// Build and corpus as fuzz_front_file: fuzz/CMakeLists.txt, scripts/fuzz-smoke.sh,
// fuzz/corpus/fuzz_channel (seeds from fuzz/make_channel_seeds.py).
//
// The first input byte picks the mode (mod 4), the rest is the stream:
//   0: frames, fed to a FrameReader in chunks of (byte 1 % 64) + 1 bytes;
//   1: frames, fed to a FrameReader whole;
//      both compared with read_frame() over a memfd holding the same bytes:
//      the same frames, then the same error message (or a clean end);
//   2: frames whose payloads are messages, opened in turn by the enclave side
//      of a fixed session (docs/protocol.md, Channel; the keys below); bit 0 of
//      the frame type adds associated data, the other bits advance the clock
//      by that many minutes, so that sessions expire by time and by count;
//   3: frames whose payloads are plaintexts, sealed by the client side of that
//      session, then delivered according to the frame type (mod 5): as is, with
//      one bit flipped (at payload[0]), dropped, the last delivered one again,
//      or the oldest dropped one; the outcome of each must be what the
//      protocol says (opened with the same plaintext, or the right rejection).
// Anything else (a crash, a sanitizer report, an exception that is not
// teesplit::Error, a broken expectation) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "channel/frame.h"
#include "channel/secure_channel.h"

using namespace teesplit;
using namespace teesplit::channel;

namespace {

constexpr size_t kMaxPayload = 4096;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_channel: expectation broken: %s\n", what);
  std::abort();
}

struct Parsed {
  std::vector<Frame> frames;
  std::string error;  // empty: a clean end
};

Parsed parse_with_reader(const uint8_t* data, size_t size, size_t chunk) {
  Parsed p;
  FrameReader r(kMaxPayload);
  try {
    for (size_t off = 0; off < size; off += chunk) {
      r.feed(std::span<const uint8_t>(data + off, std::min(chunk, size - off)));
      while (auto f = r.next()) p.frames.push_back(std::move(*f));
    }
    r.finish();
  } catch (const Error& e) {
    p.error = e.what();
  }
  return p;
}

Parsed parse_with_fd(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz_channel", 0);
  if (fd < 0) broken("memfd_create failed");
  if (ftruncate(fd, 0) != 0) broken("ftruncate failed");
  for (size_t off = 0; off < size;) {
    const ssize_t w = pwrite(fd, data + off, size - off, static_cast<off_t>(off));
    if (w <= 0) broken("pwrite failed");
    off += static_cast<size_t>(w);
  }
  if (lseek(fd, 0, SEEK_SET) != 0) broken("lseek failed");
  Parsed p;
  try {
    while (auto f = read_frame(fd, kMaxPayload)) p.frames.push_back(std::move(*f));
  } catch (const Error& e) {
    p.error = e.what();
  }
  return p;
}

void frames_mode(const uint8_t* data, size_t size, size_t chunk) {
  const Parsed a = parse_with_reader(data, size, chunk);
  const Parsed b = parse_with_fd(data, size);
  if (a.error != b.error) broken("FrameReader and read_frame disagree on the error");
  if (a.frames.size() != b.frames.size()) broken("FrameReader and read_frame disagree on frames");
  for (size_t i = 0; i < a.frames.size(); ++i)
    if (a.frames[i].type != b.frames[i].type || a.frames[i].payload != b.frames[i].payload)
      broken("FrameReader and read_frame return different frames");
}

Bytes32 filled(int start, int step) {
  Bytes32 b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(start + step * int(i));
  return b;
}

// The fixed session of fuzz/make_channel_seeds.py.
SessionKeys fixed_keys() {
  const Bytes32 s = filled(3, 7);
  const SecretBytes shared(s.begin(), s.end());
  return derive_session_keys(shared, filled(0x10, 1), filled(0x40, 1), filled(0x80, 1));
}

struct FakeClock {
  std::chrono::steady_clock::time_point t{};
  Clock fn() {
    return [this] { return t; };
  }
};

std::vector<Frame> frames_of(const uint8_t* data, size_t size) {
  Parsed p = parse_with_reader(data, size, size ? size : 1);
  return std::move(p.frames);  // a bad tail ends the list
}

void open_mode(const uint8_t* data, size_t size) {
  FakeClock clock;
  Limits lim;
  lim.max_message_bytes = 1024;
  lim.max_messages = 6;
  SecureChannel enclave(fixed_keys(), Role::enclave, lim, clock.fn());
  static const uint8_t kAad[] = {'f', 'u', 'z', 'z'};
  for (const Frame& f : frames_of(data, size)) {
    clock.t += std::chrono::minutes(f.type >> 1);
    const uint64_t before = enclave.received();
    const std::span<const uint8_t> aad =
        (f.type & 1) ? std::span<const uint8_t>(kAad) : std::span<const uint8_t>();
    try {
      const SecretBytes pt = enclave.open(f.payload, aad);
      if (enclave.received() != before + 1) broken("open did not count the message");
      if (pt.size() + kMessageOverhead != f.payload.size()) broken("plaintext of a wrong size");
    } catch (const Rejected&) {
      if (enclave.received() != before) broken("a rejected message changed the channel");
    }
  }
}

void seal_mode(const uint8_t* data, size_t size) {
  FakeClock clock;
  Limits lim;
  lim.max_message_bytes = 1024;
  lim.max_messages = 64;
  SecureChannel client(fixed_keys(), Role::client, lim, clock.fn());
  SecureChannel enclave(fixed_keys(), Role::enclave, lim, clock.fn());
  struct Sealed {
    uint64_t seq;
    std::vector<uint8_t> plaintext, message;
  };
  std::deque<Sealed> dropped;
  std::optional<Sealed> last;
  for (const Frame& f : frames_of(data, size)) {
    Sealed m;
    try {
      m.seq = client.sent();
      m.message = client.seal(f.payload);
      m.plaintext = f.payload;
    } catch (const Rejected& e) {
      // Expiry is checked first; a plaintext that fits must be sealed.
      const bool exhausted = client.sent() >= lim.max_messages;
      if (e.reason() != (exhausted ? Rejected::Reason::expired : Rejected::Reason::too_large) ||
          (!exhausted && f.payload.size() + kMessageOverhead <= lim.max_message_bytes))
        broken("seal refused for the wrong reason");
      continue;
    }
    const int action = f.type % 5;
    bool modified = false;
    if (action == 2) {
      dropped.push_back(std::move(m));
      continue;
    }
    if (action == 3) {
      if (!last) continue;
      m = *last;
    } else if (action == 4) {
      if (dropped.empty()) continue;
      m = std::move(dropped.front());
      dropped.pop_front();
    } else if (action == 1) {
      const size_t at = (f.payload.empty() ? 0 : f.payload[0]) % m.message.size();
      m.message[at] ^= static_cast<uint8_t>(1u << (f.type % 8));
      modified = true;
    }
    const uint64_t expected = enclave.received();
    try {
      const SecretBytes pt = enclave.open(m.message);
      if (modified) broken("a modified message opened");
      if (m.seq != expected) broken("a message out of order opened");
      if (std::vector<uint8_t>(pt.begin(), pt.end()) != m.plaintext)
        broken("opened to another plaintext");
    } catch (const Rejected& e) {
      if (!modified) {  // expiry first, then the sequence number
        const bool exhausted = expected >= lim.max_messages;
        if (!exhausted && m.seq == expected) broken("an intact in-order message was rejected");
        const Rejected::Reason want = exhausted          ? Rejected::Reason::expired
                                      : m.seq < expected ? Rejected::Reason::replayed
                                                         : Rejected::Reason::reordered;
        if (e.reason() != want) broken("an intact message rejected for the wrong reason");
      }
      if (enclave.received() != expected) broken("a rejected message changed the channel");
      continue;
    }
    last = std::move(m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 4;
  ++data;
  --size;
  switch (mode) {
    case 0: {
      if (size < 1) return 0;
      const size_t chunk = data[0] % 64 + 1;
      frames_mode(data + 1, size - 1, chunk);
      break;
    }
    case 1:
      frames_mode(data, size, size ? size : 1);
      break;
    case 2:
      open_mode(data, size);
      break;
    default:
      seal_mode(data, size);
  }
  return 0;
}
