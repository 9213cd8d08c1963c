// Minimal command-line parsing for the teesplit subcommands: positional
// arguments and --name value / --flag options, with range-checked numbers and a
// clear error for anything unknown.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace teesplit {

class Args {
 public:
  // `flags` take no value; `options` take one. Throws Error for unknown options.
  Args(int argc, char** argv, const std::set<std::string>& flags,
       const std::set<std::string>& options);
  const std::vector<std::string>& positional() const { return pos_; }
  bool has(const std::string& name) const { return vals_.count(name) != 0; }
  std::string get(const std::string& name, const std::string& def) const;
  int64_t get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const;
  double get_double(const std::string& name, double def, double lo, double hi) const;

 private:
  std::vector<std::string> pos_;
  std::map<std::string, std::string> vals_;
};

}  // namespace teesplit
