#include "data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/image.h"

namespace teesplit {

namespace {

// Decompressed IDX files above this are refused (a gzip bomb or a wrong file).
constexpr size_t kMaxIdxBytes = size_t(1) << 32;

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail("IDX '", path, "': cannot open: ", errno ? std::strerror(errno) : "gzopen failed");
  gzbuffer(f, 1 << 17);
  std::vector<uint8_t> out;
  const unsigned chunk = 1 << 20;
  for (;;) {
    size_t at = out.size();
    if (at > kMaxIdxBytes) {
      gzclose_r(f);
      fail("IDX '", path, "': more than ", kMaxIdxBytes, " bytes after decompression");
    }
    out.resize(at + chunk);
    int n = gzread(f, out.data() + at, chunk);
    if (n < 0) {
      int code;
      std::string msg = gzerror(f, &code);
      gzclose_r(f);
      fail("IDX '", path, "': read error after ", at, " decompressed bytes: ", msg);
    }
    out.resize(at + n);
    if (n == 0) break;
  }
  int code = Z_OK;
  std::string msg = gzerror(f, &code);
  int rc = gzclose_r(f);
  if (code != Z_OK && code != Z_STREAM_END)
    fail("IDX '", path, "': corrupt or truncated gzip stream after ", out.size(),
         " decompressed bytes: ", msg);
  if (rc != Z_OK)
    fail("IDX '", path, "': corrupt or truncated gzip stream after ", out.size(),
         " decompressed bytes (close code ", rc, ")");
  return out;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string find_idx(const std::string& dir, const std::string& base) {
  namespace fs = std::filesystem;
  for (const char* ext : {".gz", ""}) {
    fs::path p = fs::path(dir) / (base + ext);
    if (fs::exists(p)) return p.string();
  }
  fail("IDX: neither ", (fs::path(dir) / (base + ".gz")).string(), " nor ",
       (fs::path(dir) / base).string(), " exists");
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(std::string name, std::string images_path, IdxArray images, IdxArray labels,
             std::vector<std::string> classes, const DatasetOptions& opt)
      : name_(std::move(name)),
        images_path_(std::move(images_path)),
        images_(std::move(images)),
        labels_(std::move(labels)),
        classes_(std::move(classes)) {
    n_ = images_.dims[0];
    rows_ = images_.dims[1];
    cols_ = images_.dims[2];
    side_ = opt.image_size;
    TS_CHECK(side_ >= 0 && side_ <= 4096, name_, ": bad image_size ", side_);
    channels_ = opt.channels ? opt.channels : 1;
    TS_CHECK(channels_ == 1 || channels_ == 3, name_, ": channels must be 1 or 3, got ", channels_);
    mean_ = opt.mean.empty() ? std::vector<float>{0.0f} : opt.mean;
    std_ = opt.std.empty() ? std::vector<float>{1.0f} : opt.std;
    for (auto* v : {&mean_, &std_})
      TS_CHECK(v->size() == 1 || int64_t(v->size()) == channels_, name_, ": mean/std need 1 or ",
               channels_, " values, got ", v->size());
    for (float s : std_) TS_CHECK(s != 0.0f, name_, ": std of zero");
  }

  std::string name() const override { return name_; }
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  Shape input_shape() const override {
    int64_t h = side_ ? side_ : rows_, w = side_ ? side_ : cols_;
    return {channels_, h, w};
  }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int64_t label(int64_t i) const override {
    TS_CHECK(i >= 0 && i < n_, name_, ": index ", i, " out of range [0,", n_, ")");
    return labels_.data[i];
  }
  std::string describe() const override {
    return "images: " + images_path_ + " (" + std::to_string(rows_) + "x" + std::to_string(cols_) +
           " grey)";
  }

  Sample get(int64_t i) const override {
    TS_CHECK(i >= 0 && i < n_, name_, ": index ", i, " out of range [0,", n_, ")");
    Image img;
    img.width = static_cast<int>(cols_);
    img.height = static_cast<int>(rows_);
    img.channels = 1;
    const uint8_t* p = images_.data.data() + size_t(i) * rows_ * cols_;
    img.data.assign(p, p + rows_ * cols_);
    if (side_ && (side_ != rows_ || side_ != cols_))
      img = resize_bilinear(img, static_cast<int>(side_), static_cast<int>(side_), true);
    Sample s;
    s.label = labels_.data[i];
    s.image = Tensor(DType::F32, {channels_, img.height, img.width});
    float* d = s.image.data<float>();
    size_t plane = size_t(img.width) * img.height;
    for (int64_t c = 0; c < channels_; ++c) {
      float m = mean_.size() == 1 ? mean_[0] : mean_[c];
      float sd = std_.size() == 1 ? std_[0] : std_[c];
      for (size_t k = 0; k < plane; ++k) d[c * plane + k] = (img.data[k] / 255.0f - m) / sd;
    }
    return s;
  }

 private:
  std::string name_, images_path_;
  IdxArray images_, labels_;
  std::vector<std::string> classes_;
  int64_t n_, rows_, cols_, side_, channels_;
  std::vector<float> mean_, std_;
};

}  // namespace

IdxArray parse_idx(const std::vector<uint8_t>& b, uint32_t expected_magic,
                   const std::string& name) {
  if (b.size() < 4)
    fail("IDX '", name, "': byte offset ", b.size(), ": file truncated in the magic number");
  uint32_t magic = be32(b.data());
  if (magic != expected_magic)
    fail("IDX '", name, "': byte offset 0: magic 0x", std::hex, magic, ", expected 0x",
         expected_magic, std::dec, expected_magic == 0x803 ? " (images)" : " (labels)");
  size_t ndims = magic & 0xff;
  size_t header = 4 + 4 * ndims;
  if (b.size() < header)
    fail("IDX '", name, "': byte offset ", b.size(), ": file truncated in the dimensions (", ndims,
         " expected)");
  IdxArray a;
  uint64_t total = 1;
  for (size_t d = 0; d < ndims; ++d) {
    uint32_t v = be32(b.data() + 4 + 4 * d);
    if (v == 0 && d > 0)
      fail("IDX '", name, "': byte offset ", 4 + 4 * d, ": dimension ", d, " is 0");
    a.dims.push_back(v);
    total *= v;  // each <= 2^32 and the file is < 2^32 bytes: check as we go
    if (total > kMaxIdxBytes)
      fail("IDX '", name, "': byte offset ", 4 + 4 * d, ": dimensions too large");
  }
  size_t avail = b.size() - header;
  if (avail < total)
    fail("IDX '", name, "': file truncated: dims need ", total, " bytes of data from byte offset ",
         header, ", file has ", avail, " (ends at byte offset ", b.size(), ")");
  if (avail > total)
    fail("IDX '", name, "': byte offset ", header + total, ": ", avail - total,
         " bytes after the data the dims describe");
  a.data.assign(b.begin() + header, b.end());
  return a;
}

IdxArray read_idx(const std::string& path, uint32_t expected_magic) {
  return parse_idx(read_maybe_gzip(path), expected_magic, path);
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> k = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                             "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};
  return k;
}

std::unique_ptr<Dataset> open_idx_dataset(const std::string& dir, const std::string& kind,
                                          const DatasetOptions& opt) {
  std::string split = normalize_split(opt.split);
  std::string prefix = split == "train" ? "train" : "t10k";
  std::string ipath = find_idx(dir, prefix + "-images-idx3-ubyte");
  std::string lpath = find_idx(dir, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(ipath, 0x00000803);
  IdxArray labels = read_idx(lpath, 0x00000801);
  TS_CHECK(
      images.dims[1] > 0 && images.dims[2] > 0 && images.dims[1] <= 4096 && images.dims[2] <= 4096,
      "IDX '", ipath, "': bad image size ", images.dims[1], "x", images.dims[2]);
  TS_CHECK(images.dims[0] == labels.dims[0], "IDX: '", ipath, "' holds ", images.dims[0],
           " images but '", lpath, "' holds ", labels.dims[0], " labels");
  for (size_t i = 0; i < labels.data.size(); ++i)
    TS_CHECK(labels.data[i] < 10, "IDX '", lpath, "': byte offset ", 8 + i, ": label ",
             int(labels.data[i]), " is not in 0..9");
  std::vector<std::string> classes;
  if (kind == "mnist") {
    for (int c = 0; c < 10; ++c) classes.push_back(std::to_string(c));
  } else {
    classes = fashion_mnist_classes();
  }
  return std::make_unique<IdxDataset>(kind + ":" + split, ipath, std::move(images),
                                      std::move(labels), std::move(classes), opt);
}

}  // namespace teesplit
