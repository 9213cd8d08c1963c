// A progress line on stderr, as the long commands draw it (train, attack):
// rewritten in place on a terminal (at most 4 updates a second), one line every
// 10 s when stderr is a file (a nohup log), so that logs stay readable.
// ProgressBlock draws several such lines at once (`teesplit attack --jobs`: one
// per process), and a ProgressLine can instead keep its latest line in a file,
// for a parent process to show.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace teesplit {

// Where a ProgressLine keeps its latest line instead of stderr (see below).
struct ProgressFile {
  std::string path;
};

class ProgressLine {
 public:
  // width: the terminal line is padded to this many characters (clearing the last one).
  explicit ProgressLine(bool enabled, int width = 110);
  // Keeps the latest line (at most 4 updates a second) in `file`, overwritten in
  // place, instead of drawing it on stderr; clear() empties the file. Throws
  // Error naming the file when it cannot be created.
  explicit ProgressLine(const ProgressFile& file, int width = 110);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  // Shows `line` unless the last update was too recent (force: show it anyway).
  void update(const std::string& line, bool force = false);
  // Erases the line on a terminal (before printing something else).
  void clear();

 private:
  bool enabled_, tty_;
  int width_;
  int fd_ = -1;  // the file of the second constructor
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

// Several progress lines drawn together: on a terminal as a block rewritten in
// place when they change (each line cut to the terminal's width, so that none
// wraps); when stderr is a file, joined with " | " into one line every 10 s.
class ProgressBlock {
 public:
  explicit ProgressBlock(bool enabled);
  ~ProgressBlock() { clear(); }
  ProgressBlock(const ProgressBlock&) = delete;
  ProgressBlock& operator=(const ProgressBlock&) = delete;
  void update(const std::vector<std::string>& lines, bool force = false);
  // Erases the block on a terminal (before printing something else).
  void clear();

 private:
  bool enabled_, tty_;
  int shown_ = 0;                   // lines drawn on the terminal
  std::vector<std::string> drawn_;  // what they say: the same lines are not drawn again
  std::chrono::steady_clock::time_point last_;
};

// The latest line a ProgressLine kept in `file` ("" when there is none yet).
std::string read_progress_file(const std::string& file);

// "[=====     ]": i of n done, in `width` characters.
std::string progress_bar(int64_t i, int64_t n, int width = 20);

}  // namespace teesplit
