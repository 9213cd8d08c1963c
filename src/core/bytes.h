// Little-endian byte encoding with every read checked against what is left:
// for messages that come from outside (the host↔enclave frames, the client's
// requests). A reader that runs short throws Error naming the field.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace teesplit {

// The bytes of a string (file contents, JSON, messages) as a byte span.
inline std::span<const uint8_t> byte_span(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class ByteWriter {
 public:
  ByteWriter& u8(uint8_t v) { return raw(&v, 1); }
  ByteWriter& u16(uint16_t v) { return le(v, 2); }
  ByteWriter& u32(uint32_t v) { return le(v, 4); }
  ByteWriter& u64(uint64_t v) { return le(v, 8); }
  ByteWriter& raw(const void* p, size_t n) {
    if (n == 0) return *this;
    // One copy, no zero-filling first (resize then memcpy wrote megabyte payloads
    // twice). GCC 12 at -O3 takes the vector's growth here for a write past a
    // 4-byte buffer (-Wstringop-overflow, a false positive).
    const auto* b = static_cast<const uint8_t*>(p);
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning (the fuzzers' build)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
    out_.insert(out_.end(), b, b + n);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    return *this;
  }
  ByteWriter& raw(std::span<const uint8_t> s) {
    return raw(s.data(), s.size());
  }
  // u32 length, then the bytes.
  ByteWriter& bytes(std::span<const uint8_t> s) {
    TS_CHECK(s.size() <= UINT32_MAX, "field of ", s.size(), " bytes is too long to encode");
    u32(static_cast<uint32_t>(s.size()));
    return raw(s);
  }
  ByteWriter& str(const std::string& s) {
    return bytes(byte_span(s));
  }
  // Room for n more bytes at once, so that no reallocation leaves a copy of
  // what was written behind in freed memory (for secrets, wiped after use).
  ByteWriter& reserve(size_t n) {
    out_.reserve(out_.size() + n);
    return *this;
  }
  std::vector<uint8_t>& data() {
    return out_;
  }
  std::vector<uint8_t> take() {
    return std::move(out_);
  }

 private:
  ByteWriter& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  // `what` names the message in errors: "attest request: truncated at nonce".
  ByteReader(std::span<const uint8_t> in, std::string what) : in_(in), what_(std::move(what)) {}
  uint8_t u8(const char* field) { return static_cast<uint8_t>(le(1, field)); }
  uint16_t u16(const char* field) { return static_cast<uint16_t>(le(2, field)); }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(le(4, field)); }
  uint64_t u64(const char* field) { return le(8, field); }
  std::span<const uint8_t> raw(size_t n, const char* field) {
    need(n, field);
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <size_t N>
  void fixed(std::array<uint8_t, N>& out, const char* field) {
    auto s = raw(N, field);
    std::memcpy(out.data(), s.data(), N);
  }
  // A u32-length-prefixed field of at most max bytes.
  std::span<const uint8_t> bytes(size_t max, const char* field) {
    const uint32_t n = u32(field);
    if (n > max) fail(what_, ": ", field, " of ", n, " bytes exceeds the limit of ", max);
    return raw(n, field);
  }
  std::string str(size_t max, const char* field) {
    auto s = bytes(max, field);
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }
  size_t remaining() const { return in_.size() - pos_; }
  // Refuses trailing bytes: every message is read whole.
  void finish() const {
    if (remaining() != 0) fail(what_, ": ", remaining(), " unexpected trailing bytes");
  }

 private:
  void need(size_t n, const char* field) const {
    if (n > remaining())
      fail(what_, ": truncated at ", field, " (needs ", n, " bytes, ", remaining(), " left)");
  }
  uint64_t le(int n, const char* field) {
    need(static_cast<size_t>(n), field);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{in_[pos_ + i]} << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace teesplit
