// The convolution tuner's names and its per-shape cache file (conv_tune.h).
#include "backends/onednn/conv_tune.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/file.h"

namespace teesplit::onednn {

namespace {
// Format version of the cache file; bump it when keys or values change meaning
// or the rule that makes the choices changes (2: the 10% margin), so that old
// choices are dropped rather than kept.
constexpr int kCacheFormat = 2;
// A cache larger than this is not ours (or not sane): ignored.
constexpr size_t kMaxCacheBytes = size_t{8} << 20;

void tune_message(const std::string& s) {
  std::cerr << "teesplit: onednn tuning: " << s << "\n";
}
}  // namespace

const char* conv_impl_name(ConvImpl c) {
  switch (c) {
    case ConvImpl::kWinograd16:
      return "winograd_nChw16c";
    case ConvImpl::kPlainTo16:
      return "direct_nchw_nChw16c";
    case ConvImpl::kDirect16:
      return "direct_nChw16c";
    case ConvImpl::kDirectNhwc:
      return "direct_nhwc";
    case ConvImpl::kDirectPlain:
      return "direct_nchw";
  }
  return "?";
}

std::optional<ConvImpl> parse_conv_impl(const std::string& name) {
  for (ConvImpl c : kAllConvImpls)
    if (name == conv_impl_name(c)) return c;
  return std::nullopt;
}

std::string conv_impl_names() {
  std::string s;
  for (ConvImpl c : kAllConvImpls) s += (s.empty() ? "" : ", ") + std::string(conv_impl_name(c));
  return s;
}

std::string onednn_version_string() {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream o;
  o << v->major << "." << v->minor << "." << v->patch << "+" << (v->hash ? v->hash : "");
  return o.str();
}

std::string tune_cache_path_from_env() {
  if (const char* p = std::getenv("TEESPLIT_ONEDNN_TUNE_CACHE")) {
    const std::string s = p;
    if (s.empty() || s == "off" || s == "0") return {};
    return s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x && x[0] == '/')
    return std::string(x) + "/teesplit/onednn-conv-tune.txt";
  if (const char* h = std::getenv("HOME"); h && *h && h[0] == '/')
    return std::string(h) + "/.cache/teesplit/onednn-conv-tune.txt";
  return {};
}

std::string TuneCache::header() {
  return "teesplit-onednn-conv-tune " + std::to_string(kCacheFormat) +
         " onednn=" + onednn_version_string();
}

bool TuneCache::parse(const std::string& text, std::map<std::string, Entry>& out,
                      std::string& why) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != header()) {
    why = line.rfind("teesplit-onednn-conv-tune ", 0) == 0
              ? "written for another version (\"" + line.substr(0, 120) + "\", this build has \"" +
                    header() + "\")"
              : "not a tuning cache (bad first line)";
    return false;
  }
  size_t no = 1;
  while (std::getline(in, line)) {
    ++no;
    if (line.empty()) continue;
    const size_t t1 = line.find('\t');
    const size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos || line.find('\t', t2 + 1) != std::string::npos) {
      why = "line " + std::to_string(no) + " is not KEY<TAB>IMPL<TAB>MS";
      return false;
    }
    const std::string key = line.substr(0, t1);
    const auto impl = parse_conv_impl(line.substr(t1 + 1, t2 - t1 - 1));
    const std::string ms_text = line.substr(t2 + 1);
    char* end = nullptr;
    const double ms = std::strtod(ms_text.c_str(), &end);
    if (key.empty() || !impl || *impl == ConvImpl::kDirectPlain || ms_text.empty() ||
        end != ms_text.c_str() + ms_text.size() || !(ms >= 0) || ms > 1e9) {
      why = "line " + std::to_string(no) + " has an invalid key, implementation or time";
      return false;
    }
    out[key] = Entry{*impl, ms};
  }
  return true;
}

void TuneCache::load() {
  if (loaded_) return;
  loaded_ = true;
  if (path_.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return;
  std::string text;
  try {
    text = read_file(path_, kMaxCacheBytes);
  } catch (const Error& e) {
    tune_message(std::string("ignoring the cache: ") + e.what());
    return;
  }
  std::map<std::string, Entry> got;
  std::string why;
  if (!parse(text, got, why)) {
    tune_message("ignoring the cache " + path_ + ": " + why + "; it will be rewritten");
    dirty_ = true;  // replace it with a valid one at the next save
    return;
  }
  entries_ = std::move(got);
}

std::optional<ConvImpl> TuneCache::find(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.impl;
}

void TuneCache::put(const std::string& key, ConvImpl impl, double ms) {
  entries_[key] = Entry{impl, ms};
  dirty_ = true;
}

void TuneCache::save() {
  if (path_.empty() || !dirty_) return;
  // Another process may have added entries since load(): keep theirs too.
  std::map<std::string, Entry> merged;
  std::error_code ec;
  if (std::filesystem::exists(path_, ec)) {
    try {
      std::string why;
      if (!parse(read_file(path_, kMaxCacheBytes), merged, why)) merged.clear();
    } catch (const Error&) {
      merged.clear();
    }
  }
  for (const auto& [k, e] : entries_) merged[k] = e;
  std::ostringstream o;
  o << header() << "\n";
  for (const auto& [k, e] : merged)
    o << k << "\t" << conv_impl_name(e.impl) << "\t" << e.ms << "\n";
  try {
    const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    write_file(path_, o.str());
    dirty_ = false;
  } catch (const Error& e) {
    tune_message(std::string("cannot save the cache: ") + e.what());
  }
}

}  // namespace teesplit::onednn
