// The attackers' networks (LibTorch): the decoder that maps a feature map back
// to an image (the c-GAN's generator and the inversion network) and the
// PatchGAN discriminator of the c-GAN.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace teesplit {

// conv3x3-BN-ReLU-conv3x3-BN plus the identity.
struct ResBlockImpl : torch::nn::Module {
  explicit ResBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
};
TORCH_MODULE(ResBlock);

// Decoder from a feature map [N,C,h,w] (or [N,D], seen as [N,D,1,1]) to an
// image [N,out_c,H,W] with values in [lo, hi] (a scaled sigmoid):
//  head: when h or w < 4, a Linear layer to [ch,4,4]; else conv3x3 to ch
//        channels; BN, ReLU, then one residual block; ch = 32 * 2^stages, at
//        most width (32 channels at the image's resolution, doubled per factor
//        of 2 below it, so that every stage costs about the same);
//  one stage per factor of 2 between the head's size and H (its depth matches
//        the cut's downsampling): nearest x2 upsampling, conv3x3 (channels
//        halved, at least 32), BN, ReLU, a residual block;
//  bilinear resize to H x W when the sizes are not a power-of-two apart, then
//        conv3x3 to out_c.
struct DecoderImpl : torch::nn::Module {
  DecoderImpl(const std::vector<int64_t>& feature_shape, const std::vector<int64_t>& image_shape,
              int64_t width, double lo, double hi);
  torch::Tensor forward(torch::Tensor x);

  std::vector<int64_t> feature_shape, image_shape;
  bool linear_head = false;
  int64_t head_side = 0, head_channels = 0;
  double lo, hi;
  torch::nn::Linear fc{nullptr};
  torch::nn::Conv2d head_conv{nullptr}, out_conv{nullptr};
  torch::nn::BatchNorm2d head_bn{nullptr};
  ResBlock head_res{nullptr};
  torch::nn::ModuleList stages;
};
TORCH_MODULE(Decoder);

// PatchGAN discriminator on [feature map resized to H x W, image]: a 1x1 conv
// reduces the feature channels to 32, then conv4x4 stride 2 (64), LeakyReLU
// 0.2, conv4x4 stride 2 (128), BN, LeakyReLU, conv4x4 stride 1 to one logit per
// patch. The 1x1 conv runs before the resize (resize_features), which gives the
// same values as after it: both are linear and the resize's weights per output
// pixel sum to one, so the bias passes through; but it costs C x h x w products
// per output channel instead of C x H x W (512 flat features: 1024 times fewer).
//
// The first conv4x4 is linear in its input, so it is computed as two: its
// feature-map channels (with its bias), condition(), and its image channels,
// inside judge(). A c-GAN step judges a real and a generated image of the same
// feature batch, so it computes condition() once for both (half the first
// layer's work, forward and backward); the values are those of one conv4x4 over
// the concatenation up to the order of sums. The image channels run in NCHW
// memory: oneDNN's channels-last path for one input channel was 40 times slower
// here (24 against 0.6 ms forward at batch 64).
struct PatchDiscriminatorImpl : torch::nn::Module {
  PatchDiscriminatorImpl(int64_t feature_channels, int64_t image_channels);
  // features: [N,C,h,w] or [N,D] (as [N,D,1,1]); image: [N,image_channels,H,W].
  // The same as judge(condition(features, H, W), image).
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& image);
  // The first layer's response to the feature map alone, bias included:
  // [N,64,H/2,W/2].
  torch::Tensor condition(const torch::Tensor& features, int64_t height, int64_t width);
  // The logits [N,1,H/4-1,W/4-1] of `image` judged under `condition`.
  torch::Tensor judge(const torch::Tensor& condition, const torch::Tensor& image);
  int64_t image_channels;
  torch::nn::Conv2d reduce{nullptr}, c1{nullptr}, c2{nullptr}, c3{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
};
TORCH_MODULE(PatchDiscriminator);

// A feature batch as [N,C,h,w] (rank-2 features become [N,D,1,1]), resized to
// H x W (bilinear, or nearest from 1x1).
torch::Tensor resize_features(const torch::Tensor& f, int64_t height, int64_t width);

// Channels-last (NHWC) memory for the attackers' training: LibTorch's oneDNN
// convolutions, forward and backward, are faster that way; the c-GAN and the
// inversion network trained 1.0 to 1.4 times faster on VGG-16's cuts, the
// deeper cuts gaining most (docs/privacy.md, "Training speed"). The values are
// the same up to the order of floating-point sums.
// Every rank-4 parameter and buffer of `m` (the convolutions' weights) in place.
void to_channels_last(torch::nn::Module& m);
// A rank-4 tensor in channels-last memory; any other rank unchanged.
torch::Tensor channels_last(const torch::Tensor& t);

}  // namespace teesplit
