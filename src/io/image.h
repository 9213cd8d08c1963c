// 8-bit images: PNG (libpng) and JPEG (libjpeg) decoding, PNG writing, resizing,
// cropping and the ImageNet preprocessing that turns an image into a float tensor.
// Every decoder failure (corrupt, truncated, unsupported file) throws Error naming
// the file; nothing here aborts the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace teesplit {

// Interleaved (HWC) 8-bit pixels; channels is 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> data;  // height * width * channels bytes, row-major

  uint8_t& at(int y, int x, int c) { return data[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int y, int x, int c) const { return data[(size_t(y) * width + x) * channels + c]; }
};

enum class ImageFormat { Unknown, Png, Jpeg };

// Format from the first bytes (PNG signature / JPEG SOI marker), never from a file name.
ImageFormat sniff_image_format(const uint8_t* data, size_t size);

// PNG: grey, grey+alpha, RGB, RGBA and palette images of any bit depth. Palette images
// become RGB (RGBA when they carry transparency); 1/2/4-bit grey is expanded to 8 bits;
// 16-bit samples are scaled to 8 bits as round(v * 255 / 65535). Gamma is not applied.
Image decode_png(const uint8_t* data, size_t size, const std::string& name = "<memory>");
// JPEG: grey stays 1 channel, colour becomes RGB, CMYK/YCCK are converted to RGB.
// A truncated stream (premature end of data) is an error; other libjpeg warnings are not.
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name = "<memory>");
// Dispatches on the magic bytes.
Image decode_image(const uint8_t* data, size_t size, const std::string& name = "<memory>");
Image decode_image(const std::string& path);

// 8-bit PNG with 1..4 channels (grey, grey+alpha, RGB, RGBA); compression level 6.
std::vector<uint8_t> encode_png(const Image& img);
void write_png(const std::string& path, const Image& img);

// Converts between 1 (grey), 3 (RGB) and 4/2 (with alpha) channels. Grey -> RGB
// replicates; RGB -> grey uses ITU-R 601-2 luma (L = (299 R + 587 G + 114 B) / 1000,
// rounded, as PIL's convert("L")); alpha is dropped (not composited) or set to 255.
Image convert_channels(const Image& img, int channels);

// Bilinear resize to width x height.
//  antialias = false: the half-pixel-centre rule of torch.nn.functional.interpolate(
//    mode="bilinear", align_corners=False, antialias=False): source coordinate
//    s = (d + 0.5) * in / out - 0.5, clamped below at 0; the two nearest source pixels
//    (the second clamped to the last) are blended. No prefiltering when shrinking.
//  antialias = true: PIL's Image.resize(BILINEAR) triangle filter: when shrinking by a
//    factor f > 1 the filter support widens to f source pixels, weights normalised per
//    output pixel (equal to the rule above when enlarging).
// Both compute in float per channel and round to nearest at the end (PIL rounds between
// its horizontal and vertical passes, so results can differ from PIL by 1).
Image resize_bilinear(const Image& img, int width, int height, bool antialias = false);

// Centre crop to width x height with torchvision's CenterCrop offsets:
// top = round_half_even((H - h) / 2), left likewise. A side smaller than the crop is
// zero-padded (pad_before = (crop - size) / 2, rounded down), as torchvision pads.
Image center_crop(const Image& img, int width, int height);

// Sizes after torchvision's Resize(shorter): the shorter side becomes `shorter`, the
// longer one int(shorter * long / short) (truncated).
void resized_shorter_dims(int width, int height, int shorter, int* out_w, int* out_h);

struct PreprocessOptions {
  int64_t resize_shorter = 256;  // 0: no resize
  int64_t crop = 224;            // 0: no crop (output size = resized size)
  std::vector<float> mean = {0.485f, 0.456f, 0.406f};
  std::vector<float> std = {0.229f, 0.224f, 0.225f};
  int64_t channels = 3;   // 1 or 3; mean/std have this many entries (or exactly one)
  bool antialias = true;  // PIL-style (what torchvision's ImageNet weights were trained with)
};

// resize (shorter side) -> centre crop -> convert channels -> (v / 255 - mean[c]) / std[c].
// Grey input is replicated to 3 channels; alpha is dropped. Returns float32 [1,C,crop,crop].
Tensor imagenet_preprocess(const Image& img, const PreprocessOptions& opt = {});
Tensor imagenet_preprocess(const Image& img, int64_t resize_shorter, int64_t crop = 224,
                           std::vector<float> mean = {0.485f, 0.456f, 0.406f},
                           std::vector<float> std = {0.229f, 0.224f, 0.225f}, int64_t channels = 3);
// The same for a batch: float32 [N,C,crop,crop]. Requires crop > 0 (all outputs one size).
Tensor imagenet_preprocess_batch(const std::vector<Image>& imgs, const PreprocessOptions& opt = {});

// [C,H,W] or [1,C,H,W] float32 (C = 1, 3 or 4), values in [0,1] -> Image with
// pixel = round(clamp(v, 0, 1) * 255); NaN becomes 0.
Image tensor_to_image(const Tensor& t);
// Image -> float32 [C,H,W] with value * scale (default: [0,1]).
Tensor image_to_tensor(const Image& img, float scale = 1.0f / 255.0f);

}  // namespace teesplit
