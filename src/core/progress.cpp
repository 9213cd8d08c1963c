#include "core/progress.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace teesplit {

using Clock = std::chrono::steady_clock;

namespace {

// Seconds between updates: a terminal redraws in place, a log file gets a line.
double min_gap(bool tty) {
  return tty ? 0.25 : 10.0;
}

}  // namespace

ProgressLine::ProgressLine(bool enabled, int width)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      width_(width),
      last_(Clock::now() - std::chrono::hours(1)) {}

ProgressLine::ProgressLine(const ProgressFile& file, int width)
    : enabled_(true), tty_(true), width_(width), last_(Clock::now() - std::chrono::hours(1)) {
  fd_ = ::open(file.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TS_CHECK(fd_ >= 0, file.path, ": cannot create the progress file: ", std::strerror(errno));
}

ProgressLine::~ProgressLine() {
  if (fd_ >= 0) ::close(fd_);
}

void ProgressLine::update(const std::string& line, bool force) {
  if (!enabled_) return;
  const double gap = std::chrono::duration<double>(Clock::now() - last_).count();
  if (!force && gap < min_gap(tty_)) return;
  last_ = Clock::now();
  shown_ = true;
  if (fd_ >= 0) {
    // Overwritten in place: the new line (ending in '\n') first, then the old
    // one's tail cut off, so that a reader's first line is always whole.
    const std::string text = line + "\n";
    if (::pwrite(fd_, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()))
      (void)!::ftruncate(fd_, static_cast<off_t>(text.size()));
    return;
  }
  if (tty_)
    std::fprintf(stderr, "\r%-*s", width_, line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void ProgressLine::clear() {
  if (fd_ >= 0) {
    if (shown_) (void)!::ftruncate(fd_, 0);
  } else if (enabled_ && tty_ && shown_) {
    std::fprintf(stderr, "\r%-*s\r", width_, "");
  }
  shown_ = false;
}

ProgressBlock::ProgressBlock(bool enabled)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      last_(Clock::now() - std::chrono::hours(1)) {}

void ProgressBlock::update(const std::vector<std::string>& lines, bool force) {
  if (!enabled_ || (tty_ && shown_ > 0 && lines == drawn_)) return;
  const double gap = std::chrono::duration<double>(Clock::now() - last_).count();
  if (!force && gap < min_gap(tty_)) return;
  last_ = Clock::now();
  if (!tty_) {
    std::string joined;
    for (const std::string& l : lines)  // without the indentation that a block draws
      joined +=
          (joined.empty() ? "" : " | ") + l.substr(std::min(l.find_first_not_of(' '), l.size()));
    std::fprintf(stderr, "%s\n", joined.c_str());
    std::fflush(stderr);
    return;
  }
  winsize ws{};
  const size_t cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 110;
  std::string out;
  if (shown_ > 0) out += "\033[" + std::to_string(shown_) + "F";  // the block's first line
  for (const std::string& l : lines) {
    size_t n = std::min(l.size(), cols - 1);  // a wrapped line would break the redraw
    while (n > 0 && n < l.size() && (static_cast<unsigned char>(l[n]) & 0xC0) == 0x80) --n;
    out += "\033[2K" + l.substr(0, n) + "\n";
  }
  if (static_cast<int>(lines.size()) < shown_) out += "\033[J";  // lines no longer shown
  shown_ = static_cast<int>(lines.size());
  drawn_ = lines;
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

void ProgressBlock::clear() {
  if (enabled_ && tty_ && shown_ > 0) {
    std::fprintf(stderr, "\033[%dF\033[J", shown_);
    std::fflush(stderr);
  }
  shown_ = 0;
  drawn_.clear();
  // The next update draws at once.
  last_ = Clock::now() - std::chrono::hours(1);
}

std::string read_progress_file(const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[4096];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n <= 0) return "";
  const std::string text(buf, static_cast<size_t>(n));
  const size_t end = text.find('\n');
  return end == std::string::npos ? "" : text.substr(0, end);  // a whole line only
}

std::string progress_bar(int64_t i, int64_t n, int width) {
  width = std::max(width, 0);
  const int fill =
      std::clamp(static_cast<int>(static_cast<double>(i) /
                                  static_cast<double>(std::max<int64_t>(n, 1)) * width),
                 0, width);
  // Appended in place: "[" + std::string(...) tripped GCC 12's -Wrestrict.
  std::string bar;
  bar.reserve(static_cast<size_t>(width) + 2);
  bar += '[';
  bar.append(static_cast<size_t>(fill), '=');
  bar.append(static_cast<size_t>(width - fill), ' ');
  bar += ']';
  return bar;
}

}  // namespace teesplit
