#include "tools/teesplit/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace teesplit {

Args::Args(int argc, char** argv, const std::set<std::string>& flags,
           const std::set<std::string>& options) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        TS_CHECK(options.count(name), "option --", name, " takes no value or is unknown");
      } else if (flags.count(name)) {
        value = "1";
      } else {
        TS_CHECK(options.count(name), "unknown option --", name);
        TS_CHECK(i + 1 < argc, "option --", name, " needs a value");
        value = argv[++i];
      }
      vals_[name] = value;
    } else if (a == "-o") {
      TS_CHECK(options.count("output"), "unknown option -o");
      TS_CHECK(i + 1 < argc, "option -o needs a value");
      vals_["output"] = argv[++i];
    } else {
      pos_.push_back(a);
    }
  }
}

std::string Args::get(const std::string& name, const std::string& def) const {
  auto it = vals_.find(name);
  return it == vals_.end() ? def : it->second;
}

int64_t Args::get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const {
  auto it = vals_.find(name);
  if (it == vals_.end()) return def;
  const char* s = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  TS_CHECK(*s && end && *end == '\0' && errno == 0, "--", name, " expects an integer, got '",
           it->second, "'");
  TS_CHECK(v >= lo && v <= hi, "--", name, " must be between ", lo, " and ", hi, ", got ", v);
  return v;
}

double Args::get_double(const std::string& name, double def, double lo, double hi) const {
  auto it = vals_.find(name);
  if (it == vals_.end()) return def;
  const char* s = it->second.c_str();
  char* end = nullptr;
  double v = std::strtod(s, &end);
  TS_CHECK(*s && end && *end == '\0' && std::isfinite(v), "--", name, " expects a number, got '",
           it->second, "'");
  TS_CHECK(v >= lo && v <= hi, "--", name, " must be between ", lo, " and ", hi, ", got ", v);
  return v;
}

}  // namespace teesplit
