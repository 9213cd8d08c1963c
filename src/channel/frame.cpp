#include "channel/frame.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace teesplit::channel {

namespace {

uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void put_header(uint8_t* h, uint8_t type, size_t payload) {
  store_u32(h, static_cast<uint32_t>(payload + 1));
  h[4] = type;
}

void check_payload_to_send(size_t payload, size_t max_payload) {
  if (payload > max_payload || payload + 1 > kMaxFrameLength)
    fail("cannot send a frame payload of ", payload, " bytes: it exceeds the limit of ",
         max_payload < kMaxFrameLength - 1 ? max_payload : kMaxFrameLength - 1, " bytes");
}

std::string closed_inside(size_t got, size_t of, bool header) {
  return detail::concat("connection closed inside a frame", header ? " header" : "", " (got ", got,
                        " of ", of, " bytes)");
}

[[noreturn]] void io_error(const char* what, int err) {
  if (err == EAGAIN || err == EWOULDBLOCK)
    fail(what, " a frame: the descriptor timed out or is non-blocking (", std::strerror(err), ")");
  fail(what, " a frame failed: ", std::strerror(err));
}

// Reads exactly n bytes unless the stream ends first; returns how many it read.
size_t read_full(int fd, uint8_t* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, p + got, n - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0) {
      break;
    } else if (errno != EINTR) {
      io_error("reading", errno);
    }
  }
  return got;
}

}  // namespace

void check_frame_length(uint64_t length, size_t max_payload) {
  if (length < 1)
    fail("frame of 0 bytes: a frame holds at least its type byte (a length of 1 or more)");
  if (length - 1 > max_payload)
    fail("frame of ", length, " bytes exceeds the limit of ", uint64_t{max_payload} + 1,
         " bytes (a type byte and a payload of at most ", max_payload, ")");
}

std::vector<uint8_t> encode_frame(uint8_t type, std::span<const uint8_t> payload,
                                  size_t max_payload) {
  check_payload_to_send(payload.size(), max_payload);
  std::vector<uint8_t> out(kFrameHeaderBytes + payload.size());
  put_header(out.data(), type, payload.size());
  if (!payload.empty()) std::memcpy(out.data() + kFrameHeaderBytes, payload.data(), payload.size());
  return out;
}

void write_frame(int fd, uint8_t type, std::span<const uint8_t> payload, size_t max_payload) {
  check_payload_to_send(payload.size(), max_payload);
  uint8_t header[kFrameHeaderBytes];
  put_header(header, type, payload.size());
  iovec iov[2] = {{header, kFrameHeaderBytes},
                  {const_cast<uint8_t*>(payload.data()), payload.size()}};
  int iovcnt = payload.empty() ? 1 : 2;
  iovec* v = iov;
  bool socket = true;
  while (iovcnt > 0) {
    ssize_t w;
    if (socket) {
      msghdr msg{};
      msg.msg_iov = v;
      msg.msg_iovlen = static_cast<size_t>(iovcnt);
      w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (w < 0 && errno == ENOTSOCK) {  // a pipe or a file: plain writes
        socket = false;
        continue;
      }
    } else {
      w = ::writev(fd, v, iovcnt);
    }
    if (w < 0) {
      if (errno == EINTR) continue;
      io_error("writing", errno);
    }
    auto left = static_cast<size_t>(w);
    while (iovcnt > 0 && left >= v->iov_len) {
      left -= v->iov_len;
      ++v;
      --iovcnt;
    }
    if (iovcnt > 0) {
      v->iov_base = static_cast<uint8_t*>(v->iov_base) + left;
      v->iov_len -= left;
    }
  }
}

std::optional<FrameHeader> read_frame_header(int fd, size_t max_payload) {
  uint8_t header[kFrameHeaderBytes];
  const size_t got = read_full(fd, header, kFrameHeaderBytes);
  if (got == 0) return std::nullopt;
  if (got >= kFrameLengthBytes) check_frame_length(load_u32(header), max_payload);
  if (got < kFrameHeaderBytes) fail(closed_inside(got, kFrameHeaderBytes, true));
  FrameHeader h;
  h.type = header[kFrameLengthBytes];
  h.payload_bytes = load_u32(header) - size_t{1};
  return h;
}

void read_frame_body(int fd, const FrameHeader& header, size_t offset, uint8_t* dst, size_t n) {
  TS_CHECK(offset <= header.payload_bytes && n <= header.payload_bytes - offset,
           "read_frame_body: bytes ", offset, "..", offset + n, " of a payload of ",
           header.payload_bytes);
  const size_t got = read_full(fd, dst, n);
  if (got < n)
    fail(closed_inside(kFrameHeaderBytes + offset + got, kFrameHeaderBytes + header.payload_bytes,
                       false));
}

std::optional<Frame> read_frame(int fd, size_t max_payload) {
  const std::optional<FrameHeader> h = read_frame_header(fd, max_payload);
  if (!h) return std::nullopt;
  Frame f;
  f.type = h->type;
  f.payload.resize(h->payload_bytes);
  read_frame_body(fd, *h, 0, f.payload.data(), f.payload.size());
  return f;
}

void FrameReader::check_header() const {
  if (buffered() >= kFrameLengthBytes)
    check_frame_length(load_u32(buf_.data() + pos_), max_payload_);
}

void FrameReader::feed(std::span<const uint8_t> bytes) {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {  // drop what was consumed
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  check_header();
}

std::optional<Frame> FrameReader::next() {
  if (buffered() < kFrameLengthBytes) return std::nullopt;
  const uint32_t length = load_u32(buf_.data() + pos_);
  check_frame_length(length, max_payload_);
  if (buffered() - kFrameLengthBytes < length) return std::nullopt;
  const uint8_t* body = buf_.data() + pos_ + kFrameLengthBytes;
  Frame f;
  f.type = body[0];
  f.payload.assign(body + 1, body + length);
  pos_ += kFrameLengthBytes + length;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return f;  // the next header is checked by the next call, so that this frame is not lost
}

void FrameReader::finish() const {
  const size_t n = buffered();
  if (n == 0) return;
  if (n < kFrameLengthBytes) fail(closed_inside(n, kFrameHeaderBytes, true));
  const uint32_t length = load_u32(buf_.data() + pos_);
  check_frame_length(length, max_payload_);
  TS_CHECK(n < kFrameLengthBytes + length, "FrameReader::finish: a complete frame is still unread");
  if (n < kFrameHeaderBytes) fail(closed_inside(n, kFrameHeaderBytes, true));
  fail(closed_inside(n, kFrameLengthBytes + length, false));
}

}  // namespace teesplit::channel
