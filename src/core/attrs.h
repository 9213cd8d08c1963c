// Operator attributes as parsed from ONNX, with typed getters that name the
// attribute in their errors.
#pragma once

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace teesplit {

using Attr =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, Tensor>;

class Attrs {
 public:
  void set(const std::string& name, Attr value) { map_[name] = std::move(value); }
  bool has(const std::string& name) const { return map_.count(name) != 0; }
  void erase(const std::string& name) { map_.erase(name); }
  const std::map<std::string, Attr>& all() const { return map_; }

  int64_t get_int(const std::string& name, int64_t def) const;
  int64_t get_int(const std::string& name) const;  // required
  float get_float(const std::string& name, float def) const;
  std::string get_string(const std::string& name, const std::string& def) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<float> get_floats(const std::string& name, std::vector<float> def = {}) const;
  const Tensor& get_tensor(const std::string& name) const;

 private:
  const Attr* find(const std::string& name) const;
  std::map<std::string, Attr> map_;
};

}  // namespace teesplit
