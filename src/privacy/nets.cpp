#include "privacy/nets.h"

#include <cmath>

namespace teesplit {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {
nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = -1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad < 0 ? k / 2 : pad));
}

// A feature batch as [N,C,h,w]: rank-2 features [N,D] become [N,D,1,1].
torch::Tensor as_maps(const torch::Tensor& f) {
  return f.dim() == 4 ? f : f.reshape({f.size(0), -1, 1, 1});
}
}  // namespace

ResBlockImpl::ResBlockImpl(int64_t channels) {
  conv1 = register_module("conv1", conv(channels, channels, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(channels));
  conv2 = register_module("conv2", conv(channels, channels, 3));
  bn2 = register_module("bn2", nn::BatchNorm2d(channels));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  return torch::relu(x + bn2(conv2(torch::relu(bn1(conv1(x))))));
}

DecoderImpl::DecoderImpl(const std::vector<int64_t>& fshape, const std::vector<int64_t>& ishape,
                         int64_t width, double lo_, double hi_)
    : feature_shape(fshape), image_shape(ishape), lo(lo_), hi(hi_) {
  const int64_t c = fshape[0];
  const int64_t h = fshape.size() == 3 ? fshape[1] : 1, w = fshape.size() == 3 ? fshape[2] : 1;
  const int64_t out_h = ishape[1];
  linear_head = h < 4 || w < 4;
  head_side = linear_head ? std::min<int64_t>(4, out_h) : h;
  // 32 channels at the image's resolution, twice as many per factor of 2 below
  // it, at most `width` (the cost per stage stays about the same).
  int64_t factor = 1;
  while (head_side * factor * 2 <= out_h) factor *= 2;
  head_channels = std::min(width, std::max<int64_t>(32, 32 * factor));
  if (linear_head) {
    fc = register_module("fc", nn::Linear(c * h * w, head_channels * head_side * head_side));
  } else {
    head_conv = register_module("head_conv", conv(c, head_channels, 3));
  }
  head_bn = register_module("head_bn", nn::BatchNorm2d(head_channels));
  head_res = register_module("head_res", ResBlock(head_channels));
  int64_t side = head_side, ch = head_channels;
  while (side * 2 <= out_h) {
    const int64_t next = std::max<int64_t>(std::min<int64_t>(32, ch), ch / 2);
    nn::Sequential st(nn::Upsample(nn::UpsampleOptions()
                                       .scale_factor(std::vector<double>{2.0, 2.0})
                                       .mode(torch::kNearest)),
                      conv(ch, next, 3), nn::BatchNorm2d(next), nn::ReLU(), ResBlock(next));
    stages->push_back(st);
    ch = next;
    side *= 2;
  }
  register_module("stages", stages);
  out_conv = register_module("out_conv", conv(ch, ishape[0], 3));
}

torch::Tensor DecoderImpl::forward(torch::Tensor x) {
  const int64_t n = x.size(0);
  if (linear_head) {
    x = fc(x.reshape({n, -1})).reshape({n, head_channels, head_side, head_side});
  } else {
    x = head_conv(x);
  }
  x = head_res(torch::relu(head_bn(x)));
  for (const auto& st : *stages) x = st->as<nn::Sequential>()->forward(x);
  if (x.size(2) != image_shape[1] || x.size(3) != image_shape[2])
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{image_shape[1], image_shape[2]})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  return lo + (hi - lo) * torch::sigmoid(out_conv(x));
}

PatchDiscriminatorImpl::PatchDiscriminatorImpl(int64_t feature_channels, int64_t image_channels_)
    : image_channels(image_channels_) {
  reduce = register_module("reduce", conv(feature_channels, 32, 1));
  c1 = register_module("c1", conv(32 + image_channels, 64, 4, 2, 1));
  c2 = register_module("c2", conv(64, 128, 4, 2, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(128));
  c3 = register_module("c3", conv(128, 1, 4, 1, 1));
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& features,
                                              const torch::Tensor& img) {
  return judge(condition(features, img.size(2), img.size(3)), img);
}

torch::Tensor PatchDiscriminatorImpl::condition(const torch::Tensor& features, int64_t height,
                                                int64_t width) {
  const torch::Tensor r = resize_features(reduce(as_maps(features)), height, width);
  return F::conv2d(r, c1->weight.slice(1, 0, 32),
                   F::Conv2dFuncOptions().bias(c1->bias).stride(2).padding(1));
}

torch::Tensor PatchDiscriminatorImpl::judge(const torch::Tensor& cond, const torch::Tensor& img) {
  const torch::Tensor seen = F::conv2d(img.contiguous(), c1->weight.slice(1, 32).contiguous(),
                                       F::Conv2dFuncOptions().stride(2).padding(1));
  torch::Tensor x = F::leaky_relu(cond + seen, F::LeakyReLUFuncOptions().negative_slope(0.2));
  x = F::leaky_relu(bn2(c2(x)), F::LeakyReLUFuncOptions().negative_slope(0.2));
  return c3(x);
}

torch::Tensor resize_features(const torch::Tensor& f, int64_t height, int64_t width) {
  const torch::Tensor x = as_maps(f);
  if (x.size(2) == height && x.size(3) == width) return x;
  auto o = F::InterpolateFuncOptions().size(std::vector<int64_t>{height, width});
  if (x.size(2) == 1 && x.size(3) == 1) return F::interpolate(x, o.mode(torch::kNearest));
  return F::interpolate(x, o.mode(torch::kBilinear).align_corners(false));
}

void to_channels_last(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& p : m.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  for (auto& b : m.buffers())
    if (b.dim() == 4) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor channels_last(const torch::Tensor& t) {
  return t.dim() == 4 ? t.contiguous(torch::MemoryFormat::ChannelsLast) : t;
}

}  // namespace teesplit
