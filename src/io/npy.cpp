#include "io/npy.h"

#include <bit>
#include <cstring>
#include <limits>
#include <optional>

#include "core/error.h"

namespace teesplit {

static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

namespace {

constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

// Parser for the Python dict literal in an npy header. `base` is the file offset of
// text[0] so that errors point into the file.
class HeaderParser {
 public:
  HeaderParser(const std::string& name, const char* text, size_t len, size_t base)
      : name_(name), s_(text), n_(len), base_(base) {}

  struct Result {
    std::string descr;
    bool fortran = false;
    Shape shape;
  };

  Result parse() {
    Result r;
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      size_t key_at = i_;
      std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (have_descr) error(key_at, "duplicate key 'descr'");
        r.descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) error(key_at, "duplicate key 'fortran_order'");
        r.fortran = parse_bool();
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) error(key_at, "duplicate key 'shape'");
        r.shape = parse_tuple();
        have_shape = true;
      } else {
        error(key_at, "unexpected key '", key, "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      if (peek() != '}') error(i_, "expected ',' or '}' in header dict");
    }
    while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
    if (i_ != n_) error(i_, "unexpected data after header dict");
    if (!have_descr) error(0, "header lacks 'descr'");
    if (!have_fortran) error(0, "header lacks 'fortran_order'");
    if (!have_shape) error(0, "header lacks 'shape'");
    return r;
  }

 private:
  template <class... A>
  [[noreturn]] void error(size_t at, A&&... a) {
    fail("npy '", name_, "': byte offset ", base_ + at, ": ", std::forward<A>(a)...);
  }
  char peek() const { return i_ < n_ ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) error(i_, "expected '", c, "' in header");
    ++i_;
  }
  std::string parse_string() {
    char q = peek();
    if (q != '\'' && q != '"') error(i_, "expected a quoted string in header");
    size_t start = ++i_;
    while (i_ < n_ && s_[i_] != q) {
      if (s_[i_] == '\\' || s_[i_] == '\n') error(i_, "unsupported character in header string");
      ++i_;
    }
    if (i_ >= n_) error(start, "unterminated string in header");
    std::string r(s_ + start, i_ - start);
    ++i_;
    return r;
  }
  bool parse_bool() {
    if (n_ - i_ >= 4 && std::memcmp(s_ + i_, "True", 4) == 0) {
      i_ += 4;
      return true;
    }
    if (n_ - i_ >= 5 && std::memcmp(s_ + i_, "False", 5) == 0) {
      i_ += 5;
      return false;
    }
    error(i_, "expected True or False");
  }
  Shape parse_tuple() {
    expect('(');
    Shape s;
    bool trailing_comma = false;
    for (;;) {
      skip_ws();
      if (peek() == ')') {
        ++i_;
        break;
      }
      if (!(peek() >= '0' && peek() <= '9')) error(i_, "expected a non-negative integer in shape");
      size_t start = i_;
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        int d = peek() - '0';
        if (v > (std::numeric_limits<int64_t>::max() - d) / 10) error(start, "dimension too large");
        v = v * 10 + d;
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 long suffix
      s.push_back(v);
      skip_ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++i_;
        trailing_comma = true;
        continue;
      }
      skip_ws();
      if (peek() != ')') error(i_, "expected ',' or ')' in shape");
    }
    if (s.size() == 1 && !trailing_comma) error(i_ - 1, "a 1-element shape tuple needs a comma");
    return s;
  }

  const std::string& name_;
  const char* s_;
  size_t n_;
  size_t base_;
  size_t i_ = 0;
};

struct DescrInfo {
  DType dtype;
  size_t item;
  bool is_f64;
};

std::optional<DescrInfo> descr_info(const std::string& d) {
  if (d == "<f4") return DescrInfo{DType::F32, 4, false};
  if (d == "<f8") return DescrInfo{DType::F32, 8, true};
  if (d == "<i8") return DescrInfo{DType::I64, 8, false};
  if (d == "<i4") return DescrInfo{DType::I32, 4, false};
  if (d == "|u1" || d == "<u1") return DescrInfo{DType::U8, 1, false};
  if (d == "|b1" || d == "<b1") return DescrInfo{DType::Bool, 1, false};
  return std::nullopt;
}

const char* descr_for(DType t) {
  switch (t) {
    case DType::F32:
      return "<f4";
    case DType::I64:
      return "<i8";
    case DType::I32:
      return "<i4";
    case DType::U8:
      return "|u1";
    case DType::Bool:
      return "|b1";
  }
  return "?";
}

}  // namespace

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name) {
  auto err = [&](size_t at, auto&&... a) {
    fail("npy '", name, "': byte offset ", at, ": ", a...);
  };
  if (size < 10) err(size, "file truncated in the preamble (", size, " bytes, need at least 10)");
  if (std::memcmp(data, kMagic, 6) != 0) err(0, "not an npy file (bad magic)");
  uint8_t major = data[6], minor = data[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    err(6, "unsupported npy version ", int(major), ".", int(minor));
  size_t header_len, header_at;
  if (major == 1) {
    header_len = size_t(data[8]) | size_t(data[9]) << 8;
    header_at = 10;
  } else {
    if (size < 12) err(size, "file truncated in the preamble");
    header_len =
        size_t(data[8]) | size_t(data[9]) << 8 | size_t(data[10]) << 16 | size_t(data[11]) << 24;
    header_at = 12;
  }
  if (header_len > size - header_at)
    err(size, "file truncated in the header (header length ", header_len, ", only ",
        size - header_at, " bytes follow)");
  HeaderParser parser(name, reinterpret_cast<const char*>(data + header_at), header_len, header_at);
  HeaderParser::Result h = parser.parse();
  if (h.fortran)
    err(header_at, "fortran_order True is not supported (write the array C-contiguous)");
  auto info = descr_info(h.descr);
  if (!info)
    err(header_at, "unsupported dtype '", h.descr,
        "' (supported: <f4, <f8, <i8, <i4, |u1, |b1, little-endian)");

  size_t payload_at = header_at + header_len;
  size_t avail = size - payload_at;
  int64_t numel = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && numel > std::numeric_limits<int64_t>::max() / d)
      err(header_at, "shape ", shape_str(h.shape), " is too large");
    numel *= d;
  }
  // Compare in element units first so that a huge shape cannot overflow the byte count.
  if (static_cast<uint64_t>(numel) > avail / info->item)
    err(size, "file truncated: shape ", shape_str(h.shape), " (", h.descr, ") needs ",
        static_cast<unsigned long long>(numel), " x ", info->item, " bytes of data at offset ",
        payload_at, ", file has ", avail);
  size_t need = static_cast<size_t>(numel) * info->item;
  if (need != avail)
    err(payload_at + need, "file has ", avail - need, " bytes after the data of shape ",
        shape_str(h.shape));

  Tensor t(info->dtype, h.shape);
  const uint8_t* p = data + payload_at;
  if (info->is_f64) {
    float* o = t.data<float>();
    for (int64_t i = 0; i < numel; ++i) {
      double v;
      std::memcpy(&v, p + i * 8, 8);
      o[i] = static_cast<float>(v);
    }
  } else if (info->dtype == DType::Bool) {
    auto* o = static_cast<uint8_t*>(t.raw());
    for (int64_t i = 0; i < numel; ++i) o[i] = p[i] != 0;
  } else if (need) {
    std::memcpy(t.raw(), p, need);
  }
  return t;
}

Tensor parse_npy(const std::vector<uint8_t>& bytes, const std::string& name) {
  return parse_npy(bytes.data(), bytes.size(), name);
}

Tensor read_npy(const std::string& path) {
  const std::string b = read_file(path);
  return parse_npy(reinterpret_cast<const uint8_t*>(b.data()), b.size(), path);
}

std::vector<uint8_t> serialize_npy(const Tensor& t) {
  TS_CHECK(t.defined(), "write_npy: undefined tensor");
  std::string dict =
      std::string("{'descr': '") + descr_for(t.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(t.shape()[i]);
  }
  if (t.shape().size() == 1) dict += ",";
  dict += "), }";
  // Pad with spaces so that preamble + header (ending in '\n') is a multiple of 64.
  size_t pre = 10;
  int major = 1;
  if (dict.size() + 1 + 64 > 65535) {
    pre = 12;
    major = 2;
  }
  size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - pre - dict.size() - 1, ' ');
  dict += '\n';
  const size_t hl = dict.size();
  std::vector<uint8_t> out(pre + hl + t.nbytes());
  std::memcpy(out.data(), kMagic, 6);
  out[6] = static_cast<uint8_t>(major);
  out[7] = 0;
  for (size_t i = 0; i < pre - 8; ++i) out[8 + i] = static_cast<uint8_t>((hl >> (8 * i)) & 0xff);
  std::memcpy(out.data() + pre, dict.data(), hl);
  if (t.nbytes()) std::memcpy(out.data() + pre + hl, t.raw(), t.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::vector<uint8_t> b = serialize_npy(t);
  write_file(path, b.data(), b.size());
}

}  // namespace teesplit
