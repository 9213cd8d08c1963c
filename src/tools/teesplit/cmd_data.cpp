// teesplit data SPEC [options]: summarises a data set (rows, class counts, input
// shape, tabular feature layout) and prints the first N encoded samples.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/file.h"
#include "data/dataset.h"
#include "data/ton_iot.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct DataArgs {
  std::string spec, encoder, save_encoder;
  int64_t head = 0;
  DatasetOptions opt;
};

void print_sample(int64_t i, const Sample& s, const std::vector<std::string>& names, bool tabular) {
  const float* v = s.image.data<float>();
  std::printf(
      "[%lld] label %lld (%s)", static_cast<long long>(i), static_cast<long long>(s.label),
      s.label >= 0 && s.label < int64_t(names.size()) ? names[size_t(s.label)].c_str() : "?");
  if (tabular) {
    std::printf(" x =");
    for (int64_t k = 0; k < s.image.numel(); ++k) std::printf(" %.4g", v[k]);
  } else {
    double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < s.image.numel(); ++k) {
      sum += v[k], sq += double(v[k]) * v[k];
      lo = std::min<double>(lo, v[k]), hi = std::max<double>(hi, v[k]);
    }
    const double n = double(std::max<int64_t>(s.image.numel(), 1));
    const double mean = sum / n;
    std::printf(" shape %s min %.4f max %.4f mean %.4f std %.4f",
                shape_str(s.image.shape()).c_str(), lo, hi, mean,
                std::sqrt(std::max(0.0, sq / n - mean * mean)));
  }
  std::printf("\n");
}

int data(DataArgs a) {
  const bool tabular = a.spec.rfind("ton-iot", 0) == 0 || a.spec.rfind("ton_iot", 0) == 0;
  if (!a.save_encoder.empty() && !tabular)
    throw UsageError("--save-encoder applies to ton-iot only");
  if (!a.encoder.empty()) a.opt.encoder = read_file(a.encoder);
  std::unique_ptr<Dataset> ds = open_dataset(a.spec, a.opt);
  std::printf("dataset: %s (%s)\n", ds->name().c_str(), a.spec.c_str());
  std::printf("rows: %lld\n", static_cast<long long>(ds->size()));
  std::printf("input shape (C,H,W): %s\n", shape_str(ds->input_shape()).c_str());
  std::printf("classes: %lld\n", static_cast<long long>(ds->num_classes()));
  const std::vector<int64_t> counts = ds->class_counts();
  const auto& names = ds->class_names();
  for (size_t c = 0; c < counts.size(); ++c)
    std::printf("  %zu %s: %lld\n", c, c < names.size() ? names[c].c_str() : "?",
                static_cast<long long>(counts[c]));
  const std::string d = ds->describe();
  if (!d.empty()) std::printf("%s%s", d.c_str(), d.back() == '\n' ? "" : "\n");
  const int64_t n = std::min<int64_t>(a.head, ds->size());
  for (int64_t i = 0; i < n; ++i) print_sample(i, ds->get(i), names, tabular);
  if (!a.save_encoder.empty()) {
    write_file(a.save_encoder, ds->encoder_string());
    std::printf("encoder written to %s\n", a.save_encoder.c_str());
  }
  return 0;
}

}  // namespace

Subcommand add_data_command(CLI::App& root) {
  auto a = std::make_shared<DataArgs>();
  CLI::App* app = root.add_subcommand(
      "data", "summarise a data set and print its first encoded samples (docs/data.md)");
  app->add_option("spec", a->spec,
                  "fashion-mnist | fashion-mnist:DIR | mnist:DIR | imagenet:DIR | ton-iot:CSV")
      ->required();
  app->add_option("--head", a->head, "print the first N samples")
      ->check(CLI::Range(int64_t{0}, INT64_MAX))
      ->capture_default_str();
  app->add_option("--split", a->opt.split, "train or test")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  app->add_option("--size", a->opt.image_size,
                  "image side (IDX: resize to SxS; ImageNet: crop size)");
  app->add_option("--resize-shorter", a->opt.resize_shorter,
                  "ImageNet: shorter side before the crop");
  app->add_option("--channels", a->opt.channels, "output channels (1 or 3)");
  app->add_flag("--skip-corrupt", a->opt.skip_corrupt,
                "ImageNet: skip undecodable images with a warning");
  app->add_option("--label-file", a->opt.label_file, "ImageNet: validation label file");
  app->add_option("--side", a->opt.tabular_side, "TON_IoT: image side of the encoded row (8|16)");
  app->add_option("--hash-buckets", a->opt.hash_buckets,
                  "TON_IoT: buckets for hashed columns (default 64 / 16)");
  app->add_option("--target", a->opt.target,
                  "TON_IoT: label column (binary, 2 classes) or type column (type, 10 classes)");
  app->add_option("--ratio", a->opt.train_ratio, "TON_IoT: train fraction")->capture_default_str();
  app->add_option("--seed", a->opt.split_seed, "TON_IoT: split seed")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_flag("--include-identifiers", a->opt.include_identifiers,
                "TON_IoT: also encode ips, ports and ts");
  app->add_option("--encoder", a->encoder, "TON_IoT: use a saved encoder instead of fitting");
  app->add_option("--save-encoder", a->save_encoder, "TON_IoT: write the fitted encoder");
  return {app, [a] { return data(*a); }};
}

}  // namespace teesplit
