#include "planner/plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/numbers.h"
#include "planner/attack_results.h"
#include "planner/profile.h"

namespace teesplit::planner {

using json = nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

bool dominates(const PlanRow& a, const PlanRow& b) {
  const bool no_worse = *a.score <= *b.score && a.latency_p50 <= b.latency_p50 &&
                        a.footprint_bytes <= b.footprint_bytes;
  const bool better =
      *a.score < *b.score || a.latency_p50 < b.latency_p50 || a.footprint_bytes < b.footprint_bytes;
  return no_worse && better;
}

}  // namespace

Plan make_plan(const std::string& attack_text, const std::string& profile_text,
               const PlanOptions& o) {
  TS_CHECK(o.ssim_margin >= 0 && o.ssim_margin <= 1, "--ssim-margin must be in [0, 1]");
  TS_CHECK(!o.ssim_max || (*o.ssim_max >= -1 && *o.ssim_max <= 1), "--ssim-max must be in [-1, 1]");
  TS_CHECK(!o.epc_bytes || *o.epc_bytes > 0, "--epc must be positive");
  TS_CHECK(!o.latency_budget_ms || *o.latency_budget_ms > 0, "--latency-budget must be positive");
  const AttackResults attack = parse_attack_results(attack_text, "attack.json");
  const ModelProfile profile = profile_from_json(profile_text);

  Plan plan;
  plan.model_sha256 = profile.model_sha256;
  const std::string& attack_sha = attack.model_sha256;
  TS_CHECK(attack_sha.empty() || attack_sha == profile.model_sha256,
           "attack.json and profile.json are of different models (sha256 ", attack_sha, " vs ",
           profile.model_sha256, ")");
  if (attack_sha.empty()) plan.notes.push_back("attack.json names no model sha256: not checked");

  TS_CHECK(o.floor == "mean" || o.floor == "class", "--floor must be mean or class, not '", o.floor,
           "'");
  const std::optional<double> floor =
      o.floor == "class" ? attack.class_floor_ssim_p90 : attack.floor_ssim_p90;
  TS_CHECK(floor || o.ssim_max, "attack.json has no ", o.floor == "class" ? "floor_class" : "floor",
           ".ssim_p90 (the ", o.floor == "class" ? "class-mean" : "mean-image",
           " attacker; an older attack.json lacks floor_class); give --ssim-max");
  plan.floor_p90 = floor.value_or(0);
  if (o.ssim_max) {
    plan.privacy_limit = *o.ssim_max;
    plan.privacy_rule = "score <= --ssim-max " + fmt("%.3f", *o.ssim_max);
  } else {
    plan.privacy_limit = *floor + o.ssim_margin;
    plan.privacy_rule = std::string("score <= ") +
                        (o.floor == "class" ? "class-mean floor " : "mean-image floor ") +
                        fmt("%.3f", *floor) + " + margin " + fmt("%.3f", o.ssim_margin) + " = " +
                        fmt("%.3f", plan.privacy_limit);
  }

  std::map<std::string, const CutResult*> attacked;
  for (const CutResult& c : attack.cuts) attacked[c.name] = &c;
  std::vector<std::string> unattacked;
  for (const CutTiming& t : profile.cuts) {
    PlanRow r;
    r.name = t.name;
    r.index = t.index;
    r.depth = t.depth;
    r.latency_p50 = t.end_to_end_adjusted.p50;
    r.latency_p99 = t.end_to_end_adjusted.p99;
    r.footprint_bytes = t.enclave_footprint_bytes;
    auto it = attacked.find(t.name);
    if (it != attacked.end()) {
      const CutResult& c = *it->second;
      TS_CHECK(!c.index || *c.index == t.index, "cut '", t.name, "' has index ", *c.index,
               " in attack.json but ", t.index, " in profile.json");
      r.score = c.privacy_score();
      r.probe_accuracy = c.probe_accuracy;
      attacked.erase(it);
    }
    if (!r.score) unattacked.push_back(t.name);
    r.private_ok = r.score && *r.score <= plan.privacy_limit;
    r.memory_ok = !o.epc_bytes || r.footprint_bytes <= *o.epc_bytes;
    r.latency_ok = !o.latency_budget_ms || r.latency_p50 <= *o.latency_budget_ms;
    plan.rows.push_back(r);
  }
  if (!unattacked.empty()) {
    std::string list;
    for (const auto& n : unattacked) list += (list.empty() ? "" : ", ") + n;
    plan.notes.push_back("no attack result (not eligible): " + list);
  }
  if (!attacked.empty()) {
    std::string list;
    for (const auto& [n, c] : attacked) list += (list.empty() ? "" : ", ") + n;
    plan.notes.push_back("attacked but not profiled (not eligible): " + list);
  }
  if (profile.enclave_slowdown != 1.0)
    plan.notes.push_back("latencies include an enclave slowdown of " +
                         fmt("%.2f", profile.enclave_slowdown) + " (" + profile.slowdown_source +
                         ")");
  else
    plan.notes.push_back("latencies are those of the simulated enclave: no SGX slowdown added");

  for (PlanRow& r : plan.rows) {
    if (!r.score) continue;
    r.pareto = std::none_of(plan.rows.begin(), plan.rows.end(), [&](const PlanRow& other) {
      return other.score && dominates(other, r);
    });
  }
  for (size_t i = 0; i < plan.rows.size(); ++i) {
    const PlanRow& r = plan.rows[i];
    if (!r.qualifies()) continue;
    if (plan.chosen < 0 || r.latency_p50 < plan.rows[plan.chosen].latency_p50)
      plan.chosen = static_cast<int>(i);
  }
  if (plan.chosen >= 0) return plan;

  // Nothing qualifies: the constraints in order, each among the cuts that passed the ones before.
  std::vector<const PlanRow*> pool;
  for (const PlanRow& r : plan.rows)
    if (r.score) pool.push_back(&r);
  if (pool.empty()) {
    plan.failure = "no cut has both an attack result and a profile";
    return plan;
  }
  auto best_by = [&](auto key) {
    return *std::min_element(pool.begin(), pool.end(),
                             [&](const PlanRow* a, const PlanRow* b) { return key(*a) < key(*b); });
  };
  std::vector<const PlanRow*> next;
  for (const PlanRow* r : pool)
    if (r->private_ok) next.push_back(r);
  if (next.empty()) {
    const PlanRow* b = best_by([](const PlanRow& r) { return *r.score; });
    plan.failure = "privacy: no cut is private enough (" + plan.privacy_rule +
                   "); the most private, '" + b->name + "', scores " + fmt("%.3f", *b->score) +
                   ", over by " + fmt("%.3f", *b->score - plan.privacy_limit);
    if (profile.whole_model_ms > 0) {
      const double inside = profile.whole_model_ms * profile.enclave_slowdown;
      plan.fallback = "the whole model in the enclave exposes nothing: it took " +
                      fmt("%.3f", profile.whole_model_ms) + " ms on the host" +
                      (profile.enclave_slowdown != 1.0
                           ? " (" + fmt("%.3f", inside) + " ms with the enclave slowdown)"
                           : std::string()) +
                      ", against " + fmt("%.3f", b->latency_p50) + " ms p50 end to end at '" +
                      b->name + "'; teesplit serve cannot run a model without a cut yet";
    }
    return plan;
  }
  pool.swap(next);
  next.clear();
  for (const PlanRow* r : pool)
    if (r->memory_ok) next.push_back(r);
  if (next.empty()) {
    const PlanRow* b = best_by([](const PlanRow& r) { return r.footprint_bytes; });
    plan.failure = "memory: of the " + std::to_string(pool.size()) +
                   " cut(s) private enough, the smallest enclave footprint, '" + b->name + "' at " +
                   human_bytes(b->footprint_bytes) + ", exceeds --epc " +
                   human_bytes(*o.epc_bytes) + " by " +
                   human_bytes(b->footprint_bytes - *o.epc_bytes);
    return plan;
  }
  pool.swap(next);
  const PlanRow* b = best_by([](const PlanRow& r) { return r.latency_p50; });
  plan.failure = "latency: of the " + std::to_string(pool.size()) +
                 " cut(s) private enough and within the EPC budget, the fastest, '" + b->name +
                 "' at " + fmt("%.3f", b->latency_p50) + " ms (p50), exceeds --latency-budget " +
                 fmt("%.3f", *o.latency_budget_ms) + " ms by " +
                 fmt("%.3f", b->latency_p50 - *o.latency_budget_ms) + " ms";
  return plan;
}

std::string plan_table(const Plan& plan) {
  std::ostringstream out;
  out << "privacy: " << plan.privacy_rule
      << " (score: max over attacks of the 90th-percentile SSIM)\n\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %5s  %-24s %6s %8s %7s %12s %12s %11s  %-7s %-6s %-7s %s\n",
                "index", "cut", "depth", "score", "probe", "p50 ms", "p99 ms", "enclave", "private",
                "fits", "in time", "pareto");
  out << line;
  for (size_t i = 0; i < plan.rows.size(); ++i) {
    const PlanRow& r = plan.rows[i];
    const std::string score = r.score ? fmt("%.3f", *r.score) : "-";
    const std::string probe = r.probe_accuracy ? fmt("%.1f%%", 100 * *r.probe_accuracy) : "-";
    std::snprintf(
        line, sizeof line, "%c %5d  %-24s %5.1f%% %8s %7s %12.3f %12.3f %11s  %-7s %-6s %-7s %s\n",
        static_cast<int>(i) == plan.chosen ? '*' : ' ', r.index, r.name.c_str(), 100 * r.depth,
        score.c_str(), probe.c_str(), r.latency_p50, r.latency_p99,
        human_bytes(r.footprint_bytes).c_str(), r.score ? (r.private_ok ? "yes" : "no") : "-",
        r.memory_ok ? "yes" : "no", r.latency_ok ? "yes" : "no", r.pareto ? "yes" : "");
    out << line;
  }
  out << "\n";
  for (const std::string& n : plan.notes) out << "note: " << n << "\n";
  if (plan.chosen >= 0) {
    const PlanRow& r = plan.rows[plan.chosen];
    out << "chosen: cut " << r.index << " '" << r.name << "' (score " << fmt("%.3f", *r.score)
        << ", " << fmt("%.3f", r.latency_p50) << " ms p50, enclave "
        << human_bytes(r.footprint_bytes) << ")\n";
  } else {
    out << "no cut qualifies: " << plan.failure << "\n";
    if (!plan.fallback.empty()) out << "instead: " << plan.fallback << "\n";
  }
  return out.str();
}

std::string plan_to_json(const Plan& plan, const PlanOptions& o) {
  json j;
  j["format"] = "teesplit-plan";
  j["version"] = 1;
  j["model_sha256"] = plan.model_sha256;
  json opts;
  opts["floor"] = o.floor;
  opts["ssim_margin"] = o.ssim_margin;
  opts["ssim_max"] = o.ssim_max ? json(*o.ssim_max) : json(nullptr);
  opts["epc_bytes"] = o.epc_bytes ? json(*o.epc_bytes) : json(nullptr);
  opts["latency_budget_ms"] = o.latency_budget_ms ? json(*o.latency_budget_ms) : json(nullptr);
  j["options"] = opts;
  j["floor_ssim_p90"] = plan.floor_p90;
  j["privacy_limit"] = plan.privacy_limit;
  j["privacy_rule"] = plan.privacy_rule;
  j["rows"] = json::array();
  for (const PlanRow& r : plan.rows) {
    json rj;
    rj["name"] = r.name;
    rj["index"] = r.index;
    rj["depth"] = r.depth;
    rj["score"] = r.score ? json(*r.score) : json(nullptr);
    rj["probe_accuracy"] = r.probe_accuracy ? json(*r.probe_accuracy) : json(nullptr);
    rj["latency_p50_ms"] = r.latency_p50;
    rj["latency_p99_ms"] = r.latency_p99;
    rj["enclave_footprint_bytes"] = r.footprint_bytes;
    rj["private"] = r.private_ok;
    rj["fits_epc"] = r.memory_ok;
    rj["in_budget"] = r.latency_ok;
    rj["pareto"] = r.pareto;
    j["rows"].push_back(std::move(rj));
  }
  j["chosen"] = plan.chosen >= 0 ? json(plan.rows[plan.chosen].name) : json(nullptr);
  j["failure"] = plan.failure.empty() ? json(nullptr) : json(plan.failure);
  if (!plan.fallback.empty()) j["fallback"] = plan.fallback;
  j["notes"] = plan.notes;
  return j.dump(2) + "\n";
}

double parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t j = i;
  while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.'))
    ++j;
  TS_CHECK(j > i, "not a size: '", text, "' (e.g. 90MiB, 128MB, 4096)");
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(text.substr(i, j - i), &used);
    TS_CHECK(used == j - i, "not a size: '", text, "'");
  } catch (const std::logic_error&) {
    fail("not a size: '", text, "'");
  }
  std::string unit = text.substr(j);
  unit.erase(
      std::remove_if(unit.begin(), unit.end(), [](unsigned char c) { return std::isspace(c); }),
      unit.end());
  static const std::map<std::string, double> units = {
      {"", 1},       {"B", 1},         {"KB", 1e3},        {"MB", 1e6},
      {"GB", 1e9},   {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0}};
  auto u = units.find(unit);
  TS_CHECK(u != units.end(), "unknown size unit '", unit, "' in '", text,
           "' (B, KB, MB, GB, KiB, MiB, GiB)");
  TS_CHECK(v > 0 && std::isfinite(v), "a size must be positive: '", text, "'");
  return v * u->second;
}

}  // namespace teesplit::planner
