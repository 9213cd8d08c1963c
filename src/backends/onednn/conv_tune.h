// Per-layer choice of the fp32 convolution implementation (docs/usage.md,
// "oneDNN convolution tuning"): the compiler times an explicit list of
// candidates per layer and keeps the fastest; the choice is cached per shape in
// a file keyed by everything that changes it. Internal to the oneDNN backend.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace teesplit::onednn {

// The fp32 candidates, in the heuristic's order of preference. Never oneDNN's
// own implementation list (walking it with next_impl() crashed in 2.6): each
// candidate is one algorithm with fixed activation layouts, and oneDNN picks
// its best kernel for that (reference kernels are never candidates).
enum class ConvImpl : uint8_t {
  kWinograd16,   // "winograd_nChw16c": Winograd, nChw16c in and out (3x3, stride 1, no groups)
  kPlainTo16,    // "direct_nchw_nChw16c": plain NCHW in (< 16 channels), nChw16c out
  kDirect16,     // "direct_nChw16c": direct, nChw16c in and out
  kDirectNhwc,   // "direct_nhwc": direct, channels-last in and out (brgconv or jit)
  kDirectPlain,  // "direct_nchw": direct, plain NCHW in and out (the fallback; not timed)
};
constexpr ConvImpl kAllConvImpls[] = {ConvImpl::kWinograd16, ConvImpl::kPlainTo16,
                                      ConvImpl::kDirect16, ConvImpl::kDirectNhwc,
                                      ConvImpl::kDirectPlain};
const char* conv_impl_name(ConvImpl c);
// nullopt for an unknown name.
std::optional<ConvImpl> parse_conv_impl(const std::string& name);
// "winograd_nChw16c, direct_nchw_nChw16c, ..." for messages.
std::string conv_impl_names();

// The cache file: a header line naming the format and oneDNN's version, then
// one "KEY<TAB>IMPL<TAB>MS" line per tuned shape. A file that is corrupt, of
// another format or from another oneDNN version is ignored with a message on
// stderr (and replaced by the next save); an unreadable one is ignored too.
class TuneCache {
 public:
  // Empty cache bound to path; load() reads it.
  explicit TuneCache(std::string path) : path_(std::move(path)) {}
  // Reads the file once (missing: empty). Never throws.
  void load();
  const std::string& path() const { return path_; }
  std::optional<ConvImpl> find(const std::string& key) const;
  void put(const std::string& key, ConvImpl impl, double ms);
  bool dirty() const { return dirty_; }
  // Merges the entries with the file's current ones and replaces it atomically
  // (temporary file + rename), creating the directory. Failures go to stderr.
  void save();
  // The header line this build writes and accepts.
  static std::string header();

 private:
  struct Entry {
    ConvImpl impl;
    double ms;
  };
  // Parses text into entries; false (with why) when it is not a valid cache.
  static bool parse(const std::string& text, std::map<std::string, Entry>& out, std::string& why);
  std::string path_;
  std::map<std::string, Entry> entries_;
  bool loaded_ = false, dirty_ = false;
};

// $TEESPLIT_ONEDNN_TUNE_CACHE when set ("off", "0" or "" turn the cache off:
// returns ""), else $XDG_CACHE_HOME/teesplit/onednn-conv-tune.txt, else
// $HOME/.cache/teesplit/onednn-conv-tune.txt, else "" (no cache).
std::string tune_cache_path_from_env();

// "2.6.0+52b5f107" : oneDNN's version and commit, part of every cache key.
std::string onednn_version_string();

}  // namespace teesplit::onednn
