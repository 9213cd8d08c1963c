#include "graph/cuts.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "core/text.h"
#include "graph/passes.h"

namespace teesplit {
namespace {

// Producer index of every value (-1: graph input or constant) and the index of
// its last reader (nodes.size() for graph outputs, -2 when nothing reads it).
struct Lifetimes {
  std::vector<int> first, last;
};

Lifetimes lifetimes(const Graph& g) {
  Lifetimes lt;
  lt.first = g.producers();
  lt.last.assign(g.values.size(), -2);
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (int in : g.nodes[k].inputs)
      if (in >= 0) lt.last[static_cast<size_t>(in)] = static_cast<int>(k);
  for (int o : g.outputs) lt.last[static_cast<size_t>(o)] = static_cast<int>(g.nodes.size());
  return lt;
}

// Non-constant values alive across the boundary after node k.
std::vector<int> crossing(const Graph& g, const Lifetimes& lt, int k) {
  std::vector<int> out;
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].constant) continue;
    const bool front = lt.first[v] >= 0 ? lt.first[v] <= k
                                        : std::find(g.inputs.begin(), g.inputs.end(),
                                                    static_cast<int>(v)) != g.inputs.end();
    if (front && lt.last[v] > k) out.push_back(static_cast<int>(v));
  }
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Module path segments from a PyTorch scope name: "/layer2/layer2.1/relu_2/Relu"
// -> {"layer2", "1", "relu_2"}. Empty when the name has no scope.
std::vector<std::string> module_path(const std::string& node_name) {
  std::vector<std::string> comps;
  size_t i = 0;
  while (i <= node_name.size()) {
    size_t j = node_name.find('/', i);
    if (j == std::string::npos) j = node_name.size();
    if (j > i) comps.push_back(node_name.substr(i, j - i));
    i = j + 1;
  }
  if (node_name.empty() || node_name[0] != '/' || comps.size() < 2) return {};
  comps.pop_back();  // the operator part ("Relu", "Conv_3")
  std::string full, prev;
  for (const std::string& c : comps) {
    if (!prev.empty() && c.size() > prev.size() + 1 && c.compare(0, prev.size(), prev) == 0 &&
        c[prev.size()] == '.')
      full += c.substr(prev.size());
    else
      full += (full.empty() ? "" : ".") + c;
    prev = c;
  }
  std::vector<std::string> segs;
  i = 0;
  while (i <= full.size()) {
    size_t j = full.find('.', i);
    if (j == std::string::npos) j = full.size();
    if (j > i) segs.push_back(full.substr(i, j - i));
    i = j + 1;
  }
  return segs;
}

std::string join(const std::vector<std::string>& segs, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < segs.size(); ++i) s += (i ? "." : "") + segs[i];
  return s;
}

bool has_prefix(const std::vector<std::string>& path, const std::vector<std::string>& segs,
                size_t d) {
  if (path.size() < d) return false;
  for (size_t i = 0; i < d; ++i)
    if (path[i] != segs[i]) return false;
  return true;
}

std::string raw_cut_name(const Graph& g, const std::vector<std::vector<std::string>>& paths,
                         int k) {
  const std::vector<std::string>& segs = paths[static_cast<size_t>(k)];
  if (segs.empty()) return g.nodes[static_cast<size_t>(k)].name;
  // Shallowest prefix whose module ends at node k.
  size_t d = 0;
  for (size_t depth = 1; depth <= segs.size() && d == 0; ++depth) {
    bool ends = true;
    for (size_t j = static_cast<size_t>(k) + 1; j < paths.size() && ends; ++j)
      if (has_prefix(paths[j], segs, depth)) ends = false;
    if (ends) d = depth;
  }
  if (d == 0) return g.nodes[static_cast<size_t>(k)].name;
  // A container of numbered children: name the child that ends here.
  while (d < segs.size() && all_digits(segs[d])) {
    std::set<std::string> children;
    for (const auto& p : paths)
      if (p.size() > d && has_prefix(p, segs, d)) children.insert(p[d]);
    if (children.size() < 2) break;
    ++d;
  }
  std::string name = join(segs, d);
  if (all_digits(name)) return g.nodes[static_cast<size_t>(k)].name;
  return name;
}

// Names of all valid cuts, made unique (a clash falls back to the node name).
std::map<int, std::string> cut_names(const Graph& g, const std::vector<int>& valid) {
  std::vector<std::vector<std::string>> paths;
  for (const Node& n : g.nodes) paths.push_back(module_path(n.name));
  std::map<int, std::string> names;
  std::map<std::string, int> count;
  for (int k : valid) {
    names[k] = raw_cut_name(g, paths, k);
    ++count[names[k]];
  }
  for (auto& [k, name] : names) {
    if (count[name] > 1 || all_digits(name)) name = g.nodes[static_cast<size_t>(k)].name;
  }
  // Node names are unique, but one may equal another cut's module name.
  std::set<std::string> seen;
  for (auto& [k, name] : names) {
    while (seen.count(name)) name += std::string(1, '#').append(std::to_string(k));
    seen.insert(name);
  }
  return names;
}

std::string why_invalid(const Graph& g, const Lifetimes& lt, int k) {
  const int n = static_cast<int>(g.nodes.size());
  if (k < 0 || k >= n)
    return "there is no node " + std::to_string(k) + " (the model has " + std::to_string(n) +
           " nodes, cuts are numbered 0 to " + std::to_string(n - 2) + ")";
  if (k == n - 1) return "node " + std::to_string(k) + " is the last node: the back would be empty";
  std::vector<int> cross = crossing(g, lt, k);
  if (cross.empty()) return "no tensor crosses the cut";
  if (cross.size() == 1) {
    if (lt.first[static_cast<size_t>(cross[0])] < 0)
      return "the only tensor crossing is the graph input '" + g.value(cross[0]).name +
             "': nothing is computed before it";
    return "";
  }
  std::string msg = std::to_string(cross.size()) + " tensors cross: ";
  for (size_t i = 0; i < cross.size() && i < 4; ++i) {
    if (i) msg += i + 1 == cross.size() ? " and " : ", ";
    msg += '\'';
    msg += g.value(cross[i]).name;
    msg += '\'';
  }
  if (cross.size() > 4) msg += ", ...";
  // Which structure is cut through? Where the branch of the oldest crossing
  // tensor (the skip connection) joins the others.
  size_t oldest = 0;
  for (size_t i = 1; i < cross.size(); ++i)
    if (lt.first[static_cast<size_t>(cross[i])] < lt.first[static_cast<size_t>(cross[oldest])])
      oldest = i;
  std::vector<char> from_old(g.values.size(), 0), from_other(g.values.size(), 0);
  for (size_t i = 0; i < cross.size(); ++i)
    (i == oldest ? from_old : from_other)[static_cast<size_t>(cross[i])] = 1;
  for (int j = k + 1; j < n; ++j) {
    const Node& node = g.nodes[static_cast<size_t>(j)];
    char o = 0, t = 0;
    for (int in : node.inputs)
      if (in >= 0) {
        o |= from_old[static_cast<size_t>(in)];
        t |= from_other[static_cast<size_t>(in)];
      }
    for (int out : node.outputs)
      if (out >= 0) {
        from_old[static_cast<size_t>(out)] = o;
        from_other[static_cast<size_t>(out)] = t;
      }
    if (!o || !t) continue;
    std::string kind = "a branch";
    if (node.op == "Add" || node.op == "Sum") kind = "a residual block";
    if (node.op == "Mul" && node.inputs.size() == 2 && node.inputs[0] >= 0 && node.inputs[1] >= 0) {
      // Squeeze-excitation scales a feature map by a per-channel vector; SiLU
      // multiplies two tensors of one shape.
      const bool broadcast = g.value(node.inputs[0]).shape != g.value(node.inputs[1]).shape;
      kind = broadcast ? "a squeeze-excitation block" : "a gated activation (x * sigmoid(x))";
    }
    if (node.op == "Concat") kind = "a concatenation";
    msg += " (inside " + kind + " that joins at node '" + node.name + "' (" + node.op + "))";
    return msg;
  }
  msg += " (several of them reach the outputs)";
  return msg;
}

// Copies the listed nodes of g into a new graph with `inputs`/`outputs`.
Graph subgraph(const Graph& g, int begin, int end, const std::vector<int>& inputs,
               const std::vector<int>& outputs, const std::string& suffix) {
  Graph s;
  s.name = g.name + suffix;
  s.opset = g.opset;
  s.metadata = g.metadata;
  std::map<int, int> id;
  auto map = [&](int v) {
    if (v < 0) return -1;
    auto it = id.find(v);
    if (it != id.end()) return it->second;
    Value copy = g.value(v);
    return id[v] = s.add_value(std::move(copy));
  };
  for (int v : inputs) s.inputs.push_back(map(v));
  for (int k = begin; k < end; ++k) {
    Node n = g.nodes[static_cast<size_t>(k)];
    for (int& v : n.inputs) v = map(v);
    for (int& v : n.outputs) v = map(v);
    s.nodes.push_back(std::move(n));
  }
  for (int v : outputs) s.outputs.push_back(map(v));
  s.validate();
  return s;
}

}  // namespace

std::vector<Cut> enumerate_cuts(const Graph& g) {
  Lifetimes lt = lifetimes(g);
  std::vector<int> valid;
  std::vector<int> feature;
  const int n = static_cast<int>(g.nodes.size());
  // Sweep: alive[v] for values produced at or before k and read after k.
  for (int k = 0; k + 1 < n; ++k) {
    std::vector<int> cross = crossing(g, lt, k);
    if (cross.size() == 1 && lt.first[static_cast<size_t>(cross[0])] >= 0) {
      valid.push_back(k);
      feature.push_back(cross[0]);
    }
  }
  auto names = cut_names(g, valid);
  std::vector<Cut> cuts;
  for (size_t i = 0; i < valid.size(); ++i) cuts.push_back({valid[i], names[valid[i]], feature[i]});
  return cuts;
}

std::string explain_cut(const Graph& g, int k) {
  return why_invalid(g, lifetimes(g), k);
}

std::string cut_name(const Graph& g, int k) {
  for (const Cut& c : enumerate_cuts(g))
    if (c.index == k) return c.name;
  fail("cut ", k, " is not valid: ", explain_cut(g, k));
}

Cut resolve_cut(const Graph& g, const std::string& spec) {
  TS_CHECK(!spec.empty(), "empty cut name");
  std::vector<Cut> cuts = enumerate_cuts(g);
  if (all_digits(spec)) {
    TS_CHECK(spec.size() < 10, "cut ", spec, " is out of range (the model has ", g.nodes.size(),
             " nodes)");
    const int k = std::stoi(spec);
    for (const Cut& c : cuts)
      if (c.index == k) return c;
    fail("cut ", k, " is not valid: ", explain_cut(g, k));
  }
  for (const Cut& c : cuts)
    if (c.name == spec) return c;
  // A node name that is not a valid cut: explain.
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (g.nodes[k].name == spec)
      fail("cut after node '", spec, "' (", k,
           ") is not valid: ", explain_cut(g, static_cast<int>(k)));
  fail("no cut named '", spec, "' (teesplit cuts MODEL lists the ", cuts.size(), " valid cuts)");
}

Graph front_partition(const Graph& g, const Cut& cut) {
  TS_CHECK(cut.index >= 0 && cut.index + 1 < static_cast<int>(g.nodes.size()) && cut.feature >= 0,
           "cut ", cut.index, " is not a cut of this graph");
  return subgraph(g, 0, cut.index + 1, g.inputs, {cut.feature}, "_front");
}

Graph back_partition(const Graph& g, const Cut& cut, const Cut* end) {
  TS_CHECK(cut.index >= 0 && cut.index + 1 < static_cast<int>(g.nodes.size()) && cut.feature >= 0,
           "cut ", cut.index, " is not a cut of this graph");
  if (end) {
    TS_CHECK(end->index > cut.index && end->index + 1 < static_cast<int>(g.nodes.size()) &&
                 end->feature >= 0,
             "cut ", end->index, " cannot end the back partition that starts after cut ",
             cut.index);
    return subgraph(g, cut.index + 1, end->index + 1, {cut.feature}, {end->feature}, "_back");
  }
  return subgraph(g, cut.index + 1, static_cast<int>(g.nodes.size()), {cut.feature}, g.outputs,
                  "_back");
}

Cut tail_cut(const Graph& g, const Cut& front) {
  int last = -1;
  for (int k = 0; k < static_cast<int>(g.nodes.size()); ++k)
    if (g.nodes[static_cast<size_t>(k)].op == "Gemm" ||
        g.nodes[static_cast<size_t>(k)].op == "MatMul")
      last = k;
  TS_CHECK(last >= 0,
           "--protect-output keeps the classifier in the enclave, but the model has no "
           "Gemm or MatMul node");
  const Node& cls = g.nodes[static_cast<size_t>(last)];
  std::optional<Cut> tail;
  for (const Cut& c : enumerate_cuts(g))
    if (c.index < last) tail = c;
  TS_CHECK(tail, "--protect-output: no valid cut before the classifier '", cls.name, "' (", cls.op,
           ")");
  TS_CHECK(tail->index > front.index, "--protect-output: cut '", front.name, "' (", front.index,
           ") leaves no back partition: the tail kept in the enclave starts after cut '",
           tail->name, "' (", tail->index, "), before the classifier '", cls.name,
           "'; choose an earlier cut");
  return *tail;
}

CutStats cut_stats(const Graph& g, const Cut& cut) {
  CutStats st;
  const Value& f = g.value(cut.feature);
  st.feature_shape = f.shape;
  st.feature_bytes = static_cast<size_t>(shape_numel(f.shape)) * dtype_size(f.dtype);
  std::set<int> params;
  for (int k = 0; k < static_cast<int>(g.nodes.size()); ++k) {
    const Node& n = g.nodes[static_cast<size_t>(k)];
    const double fl = node_flops(g, n);
    if (k <= cut.index) {
      st.front_flops += fl;
      for (int in : n.inputs)
        if (in >= 0 && g.value(in).constant && params.insert(in).second)
          st.front_param_bytes += g.value(in).constant->nbytes();
    } else {
      st.back_flops += fl;
    }
  }
  return st;
}

Graph specialize_for_cuts(const Graph& model) {
  return specialize(model, default_input_shapes(model, 1));
}

Graph batchable_back_partition(const Graph& model, const Graph& g1, const Cut& cut,
                               const Cut* end) {
  Graph back = back_partition(g1, cut, end);
  if (model.inputs.size() != 1) return back;
  const Shape& in = model.value(model.inputs[0]).shape;
  if (in.empty() || in[0] >= 0) return back;  // a fixed batch stays fixed
  constexpr int64_t kProbe = 97;              // an unusual batch, as TorchGraph's kTraceBatch
  Graph probe_back;
  try {
    const Graph g97 = specialize(model, default_input_shapes(model, kProbe));
    if (g97.nodes.size() != g1.nodes.size()) return back;
    for (size_t i = 0; i < g1.nodes.size(); ++i)
      if (g97.nodes[i].name != g1.nodes[i].name || g97.nodes[i].op != g1.nodes[i].op) return back;
    const Cut end97 = end ? resolve_cut(g97, end->name) : Cut{};
    probe_back = back_partition(g97, resolve_cut(g97, cut.name), end ? &end97 : nullptr);
  } catch (const Error&) {
    return back;  // the model does not specialise at another batch: keep batch 1
  }
  if (probe_back.nodes.size() != back.nodes.size() ||
      probe_back.values.size() != back.values.size())
    return back;
  Graph out = back;
  for (size_t id = 0; id < back.values.size(); ++id) {
    const Value& a = back.values[id];
    const Value& b = probe_back.values[id];
    if (a.name != b.name || a.dtype != b.dtype || a.shape.size() != b.shape.size() ||
        a.constant.has_value() != b.constant.has_value())
      return back;
    if (a.constant) {
      if (a.constant->nbytes() == b.constant->nbytes() &&
          std::memcmp(a.constant->raw(), b.constant->raw(), a.constant->nbytes()) == 0)
        continue;
      // Only a Reshape target [1, ...] vs [97, ...] whose data input has the batch
      // in dim 0 may differ: it becomes [0, ...] (copy dim 0 from the input).
      // Every reader of it must be such a Reshape.
      bool fixed = false;
      for (const Node& n : back.nodes) {
        const bool reads =
            std::find(n.inputs.begin(), n.inputs.end(), static_cast<int>(id)) != n.inputs.end();
        if (!reads) continue;
        if (n.op != "Reshape" || n.inputs.size() < 2 || n.inputs[0] == static_cast<int>(id) ||
            n.inputs[1] != static_cast<int>(id) || n.attrs.get_int("allowzero", 0) != 0)
          return back;
        const Shape& d1 = back.value(n.inputs[0]).shape;
        const Shape& d97 = probe_back.value(n.inputs[0]).shape;
        if (d1.empty() || d1.size() != d97.size() || d1[0] != 1 || d97[0] != kProbe ||
            a.dtype != DType::I64 || a.constant->numel() != b.constant->numel() ||
            a.constant->numel() < 1)
          return back;
        const int64_t* t1 = a.constant->data<int64_t>();
        const int64_t* t97 = b.constant->data<int64_t>();
        if (t1[0] != 1 || t97[0] != kProbe ||
            std::memcmp(t1 + 1, t97 + 1, (a.constant->numel() - 1) * sizeof(int64_t)) != 0)
          return back;
        fixed = true;
      }
      if (!fixed) return back;
      Tensor t = *a.constant;
      t.data<int64_t>()[0] = 0;
      out.values[id].constant = std::move(t);
      continue;
    }
    for (size_t d = 0; d < a.shape.size(); ++d) {
      if (a.shape[d] == b.shape[d]) continue;
      if (d != 0 || a.shape[0] != 1 || b.shape[0] != kProbe) return back;
      out.values[id].shape[0] = -1;
    }
  }
  // Every graph input and output must carry the batch, or none is batchable.
  for (int id : out.inputs)
    if (out.value(id).shape.empty() || out.value(id).shape[0] >= 0) return back;
  for (int id : out.outputs)
    if (out.value(id).shape.empty() || out.value(id).shape[0] >= 0) return back;
  return out;
}

void parse_shard(const std::string& spec, int* index, int* count) {
  const auto slash = spec.find('/');
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < spec.size() &&
            spec.find_first_not_of("0123456789/") == std::string::npos &&
            spec.find('/', slash + 1) == std::string::npos && slash < 6 && spec.size() - slash < 7;
  if (ok) {
    *index = std::stoi(spec.substr(0, slash));
    *count = std::stoi(spec.substr(slash + 1));
    ok = *count >= 1 && *index < *count;
  }
  TS_CHECK(ok, "bad --shard '", spec, "': expected I/N with 0 <= I < N (e.g. 0/4)");
}

std::vector<Cut> select_cuts(const Graph& g, const std::string& spec) {
  const std::vector<Cut> all = enumerate_cuts(g);
  TS_CHECK(!all.empty(), "the model has no valid cut");
  if (spec == "all") return all;
  if (spec == "blocks") {
    std::set<int> pick;
    int first_conv = -1;
    for (size_t i = 0; i < g.nodes.size() && first_conv < 0; ++i)
      if (g.nodes[i].op == "Conv") first_conv = static_cast<int>(i);
    for (const Cut& c : all)
      if (c.index >= first_conv) {
        pick.insert(c.index);
        break;
      }
    auto spatial = [&](const Cut& c) {
      const Shape& s = g.value(c.feature).shape;
      return s.size() == 4 ? s[2] * 100000 + s[3] : -1;
    };
    for (size_t i = 0; i + 1 < all.size(); ++i)
      if (spatial(all[i]) != spatial(all[i + 1])) pick.insert(all[i].index);
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (spatial(*it) >= 0) {
        pick.insert(it->index);
        break;
      }
    pick.insert(all.back().index);
    std::vector<Cut> out;
    for (const Cut& c : all)
      if (pick.count(c.index)) out.push_back(c);
    return out;
  }
  std::vector<Cut> out;
  std::set<int> seen;
  for (const std::string& name : split_list(spec, "--cuts")) {
    const Cut c = resolve_cut(g, name);
    if (seen.insert(c.index).second) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const Cut& a, const Cut& b) { return a.index < b.index; });
  return out;
}

}  // namespace teesplit
