#include "data/dataset.h"

#include <cstring>

#include "core/error.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/ton_iot.h"

namespace teesplit {

Batch Dataset::get_batch(int64_t begin, int64_t count) const {
  TS_CHECK(begin >= 0 && begin <= size() && count >= 0, name(), ": bad batch [", begin, ", +",
           count, ") of ", size());
  count = std::min(count, size() - begin);
  std::vector<int64_t> idx(count);
  for (int64_t k = 0; k < count; ++k) idx[k] = begin + k;
  return get_batch(idx);
}

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
  Shape in = input_shape();
  Shape s = {static_cast<int64_t>(indices.size())};
  s.insert(s.end(), in.begin(), in.end());
  Batch b;
  b.images = Tensor(DType::F32, s);
  b.labels = Tensor(DType::I64, {static_cast<int64_t>(indices.size())});
  const int64_t per = shape_numel(in);
  for (size_t k = 0; k < indices.size(); ++k) {
    Sample smp = get(indices[k]);
    TS_CHECK(smp.image.numel() == per, name(), ": sample ", indices[k], " has shape ",
             shape_str(smp.image.shape()), ", expected ", shape_str(in));
    std::memcpy(b.images.data<float>() + k * per, smp.image.data<float>(), per * sizeof(float));
    b.labels.data<int64_t>()[k] = smp.label;
  }
  return b;
}

std::vector<int64_t> Dataset::class_counts() const {
  std::vector<int64_t> c(num_classes(), 0);
  for (int64_t i = 0; i < size(); ++i) {
    int64_t l = label(i);
    TS_CHECK(l >= 0 && l < num_classes(), name(), ": sample ", i, " has label ", l, " outside [0,",
             num_classes(), ")");
    ++c[l];
  }
  return c;
}

std::string normalize_split(const std::string& split) {
  if (split == "train") return "train";
  if (split == "test" || split == "val" || split == "t10k") return "test";
  fail("unknown split '", split, "' (use train or test)");
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DatasetOptions& opt) {
  size_t colon = spec.find(':');
  std::string kind = spec.substr(0, colon);
  std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "fashion-mnist" || kind == "mnist") {
    if (arg.empty()) {
      TS_CHECK(kind == "fashion-mnist", "mnist needs a directory: mnist:DIR");
      arg = kFashionMnistDir;
    }
    return open_idx_dataset(arg, kind, opt);
  }
  if (kind == "imagenet") {
    TS_CHECK(!arg.empty(), "imagenet needs a directory: imagenet:DIR");
    return open_image_folder(arg, opt);
  }
  if (kind == "ton-iot" || kind == "ton_iot") {
    TS_CHECK(!arg.empty(), "ton-iot needs a CSV file: ton-iot:FILE.csv");
    return open_ton_iot(arg, opt);
  }
  fail("unknown data set spec '", spec,
       "' (use fashion-mnist[:DIR], mnist:DIR, imagenet:DIR or ton-iot:CSV)");
}

}  // namespace teesplit
