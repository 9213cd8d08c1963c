#include "planner/attack_results.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"

namespace teesplit::planner {
namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::binary:
      return "binary data";
    default:
      return "a number";
  }
}

// Typed access to one JSON object, naming the key's path in every error.
class Obj {
 public:
  Obj(const json& v, std::string path) : v_(v), path_(std::move(path)) {
    TS_CHECK(v.is_object(), where(""), "expected an object, got ", type_name(v));
  }
  std::string where(const std::string& key) const {
    const std::string p = key.empty() ? path_ : path_.empty() ? key : path_ + "." + key;
    return p.empty() ? std::string() : p + ": ";
  }
  std::string child(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  const json* get(const std::string& key) const {
    auto it = v_.find(key);
    return it == v_.end() || it->is_null() ? nullptr : &*it;
  }
  std::optional<double> number(const std::string& key) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    TS_CHECK(v->is_number(), where(key), "expected a number or null, got ", type_name(*v));
    const double d = v->get<double>();
    TS_CHECK(std::isfinite(d), where(key), "not a finite number");
    return d;
  }
  std::string string(const std::string& key) const {
    const json* v = get(key);
    if (!v) return "";
    TS_CHECK(v->is_string(), where(key), "expected a string or null, got ", type_name(*v));
    return v->get<std::string>();
  }
  bool boolean(const std::string& key) const {
    const json* v = get(key);
    if (!v) return false;
    TS_CHECK(v->is_boolean(), where(key), "expected true or false, got ", type_name(*v));
    return v->get<bool>();
  }
  const json& raw() const { return v_; }

 private:
  const json& v_;
  std::string path_;
};

AttackScores parse_scores(const Obj& o) {
  AttackScores s;
  s.ssim_mean = o.number("ssim_mean");
  s.ssim_std = o.number("ssim_std");
  s.ssim_p10 = o.number("ssim_p10");
  s.ssim_median = o.number("ssim_median");
  s.ssim_p90 = o.number("ssim_p90");
  s.psnr_mean = o.number("psnr_mean");
  s.psnr_p90 = o.number("psnr_p90");
  s.steps = o.number("steps");
  s.stopped = o.string("stopped");
  s.best_val_ssim = o.number("best_val_ssim");
  s.train_seconds = o.number("train_seconds");
  s.images_per_second = o.number("images_per_second");
  if (const json* fe = o.get("feature_error")) {
    Obj f(*fe, o.child("feature_error"));
    FeatureError e;
    const json* names = f.get("names");
    const json* mae = f.get("mae");
    TS_CHECK(names && names->is_array() && mae && mae->is_array(), f.where(""),
             "expected arrays 'names' and 'mae'");
    TS_CHECK(names->size() == mae->size(), f.where(""), names->size(), " names but ", mae->size(),
             " errors");
    for (size_t i = 0; i < names->size(); ++i) {
      const json& n = (*names)[i];
      const json& m = (*mae)[i];
      TS_CHECK(n.is_string(), f.where("names"), "entry ", i, " is ", type_name(n));
      TS_CHECK(m.is_number() && std::isfinite(m.get<double>()), f.where("mae"), "entry ", i,
               " is not a finite number");
      e.names.push_back(n.get<std::string>());
      e.mae.push_back(m.get<double>());
    }
    s.feature_error = std::move(e);
  }
  return s;
}

CutResult parse_cut(const Obj& c) {
  CutResult r;
  const json* name = c.get("name");
  TS_CHECK(name && name->is_string(), c.where("name"), "a cut needs a name (a string)");
  r.name = name->get<std::string>();
  if (auto idx = c.number("index")) {
    TS_CHECK(*idx >= 0 && *idx == std::floor(*idx) && *idx < 1e15, c.where("index"),
             "expected a non-negative integer");
    r.index = static_cast<int64_t>(*idx);
  }
  r.depth = c.number("depth");
  if (const json* shape = c.get("feature_shape")) {
    TS_CHECK(shape->is_array(), c.where("feature_shape"), "expected an array, got ",
             type_name(*shape));
    for (const json& d : *shape) {
      TS_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, c.where("feature_shape"),
               "expected non-negative integers");
      r.feature_shape.push_back(d.get<int64_t>());
    }
  }
  if (const json* probe = c.get("probe")) {
    Obj p(*probe, c.child("probe"));
    r.probe_accuracy = p.number("accuracy");
    r.probe_seconds = p.number("seconds");
  }
  r.score = c.number("score");
  r.grid = c.string("grid");
  if (const json* attacks = c.get("attacks")) {
    Obj a(*attacks, c.child("attacks"));
    for (const auto& [name, value] : attacks->items()) {
      if (value.is_null()) continue;
      r.attacks[name] = parse_scores(Obj(value, a.child(name)));
    }
  }
  return r;
}

}  // namespace

std::optional<double> CutResult::privacy_score() const {
  if (score) return score;
  std::optional<double> best;
  for (const auto& [name, a] : attacks)
    if (a.ssim_p90) best = best ? std::max(*best, *a.ssim_p90) : *a.ssim_p90;
  return best;
}

std::vector<std::string> AttackResults::attack_names() const {
  std::vector<std::string> order = {"cgan", "inversion", "optimization"};
  for (const std::string& a : attack_order)
    if (std::find(order.begin(), order.end(), a) == order.end()) order.push_back(a);
  std::vector<std::string> extra;
  for (const CutResult& c : cuts)
    for (const auto& [name, s] : c.attacks)
      if (std::find(order.begin(), order.end(), name) == order.end() &&
          std::find(extra.begin(), extra.end(), name) == extra.end())
        extra.push_back(name);
  std::sort(extra.begin(), extra.end());
  order.insert(order.end(), extra.begin(), extra.end());
  std::vector<std::string> present;
  for (const std::string& a : order)
    for (const CutResult& c : cuts)
      if (c.attacks.count(a)) {
        present.push_back(a);
        break;
      }
  return present;
}

bool AttackResults::is_partial_shard() const {
  const size_t slash = shard.find('/');
  if (slash == std::string::npos) return false;
  const std::string count = shard.substr(slash + 1);
  return !count.empty() && count.find_first_not_of("0123456789") == std::string::npos &&
         count != "1" && count.find_first_not_of('0') != std::string::npos;
}

AttackResults parse_attack_results(std::string_view text, const std::string& where) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    fail(where, ": not valid JSON (", e.what(), ")");
  }
  try {
    TS_CHECK(doc.is_object(), "expected a JSON object, got ", type_name(doc));
    Obj top(doc, "");
    const std::string format = top.string("format");
    TS_CHECK(format == "teesplit-attack", "format is '", format,
             "', expected 'teesplit-attack' (the output of teesplit attack)");
    const auto version = top.number("version");
    TS_CHECK(version && *version == std::floor(*version), "version: expected an integer");
    TS_CHECK(*version == 1, "version ", *version,
             " is not one this teesplit reads (1); a newer teesplit wrote it?");
    AttackResults r;
    r.version = 1;
    if (const json* m = top.get("model")) {
      Obj model(*m, "model");
      r.model_path = model.string("path");
      r.model_name = model.string("name");
      r.model_sha256 = model.string("sha256");
      r.model_arch = model.string("arch");
    }
    r.dataset = top.string("dataset");
    r.tabular = top.boolean("tabular");
    r.command = top.string("command");
    if (const json* o = top.get("options")) {
      Obj options(*o, "options");
      r.options = *o;
      r.shard = options.string("shard");
      if (const json* a = options.get("attacks")) {
        TS_CHECK(a->is_array(), "options.attacks: expected an array, got ", type_name(*a));
        for (const json& n : *a) {
          TS_CHECK(n.is_string(), "options.attacks: expected strings, got ", type_name(n));
          r.attack_order.push_back(n.get<std::string>());
        }
      }
    }
    if (const json* m = top.get("merged_shards")) {
      TS_CHECK(m->is_array(), "merged_shards: expected an array, got ", type_name(*m));
      for (const json& n : *m) {
        TS_CHECK(n.is_string(), "merged_shards: expected strings, got ", type_name(n));
        r.merged_shards.push_back(n.get<std::string>());
      }
    }
    r.model_accuracy = top.number("model_accuracy");
    if (const json* f = top.get("floor")) {
      Obj floor(*f, "floor");
      r.floor_ssim_mean = floor.number("ssim_mean");
      r.floor_ssim_p90 = floor.number("ssim_p90");
      r.floor_psnr_mean = floor.number("psnr_mean");
    }
    if (const json* f = top.get("floor_class")) {
      Obj floor(*f, "floor_class");
      r.class_floor_ssim_mean = floor.number("ssim_mean");
      r.class_floor_ssim_p90 = floor.number("ssim_p90");
    }
    const json* cuts = top.get("cuts");
    TS_CHECK(cuts && cuts->is_array(), "cuts: expected an array, got ",
             cuts ? type_name(*cuts) : "nothing");
    for (size_t i = 0; i < cuts->size(); ++i)
      r.cuts.push_back(parse_cut(Obj((*cuts)[i], "cuts[" + std::to_string(i) + "]")));
    return r;
  } catch (const Error& e) {
    fail(where, ": ", e.what());
  } catch (const json::exception& e) {  // none expected: every access is checked
    fail(where, ": ", e.what());
  }
}

AttackResults read_attack_results(const std::string& dir) {
  TS_CHECK(std::filesystem::is_directory(dir), dir,
           ": not a folder (give the -o folder of teesplit attack or attack-merge)");
  const std::string path = (std::filesystem::path(dir) / "attack.json").string();
  TS_CHECK(std::filesystem::exists(path), path,
           ": missing (teesplit attack ... -o DIR writes it; nothing to report)");
  return parse_attack_results(read_file(path, kMaxAttackJsonBytes), path);
}

}  // namespace teesplit::planner
