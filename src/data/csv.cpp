#include "data/csv.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace teesplit {

CsvReader::CsvReader(const std::string& path, uint64_t offset, int64_t first_line,
                     size_t buffer_size)
    : path_(path), buf_(std::max<size_t>(buffer_size, 256)), line_(first_line) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) fail("CSV '", path, "': cannot open: ", std::strerror(errno));
  std::setvbuf(f_, nullptr, _IONBF, 0);  // we buffer ourselves
  if (offset && fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0) {
    std::fclose(f_);
    fail("CSV '", path, "': cannot seek to byte offset ", offset);
  }
  buf_offset_ = offset;
  if (offset == 0 && refill() && len_ >= 3 && std::memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0)
    pos_ = 3;  // UTF-8 byte-order mark
}

CsvReader::~CsvReader() {
  if (f_) std::fclose(f_);
}

bool CsvReader::refill() {
  if (eof_) return false;
  buf_offset_ += len_;
  pos_ = len_ = 0;
  size_t n = std::fread(buf_.data(), 1, buf_.size(), f_);
  if (n == 0) {
    if (std::ferror(f_))
      fail("CSV '", path_, "': read error at byte offset ", buf_offset_, ": ",
           std::strerror(errno));
    eof_ = true;
    return false;
  }
  len_ = n;
  return true;
}

bool CsvReader::next(std::vector<std::string>& fields) {
  size_t nf = 0;
  auto field = [&]() -> std::string& {
    if (nf == fields.size()) fields.emplace_back();
    std::string& s = fields[nf++];
    s.clear();
    return s;
  };
  // Skip blank lines.
  int c;
  for (;;) {
    record_offset_ = position();
    record_line_ = line_;
    c = peek();
    if (c == -1) {
      fields.clear();
      return false;
    }
    if (c == '\n') {
      ++pos_;
      ++line_;
    } else if (c == '\r') {
      ++pos_;
      if (peek() == '\n') ++pos_;
      ++line_;
    } else {
      break;
    }
  }
  for (;;) {
    std::string& s = field();
    c = peek();
    if (c == '"') {
      ++pos_;
      int64_t quote_line = line_;
      for (;;) {
        // Copy a run of ordinary characters at once.
        if (pos_ == len_ && !refill())
          fail("CSV '", path_, "' line ", quote_line, ": quoted field never closed (file ends)");
        const char* b = buf_.data() + pos_;
        const char* e = buf_.data() + len_;
        const char* q = static_cast<const char*>(std::memchr(b, '"', e - b));
        const char* stop = q ? q : e;
        for (const char* p = b; p < stop; ++p)
          if (*p == '\n') ++line_;
        s.append(b, stop);
        pos_ += stop - b;
        if (!q) continue;
        ++pos_;  // the quote
        if (peek() == '"') {
          s.push_back('"');
          ++pos_;
          continue;
        }
        break;
      }
      c = get();
      if (c == ',') continue;
      if (c == -1) break;
      if (c == '\n') {
        ++line_;
        break;
      }
      if (c == '\r') {
        if (peek() == '\n') ++pos_;
        ++line_;
        break;
      }
      fail("CSV '", path_, "' line ", line_, ": unexpected character '", static_cast<char>(c),
           "' after a closing quote in field ", nf);
    }
    // Unquoted field: up to ',', '\n', '\r' or the end.
    for (;;) {
      if (pos_ == len_ && !refill()) {
        c = -1;
        break;
      }
      const char* b = buf_.data() + pos_;
      const char* e = buf_.data() + len_;
      const char* p = b;
      while (p < e && *p != ',' && *p != '\n' && *p != '\r') ++p;
      s.append(b, p);
      pos_ += p - b;
      if (p < e) {
        c = static_cast<unsigned char>(*p);
        ++pos_;
        break;
      }
    }
    if (c == ',') continue;
    if (c == '\n') ++line_;
    if (c == '\r') {
      if (peek() == '\n') ++pos_;
      ++line_;
    }
    break;
  }
  fields.resize(nf);
  return true;
}

}  // namespace teesplit
