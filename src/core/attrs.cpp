#include "core/attrs.h"

namespace teesplit {

const Attr* Attrs::find(const std::string& name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

int64_t Attrs::get_int(const std::string& name, int64_t def) const {
  const Attr* a = find(name);
  if (!a) return def;
  if (auto* v = std::get_if<int64_t>(a)) return *v;
  fail("attribute '", name, "' is not an integer");
}

int64_t Attrs::get_int(const std::string& name) const {
  TS_CHECK(has(name), "required attribute '", name, "' is missing");
  return get_int(name, 0);
}

float Attrs::get_float(const std::string& name, float def) const {
  const Attr* a = find(name);
  if (!a) return def;
  if (auto* v = std::get_if<float>(a)) return *v;
  if (auto* v = std::get_if<int64_t>(a)) return static_cast<float>(*v);
  fail("attribute '", name, "' is not a float");
}

std::string Attrs::get_string(const std::string& name, const std::string& def) const {
  const Attr* a = find(name);
  if (!a) return def;
  if (auto* v = std::get_if<std::string>(a)) return *v;
  fail("attribute '", name, "' is not a string");
}

std::vector<int64_t> Attrs::get_ints(const std::string& name, std::vector<int64_t> def) const {
  const Attr* a = find(name);
  if (!a) return def;
  if (auto* v = std::get_if<std::vector<int64_t>>(a)) return *v;
  if (auto* v = std::get_if<int64_t>(a)) return {*v};
  fail("attribute '", name, "' is not a list of integers");
}

std::vector<float> Attrs::get_floats(const std::string& name, std::vector<float> def) const {
  const Attr* a = find(name);
  if (!a) return def;
  if (auto* v = std::get_if<std::vector<float>>(a)) return *v;
  if (auto* v = std::get_if<float>(a)) return {*v};
  fail("attribute '", name, "' is not a list of floats");
}

const Tensor& Attrs::get_tensor(const std::string& name) const {
  const Attr* a = find(name);
  TS_CHECK(a, "required attribute '", name, "' is missing");
  if (auto* v = std::get_if<Tensor>(a)) return *v;
  fail("attribute '", name, "' is not a tensor");
}

}  // namespace teesplit
