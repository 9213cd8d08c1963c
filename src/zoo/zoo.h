// Model zoo: builds torchvision-0.14-shaped VGG-16, ResNet-50 and EfficientNet-B0
// as ONNX models with seeded random weights, in C++ (libonnx protobuf).
//
// Names follow torchvision's module names, as PyTorch's exporter writes them:
// initializers are state_dict keys ("features.0.weight", "layer2.1.bn1.running_var",
// BN running statistics included), nodes are scope paths
// ("/layer2/layer2.1/conv1/Conv"), and an op's output is "<node name>_output_0".
// A trainer may therefore replace initializers by name. The graph input is
// "input" [N,C,S,S] (N = "batch" when dynamic_batch, else 1), the output "logits"
// [N,classes]. BatchNormalization stays unfolded (one node after every conv that
// has one in torchvision); Dropout nodes stand where torchvision has Dropout, with
// its drop probability (EfficientNet 0.2: a Constant ratio input from opset 12 on).
//
// Weights: a tensor's values depend only on (seed, its name, its shape), drawn
// from std::mt19937_64 with a hand-written Box-Muller, so they are the same on
// every run and platform with IEEE doubles and glibc's libm. Init follows
// torchvision: convs Kaiming normal (fan_out, ReLU gain), conv biases 0; BN
// gamma 1, beta 0, mean 0, var 1 (or random with randomize_bn); VGG Linear
// N(0, 0.01) with bias 0; ResNet fc U(-1/sqrt(in), 1/sqrt(in)) for weight and
// bias; EfficientNet Linear U(-1/sqrt(out), 1/sqrt(out)), bias 0.
//
// Choices where torchvision has no equivalent (documented contract):
// - width scales every channel count: VGG and ResNet round c*width to the nearest
//   multiple of 8 (at least 8), VGG's 4096-wide hidden Linear layers included;
//   EfficientNet uses torchvision's _make_divisible(c*width, 8) and its last conv
//   has 4 * (adjusted 320) channels. Depth is never scaled.
// - VGG's AdaptiveAvgPool2d(7) on an F x F feature map (F = floor(S/32)):
//   F == 7: no node (identity, as at 224); F > 7: AveragePool with stride
//   s = floor(F/7) and kernel F - 6s (equals adaptive pooling when F % 7 == 0);
//   F < 7: no pooling at all, the classifier reads the F x F map directly
//   (in_features = C*F*F), as small-input VGG variants do.
// - EfficientNet-B0 BatchNorm epsilon is 1e-5 as in torchvision 0.14's
//   efficientnet_b0 (the 1e-3 of the TF original is used there only for B5-B7);
//   ResNet-50's is 1e-5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace teesplit {

struct ZooOptions {
  std::string arch;          // one of zoo_archs()
  int64_t input_size = 224;  // H = W; at least 32 (the total stride of all three)
  int64_t channels = 3;      // input channels
  int64_t classes = 1000;
  double width = 1.0;  // channel multiplier, (0, 16]
  uint64_t seed = 0;
  bool dynamic_batch = true;
  int64_t opset = 13;         // default-domain opset written, 11..17
  bool randomize_bn = false;  // BN: mean~N(0,0.1), var~U(0.5,1.5), gamma~U(0.5,1.5), beta~N(0,0.1)
};

// {"vgg16", "resnet50", "efficientnet_b0"}.
std::vector<std::string> zoo_archs();

// Throws teesplit::Error with a one-line message naming the bad option.
void validate_zoo_options(const ZooOptions& opts);

// Trainable parameter count (torchvision's sum of p.numel(); BN running stats
// excluded), computed without allocating weights. Validates the options.
int64_t zoo_parameter_count(const ZooOptions& opts);

// A valid ONNX ModelProto (serialized bytes) of the architecture, checked by
// onnx::checker::check_model. Throws teesplit::Error on bad options.
std::string zoo_model_bytes(const ZooOptions& opts);

// Writes zoo_model_bytes(opts) to path; throws teesplit::Error naming the file.
void write_zoo_model(const ZooOptions& opts, const std::string& path);

}  // namespace teesplit
