// Frames: the length-prefixed records the host and the enclave worker exchange
// over a socketpair, a Unix socket or loopback TCP (docs/protocol.md, Frames).
//
//   u32 length (little endian) | u8 type | payload (length - 1 bytes)
//
// `length` counts the type byte and the payload, so it is at least 1. A reader
// refuses a length over its limit before it allocates anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace teesplit::channel {

constexpr size_t kFrameLengthBytes = 4;
constexpr size_t kFrameHeaderBytes = 5;  // length and type
// The default bound on a payload (64 MiB); callers that carry larger tensors
// pass their own limit, counted from the model's tensor sizes.
constexpr size_t kMaxFramePayload = size_t{64} << 20;
// The most a length field can say: 2^32 - 1 bytes of type and payload.
constexpr size_t kMaxFrameLength = 0xffffffffu;

struct Frame {
  uint8_t type = 0;
  std::vector<uint8_t> payload;
};

// Checks a frame's length field against a payload limit; throws Error that
// says which bound was broken ("frame of 0 bytes ...", "frame of N bytes
// exceeds the limit of M ...").
void check_frame_length(uint64_t length, size_t max_payload);

// The 5-byte header and the payload, as one buffer (for tests and the fuzz seeds).
std::vector<uint8_t> encode_frame(uint8_t type, std::span<const uint8_t> payload,
                                  size_t max_payload = kMaxFramePayload);

// Writes one frame, whole: short writes are continued, EINTR retried. On a
// socket it sends with MSG_NOSIGNAL (a closed peer is an Error, not SIGPIPE).
// Throws Error when the payload exceeds max_payload or the write fails.
void write_frame(int fd, uint8_t type, std::span<const uint8_t> payload,
                 size_t max_payload = kMaxFramePayload);

// Reads one frame. nullopt only on a clean end of stream between frames;
// an end inside a frame, a length over max_payload + 1 or under 1, and read
// errors are Errors that say which. Short reads are continued, EINTR retried.
std::optional<Frame> read_frame(int fd, size_t max_payload = kMaxFramePayload);

// read_frame in steps, for a reader that places a payload's parts itself (the
// server reads a feature map from its worker straight into a batch row): the
// header first (nullopt on a clean end between frames; the same errors as
// read_frame), then the payload's bytes with read_frame_body, in order.
struct FrameHeader {
  uint8_t type = 0;
  size_t payload_bytes = 0;
};
std::optional<FrameHeader> read_frame_header(int fd, size_t max_payload = kMaxFramePayload);
// Reads payload bytes offset..offset+n of the frame `header` began into dst;
// an end of stream inside them is an Error as read_frame words it. The range
// must lie within the payload.
void read_frame_body(int fd, const FrameHeader& header, size_t offset, uint8_t* dst, size_t n);

// The same parser over bytes in memory (the fuzzer's entry, and a reader for
// transports that deliver bytes in pieces): feed() bytes as they come, next()
// returns each complete frame, finish() says whether the stream ended cleanly.
class FrameReader {
 public:
  explicit FrameReader(size_t max_payload = kMaxFramePayload) : max_payload_(max_payload) {}
  // Appends bytes. Throws Error at once when the first unread header's length
  // is out of bounds (so a bad length is refused before its payload arrives).
  void feed(std::span<const uint8_t> bytes);
  // The next complete frame, or nullopt when more bytes are needed; throws
  // Error when the next header's length is out of bounds.
  std::optional<Frame> next();
  // The end of the stream, after next() returned nullopt: throws Error (the
  // same message as read_frame) when it falls inside a frame.
  void finish() const;
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  void check_header() const;
  size_t max_payload_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;  // start of the unread bytes in buf_
};

}  // namespace teesplit::channel
