// Image similarity scores for reconstruction attacks (docs/privacy.md, "Scores").
// Plain C++ (no LibTorch): the CLI and tests may use it directly.
//
// ssim(): the structural similarity of Wang et al. (2004) as scikit-image's
// structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, data_range=R, channel_axis=0) computes it:
//  - local means, variances and covariance under a Gaussian window (sigma 1.5,
//    truncated at 3.5 sigma: radius 5, 11 taps, weights normalised to sum 1),
//    applied separably with mirror ("reflect", d c b a | a b c d) borders;
//  - S = (2 ux uy + C1)(2 sxy + C2) / ((ux^2 + uy^2 + C1)(sx + sy + C2)),
//    C1 = (0.01 R)^2, C2 = (0.03 R)^2, population (not sample) covariances;
//  - the mean of S over the pixels at least 5 from every border, per channel,
//    then the mean over channels.
// Images are float [C,H,W] with H, W >= 11.
#pragma once

#include <cstdint>
#include <vector>

namespace teesplit {

double ssim(const float* a, const float* b, int64_t channels, int64_t height, int64_t width,
            double data_range);

// Peak signal-to-noise ratio 10 log10(R^2 / MSE) over all C*H*W values, capped
// at 100 dB (identical images) so that it is always a finite number.
double psnr(const float* a, const float* b, int64_t count, double data_range);

// Mean, (population) standard deviation and percentiles (linear interpolation
// between order statistics, as numpy.percentile's default) of a sample.
struct Spread {
  double mean = 0, std = 0, p10 = 0, median = 0, p90 = 0;
};
Spread spread(std::vector<double> v);
double interpolated_percentile(std::vector<double> v, double q);  // q in [0, 100]

}  // namespace teesplit
