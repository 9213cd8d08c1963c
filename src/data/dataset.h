// Data sets for training, attacks and evaluation: a common interface over
// Fashion-MNIST/MNIST IDX files, ImageNet-style folders and the TON_IoT network CSV.
//
// Every sample is a float32 image [C,H,W] and an int64 class label. Readers check all
// lengths and indices from files before use and throw Error naming the file and the
// line or byte offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace teesplit {

struct Sample {
  Tensor image;  // float32 [C,H,W]
  int64_t label = 0;
};

struct Batch {
  Tensor images;  // float32 [N,C,H,W]
  Tensor labels;  // int64 [N]
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::string name() const = 0;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual Shape input_shape() const = 0;  // {C,H,W}
  virtual const std::vector<std::string>& class_names() const = 0;
  // Sample i, 0 <= i < size(); throws Error for a bad index or unreadable data.
  // Safe to call from several threads at once.
  virtual Sample get(int64_t i) const = 0;
  // Label of sample i without decoding the input where the format allows it.
  virtual int64_t label(int64_t i) const { return get(i).label; }
  // Samples [begin, begin + count) stacked; count is clipped at size().
  virtual Batch get_batch(int64_t begin, int64_t count) const;
  // Samples at the given indices, stacked.
  Batch get_batch(const std::vector<int64_t>& indices) const;
  // Extra description for `teesplit data` (feature layout, source files...); may be empty.
  virtual std::string describe() const { return {}; }
  // Tabular data: the fitted FeatureEncoder::to_string() (store it with a model so that
  // inference encodes rows the same way). Empty for images.
  virtual std::string encoder_string() const { return {}; }
  // Number of samples per class (label(i) over all i).
  virtual std::vector<int64_t> class_counts() const;
};

struct DatasetOptions {
  // "train" or "test" ("val" and "t10k" are accepted as "test").
  std::string split = "train";
  // Images: output side S (S x S). 0 = native (28 for IDX, 224 crop for ImageNet folders).
  int64_t image_size = 0;
  // ImageNet folders: shorter side before the centre crop; 0 = image_size * 256 / 224.
  int64_t resize_shorter = 0;
  // Output channels: 0 = native (1 for IDX, 3 for ImageNet folders); 1 or 3.
  int64_t channels = 0;
  // Normalisation (x / 255 - mean[c]) / std[c]. Empty: IDX -> [0,1] (mean 0, std 1);
  // ImageNet folders -> the ImageNet statistics. One value applies to every channel.
  std::vector<float> mean;
  std::vector<float> std;
  // ImageNet folders: a corrupt image is an Error (false) or skipped with a warning (true).
  bool skip_corrupt = false;
  // ImageNet folders: validation label file (see docs/data.md); empty = look for one.
  std::string label_file;

  // TON_IoT CSV.
  int64_t tabular_side = 8;       // rows become side x side single-channel images: 8 or 16
  std::string target = "binary";  // "binary" (label column, 2 classes) or "type" (10 classes)
  double train_ratio = 0.8;       // fraction of rows in the train split
  uint64_t split_seed = 0x7e5e5917;
  bool include_identifiers = false;  // src/dst ip and port, ts (they leak the label)
  int64_t hash_buckets = 0;          // buckets for hashed columns; 0 = 64 (8x8) or 16 (16x16)
  std::string encoder;               // a FeatureEncoder::to_string() to use instead of fitting
};

// Opens a data set from a spec:
//   fashion-mnist            (directory /usr/share/datasets/fashion-mnist/)
//   fashion-mnist:DIR        mnist:DIR
//   imagenet:DIR             (DIR/<class>/*.JPEG or DIR/train/<class>/..., DIR/val/...)
//   ton-iot:CSV              (Train_Test_Network.csv or Network_dataset_*.csv)
std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DatasetOptions& opt = {});

// Normalised split name ("train" or "test"); throws for anything else.
std::string normalize_split(const std::string& split);

}  // namespace teesplit
