#include "privacy/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace teesplit {
namespace {

constexpr int kRadius = 5;  // int(3.5 * 1.5 + 0.5): scipy's truncate=3.5 at sigma 1.5

std::vector<double> gaussian_taps() {
  std::vector<double> w(2 * kRadius + 1);
  double sum = 0;
  for (int i = -kRadius; i <= kRadius; ++i) {
    w[i + kRadius] = std::exp(-0.5 * i * i / (1.5 * 1.5));
    sum += w[i + kRadius];
  }
  for (double& x : w) x /= sum;
  return w;
}

// Mirror index for scipy's "reflect" mode (the edge sample repeated).
int64_t reflect(int64_t i, int64_t n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

// Separable Gaussian filter of an h x w plane.
std::vector<double> blur(const std::vector<double>& x, int64_t h, int64_t w,
                         const std::vector<double>& taps) {
  std::vector<double> tmp(x.size()), out(x.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t c = 0; c < w; ++c) {
      double s = 0;
      for (int k = -kRadius; k <= kRadius; ++k)
        s += taps[k + kRadius] * x[y * w + reflect(c + k, w)];
      tmp[y * w + c] = s;
    }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t c = 0; c < w; ++c) {
      double s = 0;
      for (int k = -kRadius; k <= kRadius; ++k)
        s += taps[k + kRadius] * tmp[reflect(y + k, h) * w + c];
      out[y * w + c] = s;
    }
  return out;
}

}  // namespace

double ssim(const float* a, const float* b, int64_t channels, int64_t height, int64_t width,
            double data_range) {
  TS_CHECK(channels >= 1 && height >= 2 * kRadius + 1 && width >= 2 * kRadius + 1,
           "SSIM needs images of at least 11x11 pixels, got ", channels, "x", height, "x", width);
  TS_CHECK(data_range > 0 && std::isfinite(data_range), "SSIM: data range must be > 0");
  static const std::vector<double> taps = gaussian_taps();
  const double c1 = std::pow(0.01 * data_range, 2), c2 = std::pow(0.03 * data_range, 2);
  const int64_t plane = height * width;
  double total = 0;
  std::vector<double> x(plane), y(plane), xx(plane), yy(plane), xy(plane);
  for (int64_t ch = 0; ch < channels; ++ch) {
    for (int64_t i = 0; i < plane; ++i) {
      x[i] = a[ch * plane + i];
      y[i] = b[ch * plane + i];
      xx[i] = x[i] * x[i];
      yy[i] = y[i] * y[i];
      xy[i] = x[i] * y[i];
    }
    const auto ux = blur(x, height, width, taps), uy = blur(y, height, width, taps);
    const auto uxx = blur(xx, height, width, taps), uyy = blur(yy, height, width, taps);
    const auto uxy = blur(xy, height, width, taps);
    double sum = 0;
    int64_t n = 0;
    for (int64_t r = kRadius; r < height - kRadius; ++r)
      for (int64_t c = kRadius; c < width - kRadius; ++c) {
        const int64_t i = r * width + c;
        const double vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i];
        const double cxy = uxy[i] - ux[i] * uy[i];
        sum += ((2 * ux[i] * uy[i] + c1) * (2 * cxy + c2)) /
               ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2));
        ++n;
      }
    total += sum / static_cast<double>(n);
  }
  return total / static_cast<double>(channels);
}

double psnr(const float* a, const float* b, int64_t count, double data_range) {
  TS_CHECK(count > 0 && data_range > 0, "PSNR: empty image or data range <= 0");
  double mse = 0;
  for (int64_t i = 0; i < count; ++i) mse += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  mse /= static_cast<double>(count);
  if (!(mse > 0)) return 100.0;
  return std::min(100.0, 10 * std::log10(data_range * data_range / mse));
}

double interpolated_percentile(std::vector<double> v, double q) {
  TS_CHECK(!v.empty(), "percentile of an empty sample");
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Spread spread(std::vector<double> v) {
  TS_CHECK(!v.empty(), "statistics of an empty sample");
  Spread s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  s.p10 = interpolated_percentile(v, 10);
  s.median = interpolated_percentile(v, 50);
  s.p90 = interpolated_percentile(v, 90);
  return s;
}

}  // namespace teesplit
