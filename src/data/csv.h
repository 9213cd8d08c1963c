// Streaming RFC 4180 CSV reader: comma-separated, fields optionally in double quotes
// (quoted fields may hold commas, line breaks and doubled quotes ""), LF or CRLF line
// ends, a UTF-8 byte-order mark at the start of the file is skipped, blank lines are
// skipped. Memory use is one buffer plus the current record.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace teesplit {

class CsvReader {
 public:
  // Reads `path` from byte `offset` (which must be the start of a record); `first_line`
  // is the line number of that position, used in messages. buffer_size: read size.
  explicit CsvReader(const std::string& path, uint64_t offset = 0, int64_t first_line = 1,
                     size_t buffer_size = size_t(1) << 16);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next record into `fields` (resized to the field count); false at the end
  // of the file. Throws Error naming the file and line for an unterminated quoted field
  // or text after a closing quote.
  bool next(std::vector<std::string>& fields);
  // 1-based line number and byte offset where the last record returned by next() starts.
  int64_t record_line() const { return record_line_; }
  uint64_t record_offset() const { return record_offset_; }
  // Bytes consumed so far (a position inside the file).
  uint64_t position() const { return buf_offset_ + pos_; }
  const std::string& path() const { return path_; }

 private:
  bool refill();
  int get() {
    if (pos_ == len_ && !refill()) return -1;
    return static_cast<unsigned char>(buf_[pos_++]);
  }
  int peek() {
    if (pos_ == len_ && !refill()) return -1;
    return static_cast<unsigned char>(buf_[pos_]);
  }

  std::string path_;
  std::FILE* f_ = nullptr;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  int64_t line_ = 1;
  int64_t record_line_ = 0;
  uint64_t record_offset_ = 0;
  bool eof_ = false;
};

}  // namespace teesplit
