#include "data/image_folder.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "core/error.h"
#include "io/image.h"

namespace teesplit {

namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image_name(const fs::path& p) {
  std::string e = lower(p.extension().string());
  return e == ".jpeg" || e == ".jpg" || e == ".png";
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Sorted names of the visible subdirectories of dir.
std::vector<std::string> subdirs(const fs::path& dir) {
  std::vector<std::string> r;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (!n.empty() && n[0] != '.' && is_dir(it->path())) r.push_back(n);
  }
  if (ec) fail("imagenet: cannot list '", dir.string(), "': ", ec.message());
  std::sort(r.begin(), r.end());
  return r;
}

// Sorted image files directly in dir.
std::vector<std::string> image_files(const fs::path& dir) {
  std::vector<std::string> r;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (!n.empty() && n[0] != '.' && is_image_name(it->path()) && !is_dir(it->path()))
      r.push_back(n);
  }
  if (ec) fail("imagenet: cannot list '", dir.string(), "': ", ec.message());
  std::sort(r.begin(), r.end());
  return r;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

bool parse_int(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 9) return false;
  int64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    r = r * 10 + (c - '0');
  }
  *v = r;
  return true;
}

struct Entry {
  std::string path;
  int32_t label;
};

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(std::string name, std::string root, std::vector<Entry> entries,
                     std::vector<std::string> classes, const DatasetOptions& opt)
      : name_(std::move(name)),
        root_(std::move(root)),
        entries_(std::move(entries)),
        classes_(std::move(classes)),
        skip_corrupt_(opt.skip_corrupt) {
    pre_.crop = opt.image_size ? opt.image_size : 224;
    pre_.resize_shorter = opt.resize_shorter ? opt.resize_shorter : pre_.crop * 256 / 224;
    pre_.channels = opt.channels ? opt.channels : 3;
    if (!opt.mean.empty()) pre_.mean = opt.mean;
    if (!opt.std.empty()) pre_.std = opt.std;
    if (pre_.channels == 1 && opt.mean.empty()) pre_.mean = {0.449f};  // mean of the RGB stats
    if (pre_.channels == 1 && opt.std.empty()) pre_.std = {0.226f};
    TS_CHECK(pre_.crop > 0 && pre_.crop <= 4096 && pre_.resize_shorter > 0 &&
                 pre_.resize_shorter <= 8192,
             name_, ": bad sizes image_size=", pre_.crop, " resize_shorter=", pre_.resize_shorter);
    TS_CHECK(pre_.channels == 1 || pre_.channels == 3, name_, ": channels must be 1 or 3");
    for (auto* v : {&pre_.mean, &pre_.std})
      TS_CHECK(v->size() == 1 || int64_t(v->size()) == pre_.channels, name_,
               ": mean/std need 1 or ", pre_.channels, " values, got ", v->size());
  }

  std::string name() const override { return name_; }
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  Shape input_shape() const override { return {pre_.channels, pre_.crop, pre_.crop}; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int64_t label(int64_t i) const override {
    check_index(i);
    return entries_[i].label;
  }
  std::string describe() const override {
    return "root: " + root_ + "\npreprocessing: resize shorter side to " +
           std::to_string(pre_.resize_shorter) + " (bilinear, antialiased), centre crop " +
           std::to_string(pre_.crop) + ", normalise with ImageNet mean/std" +
           (skip_corrupt_ ? "\ncorrupt images: skipped with a warning" : "");
  }

  Sample get(int64_t i) const override {
    check_index(i);
    const int64_t n = size();
    for (int64_t k = 0; k < n; ++k) {
      int64_t j = (i + k) % n;
      if (skip_corrupt_ && is_bad(j)) continue;
      const Entry& e = entries_[j];
      try {
        Image img = decode_image(e.path);
        Sample s;
        s.image = imagenet_preprocess(img, pre_).reshaped(input_shape());
        s.label = e.label;
        return s;
      } catch (const Error& err) {
        if (!skip_corrupt_)
          fail(name_, ": sample ", j, ": ", err.what(),
               " (set skip_corrupt / --skip-corrupt to skip such files)");
        mark_bad(j, err.what());
      }
    }
    fail(name_, ": every image is corrupt");
  }

 private:
  void check_index(int64_t i) const {
    TS_CHECK(i >= 0 && i < size(), name_, ": index ", i, " out of range [0,", size(), ")");
  }
  bool is_bad(int64_t j) const {
    std::lock_guard<std::mutex> g(mu_);
    return bad_.count(j) != 0;
  }
  void mark_bad(int64_t j, const char* why) const {
    std::lock_guard<std::mutex> g(mu_);
    if (bad_.insert(j).second)
      std::fprintf(stderr, "warning: %s: skipping corrupt image (sample %lld): %s\n", name_.c_str(),
                   static_cast<long long>(j), why);
  }

  std::string name_, root_;
  std::vector<Entry> entries_;
  std::vector<std::string> classes_;
  bool skip_corrupt_;
  PreprocessOptions pre_;
  mutable std::mutex mu_;
  mutable std::set<int64_t> bad_;
};

// Entries of a DIR/<class>/<image> tree; classes given (sorted) or taken from the tree.
std::vector<Entry> folder_entries(const fs::path& root, const std::vector<std::string>& classes) {
  std::map<std::string, int32_t> index;
  for (size_t c = 0; c < classes.size(); ++c) index[classes[c]] = static_cast<int32_t>(c);
  std::vector<Entry> out;
  for (const std::string& c : subdirs(root)) {
    auto it = index.find(c);
    if (it == index.end())
      fail("imagenet: class folder '", (root / c).string(), "' is not among the training classes");
    for (const std::string& f : image_files(root / c))
      out.push_back({(root / c / f).string(), it->second});
  }
  return out;
}

// Reads a validation label file; see docs/data.md for the accepted line formats.
std::vector<Entry> label_file_entries(const fs::path& val_dir, const std::string& label_file,
                                      std::vector<std::string>* classes) {
  std::ifstream in(label_file, std::ios::binary);
  if (!in) fail("imagenet: cannot open label file '", label_file, "'");
  struct Raw {
    std::string file, label;
    int64_t line;
  };
  std::vector<Raw> raw;
  std::string line;
  int64_t ln = 0;
  while (std::getline(in, line)) {
    ++ln;
    if (ln == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (ln == 1 && lower(line).rfind("imageid,predictionstring", 0) == 0) continue;  // Kaggle
    std::string file, label;
    size_t comma = line.find(',');
    if (comma != std::string::npos) {
      file = trim(line.substr(0, comma));
      label = trim(line.substr(comma + 1));
      size_t sp = label.find_first_of(" \t");  // Kaggle: "n01751748 x y x y ..."
      if (sp != std::string::npos) label = label.substr(0, sp);
    } else {
      size_t sp = line.find_first_of(" \t");
      if (sp == std::string::npos)
        fail("imagenet: label file '", label_file, "' line ", ln,
             ": expected 'filename label' or 'filename,label'");
      file = line.substr(0, sp);
      label = trim(line.substr(sp));
      if (label.find_first_of(" \t") != std::string::npos)
        fail("imagenet: label file '", label_file, "' line ", ln, ": more than two fields");
    }
    if (file.empty() || label.empty())
      fail("imagenet: label file '", label_file, "' line ", ln, ": empty file name or label");
    raw.push_back({file, label, ln});
  }
  if (in.bad()) fail("imagenet: error reading label file '", label_file, "'");
  if (raw.empty()) fail("imagenet: label file '", label_file, "' lists no images");

  // Integer labels, or class names (synsets).
  bool all_int = true;
  int64_t max_label = -1;
  for (const Raw& r : raw) {
    int64_t v;
    if (parse_int(r.label, &v))
      max_label = std::max(max_label, v);
    else
      all_int = false;
  }
  std::map<std::string, int32_t> index;
  if (!all_int) {
    if (classes->empty()) {
      std::set<std::string> names;
      for (const Raw& r : raw) names.insert(r.label);
      classes->assign(names.begin(), names.end());
    }
    for (size_t c = 0; c < classes->size(); ++c) index[(*classes)[c]] = static_cast<int32_t>(c);
  } else if (classes->empty()) {
    for (int64_t c = 0; c <= max_label; ++c) classes->push_back(std::to_string(c));
  }
  std::vector<Entry> out;
  out.reserve(raw.size());
  for (const Raw& r : raw) {
    int32_t label;
    if (all_int) {
      int64_t v = 0;
      parse_int(r.label, &v);
      if (v >= int64_t(classes->size()))
        fail("imagenet: label file '", label_file, "' line ", r.line, ": label ", v,
             " is not below the number of classes ", classes->size());
      label = static_cast<int32_t>(v);
    } else {
      auto it = index.find(r.label);
      if (it == index.end())
        fail("imagenet: label file '", label_file, "' line ", r.line, ": unknown class '", r.label,
             "'");
      label = it->second;
    }
    fs::path p = val_dir / r.file;
    if (!fs::exists(p)) {
      bool found = false;
      for (const char* ext : {".JPEG", ".jpg", ".jpeg", ".png", ".JPG", ".PNG"}) {
        fs::path q = val_dir / (r.file + ext);
        if (fs::exists(q)) {
          p = q;
          found = true;
          break;
        }
      }
      if (!found)
        fail("imagenet: label file '", label_file, "' line ", r.line, ": no image '",
             (val_dir / r.file).string(), "'");
    }
    out.push_back({p.string(), label});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

}  // namespace

std::unique_ptr<Dataset> open_image_folder(const std::string& dir_str, const DatasetOptions& opt) {
  fs::path dir(dir_str);
  if (!is_dir(dir)) fail("imagenet: '", dir_str, "' is not a directory");
  std::string split = normalize_split(opt.split);
  fs::path train_root = is_dir(dir / "train") ? dir / "train" : dir;
  std::vector<std::string> classes;
  std::vector<Entry> entries;
  fs::path root;
  if (split == "train") {
    root = train_root;
    classes = subdirs(root);
    if (classes.empty()) fail("imagenet: no class folders in '", root.string(), "'");
    entries = folder_entries(root, classes);
  } else {
    if (is_dir(dir / "val"))
      root = dir / "val";
    else if (is_dir(dir / "test"))
      root = dir / "test";
    else
      fail("imagenet: no val/ (or test/) folder in '", dir_str, "' for the test split");
    if (is_dir(dir / "train")) classes = subdirs(dir / "train");
    std::vector<std::string> sub = subdirs(root);
    if (!sub.empty() && opt.label_file.empty()) {
      if (classes.empty()) classes = sub;
      entries = folder_entries(root, classes);
    } else {
      std::string lf = opt.label_file;
      if (lf.empty()) {
        for (fs::path cand : {dir / "val_labels.txt", dir / "val_labels.csv",
                              dir / "LOC_val_solution.csv", root / "labels.txt"})
          if (fs::exists(cand)) {
            lf = cand.string();
            break;
          }
        if (lf.empty())
          fail("imagenet: '", root.string(),
               "' has no class folders and no label file (looked for val_labels.txt, "
               "val_labels.csv, LOC_val_solution.csv in '",
               dir_str, "' and labels.txt in '", root.string(), "')");
      }
      entries = label_file_entries(root, lf, &classes);
    }
  }
  if (entries.empty()) fail("imagenet: no images found under '", root.string(), "'");
  return std::make_unique<ImageFolderDataset>("imagenet:" + split, root.string(),
                                              std::move(entries), std::move(classes), opt);
}

}  // namespace teesplit
