#include "core/numbers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace teesplit {

double median(std::vector<double> v) {
  TS_CHECK(!v.empty(), "median of no values");
  const size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + n / 2, v.end());
  const double upper = v[n / 2];
  if (n % 2) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + n / 2);
  return 0.5 * (lower + upper);
}

double percentile(std::vector<double> v, double p) {
  TS_CHECK(!v.empty(), "percentile of no values");
  TS_CHECK(p > 0 && p <= 100, "percentile ", p, " is outside (0, 100]");
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::max<size_t>(rank, 1);
  std::nth_element(v.begin(), v.begin() + (rank - 1), v.end());
  return v[rank - 1];
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

}  // namespace teesplit
