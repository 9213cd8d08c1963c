#include "data/data_cli.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "core/error.h"
#include "core/file.h"
#include "data/dataset.h"
#include "data/ton_iot.h"

namespace teesplit {

namespace {

const char* kUsage =
    "usage: teesplit data SPEC [options]\n"
    "  SPEC: fashion-mnist | fashion-mnist:DIR | mnist:DIR | imagenet:DIR | ton-iot:CSV\n"
    "  --head N              print the first N samples (label and stats, or the encoded vector)\n"
    "  --split train|test    (default train)\n"
    "  --size S              image side (IDX: resize to SxS; ImageNet: crop size)\n"
    "  --resize-shorter R    ImageNet: shorter side before the crop\n"
    "  --channels 1|3        output channels\n"
    "  --skip-corrupt        ImageNet: skip undecodable images with a warning\n"
    "  --label-file FILE     ImageNet: validation label file\n"
    "  --side 8|16           TON_IoT: image side of the encoded row\n"
    "  --hash-buckets B      TON_IoT: buckets for hashed columns (default 64 / 16)\n"
    "  --target binary|type  TON_IoT: label column (2 classes) or type column (10 classes)\n"
    "  --ratio R             TON_IoT: train fraction (default 0.8)\n"
    "  --seed N              TON_IoT: split seed\n"
    "  --include-identifiers TON_IoT: also encode ips, ports and ts\n"
    "  --encoder FILE        TON_IoT: use a saved encoder instead of fitting\n"
    "  --save-encoder FILE   TON_IoT: write the fitted encoder\n";

int64_t to_int(const std::string& flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(v, &end, 10);
  if (!*v || *end || errno) fail(flag, ": '", v, "' is not an integer");
  return r;
}

}  // namespace

int data_main(int argc, char** argv) {
  std::string spec;
  int64_t head = 0;
  std::string save_encoder;
  DatasetOptions opt;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> const char* {
        if (i + 1 >= argc) fail(a, " needs a value");
        return argv[++i];
      };
      if (a == "--head")
        head = to_int(a, value());
      else if (a == "--split")
        opt.split = value();
      else if (a == "--size")
        opt.image_size = to_int(a, value());
      else if (a == "--resize-shorter")
        opt.resize_shorter = to_int(a, value());
      else if (a == "--channels")
        opt.channels = to_int(a, value());
      else if (a == "--skip-corrupt")
        opt.skip_corrupt = true;
      else if (a == "--label-file")
        opt.label_file = value();
      else if (a == "--side")
        opt.tabular_side = to_int(a, value());
      else if (a == "--hash-buckets")
        opt.hash_buckets = to_int(a, value());
      else if (a == "--target")
        opt.target = value();
      else if (a == "--ratio") {
        const char* v = value();
        char* end = nullptr;
        opt.train_ratio = std::strtod(v, &end);
        if (!*v || *end) fail("--ratio: '", v, "' is not a number");
      } else if (a == "--seed")
        opt.split_seed = static_cast<uint64_t>(to_int(a, value()));
      else if (a == "--include-identifiers")
        opt.include_identifiers = true;
      else if (a == "--encoder") {
        opt.encoder = read_file(value());
      } else if (a == "--save-encoder")
        save_encoder = value();
      else if (a == "-h" || a == "--help") {
        std::cout << kUsage;
        return 0;
      } else if (!a.empty() && a[0] == '-')
        fail("unknown option ", a);
      else if (spec.empty())
        spec = a;
      else
        fail("more than one SPEC ('", spec, "' and '", a, "')");
    }
    if (spec.empty()) fail("no SPEC given");
    if (head < 0) fail("--head must be >= 0");
  } catch (const Error& e) {
    std::cerr << "teesplit data: " << e.what() << "\n" << kUsage;
    return 2;
  }
  try {
    std::unique_ptr<Dataset> ds = open_dataset(spec, opt);
    Shape in = ds->input_shape();
    std::cout << "dataset: " << ds->name() << " (" << spec << ")\n";
    std::cout << "rows: " << ds->size() << "\n";
    std::cout << "input shape (C,H,W): " << shape_str(in) << "\n";
    std::cout << "classes: " << ds->num_classes() << "\n";
    std::vector<int64_t> counts = ds->class_counts();
    const auto& names = ds->class_names();
    for (size_t c = 0; c < counts.size(); ++c)
      std::cout << "  " << c << " " << (c < names.size() ? names[c] : "?") << ": " << counts[c]
                << "\n";
    std::string d = ds->describe();
    if (!d.empty()) std::cout << d << (d.back() == '\n' ? "" : "\n");
    bool tabular = spec.rfind("ton-iot", 0) == 0 || spec.rfind("ton_iot", 0) == 0;
    int64_t n = std::min<int64_t>(head, ds->size());
    for (int64_t i = 0; i < n; ++i) {
      Sample s = ds->get(i);
      const float* v = s.image.data<float>();
      std::cout << "[" << i << "] label " << s.label << " ("
                << (s.label < int64_t(names.size()) ? names[s.label] : "?") << ")";
      if (tabular) {
        std::cout << " x =";
        char buf[32];
        for (int64_t k = 0; k < s.image.numel(); ++k) {
          std::snprintf(buf, sizeof buf, " %.4g", v[k]);
          std::cout << buf;
        }
      } else {
        double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
        for (int64_t k = 0; k < s.image.numel(); ++k) {
          sum += v[k], sq += double(v[k]) * v[k];
          lo = std::min<double>(lo, v[k]), hi = std::max<double>(hi, v[k]);
        }
        double mean = sum / s.image.numel();
        char buf[160];
        std::snprintf(buf, sizeof buf, " shape %s min %.4f max %.4f mean %.4f std %.4f",
                      shape_str(s.image.shape()).c_str(), lo, hi, mean,
                      std::sqrt(std::max(0.0, sq / s.image.numel() - mean * mean)));
        std::cout << buf;
      }
      std::cout << "\n";
    }
    if (!save_encoder.empty()) {
      if (!tabular) fail("--save-encoder applies to ton-iot only");
      std::string s = ds->encoder_string();
      write_file(save_encoder, s);
      std::cout << "encoder written to " << save_encoder << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "teesplit data: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace teesplit
