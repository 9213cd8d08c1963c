#include "backends/activation.h"

#include <algorithm>

namespace teesplit {
namespace {

// Input i of node n as a Clip bound: false when it is present but not a float32
// one-element constant; else true, with *bound set when it is present.
bool clip_bound(const Graph& g, const Node& n, size_t i, std::optional<float>* bound) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) return true;
  const Value& v = g.value(n.inputs[i]);
  if (!v.constant || v.constant->dtype() != DType::F32 || v.constant->numel() != 1) return false;
  *bound = v.constant->data<float>()[0];
  return true;
}

}  // namespace

std::optional<Activation> activation_of(const Graph& g, const Node& n) {
  if (n.inputs.empty() || n.inputs[0] < 0) return std::nullopt;
  const std::string& op = n.op;
  Activation a;
  if (op == "Relu") {
    a.kind = ActKind::Relu;
  } else if (op == "LeakyRelu") {
    a.kind = ActKind::LeakyRelu;
    a.alpha = n.attrs.get_float("alpha", 0.01f);
  } else if (op == "Sigmoid") {
    a.kind = ActKind::Sigmoid;
  } else if (op == "HardSigmoid") {
    a.kind = ActKind::HardSigmoid;
    a.alpha = n.attrs.get_float("alpha", 0.2f);
    a.beta = n.attrs.get_float("beta", 0.5f);
  } else if (op == "HardSwish") {
    a.kind = ActKind::HardSwish;
  } else if (op == "Tanh") {
    a.kind = ActKind::Tanh;
  } else if (op == "Exp") {
    a.kind = ActKind::Exp;
  } else if (op == "Sqrt") {
    a.kind = ActKind::Sqrt;
  } else if (op == "Neg") {
    a.kind = ActKind::Neg;
  } else if (op == "Clip") {
    a.kind = ActKind::Clip;
    if (n.attrs.has("min")) a.min = n.attrs.get_float("min", 0.f);
    if (n.attrs.has("max")) a.max = n.attrs.get_float("max", 0.f);
    // An input bound replaces the attribute; one computed at run time is refused.
    if (!clip_bound(g, n, 1, &a.min) || !clip_bound(g, n, 2, &a.max)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return a;
}

int Readers::sole_reader(int v) const {
  if (v < 0 || is_output[static_cast<size_t>(v)]) return -1;
  const auto& c = of[static_cast<size_t>(v)];
  if (c.size() != 1 || consumed[static_cast<size_t>(c[0])]) return -1;
  const Node& n = g.nodes[static_cast<size_t>(c[0])];
  if (std::count(n.inputs.begin(), n.inputs.end(), v) != 1) return -1;  // Add(x, x)
  return c[0];
}

bool Readers::read_only_by(int v, int a, int b) const {
  if (v < 0 || is_output[static_cast<size_t>(v)] || a == b) return false;
  const auto& c = of[static_cast<size_t>(v)];
  return c.size() == 2 && std::count(c.begin(), c.end(), a) == 1 &&
         std::count(c.begin(), c.end(), b) == 1;
}

int silu_mul(const Readers& r, int s) {
  const Node& sn = r.g.nodes[static_cast<size_t>(s)];
  if (sn.op != "Sigmoid" || sn.inputs.empty() || sn.outputs.size() != 1) return -1;
  const int x = sn.inputs[0], sv = sn.outputs[0];
  if (x < 0 || sv < 0) return -1;
  const int m = r.sole_reader(sv);
  if (m < 0) return -1;
  const Node& mn = r.g.nodes[static_cast<size_t>(m)];
  if (mn.op != "Mul" || mn.inputs.size() != 2 || mn.outputs.empty() || mn.outputs[0] < 0) return -1;
  if (!((mn.inputs[0] == x && mn.inputs[1] == sv) || (mn.inputs[0] == sv && mn.inputs[1] == x)))
    return -1;
  if (r.g.value(mn.outputs[0]).shape != r.g.value(x).shape) return -1;
  return m;
}

std::optional<ActivationMatch> fusable_activation(const Readers& r, int v) {
  if (v < 0 || r.is_output[static_cast<size_t>(v)]) return std::nullopt;
  const auto& c = r.of[static_cast<size_t>(v)];
  if (c.size() == 2) {
    for (int s : c) {
      const Node& sn = r.g.nodes[static_cast<size_t>(s)];
      if (r.consumed[static_cast<size_t>(s)] || sn.op != "Sigmoid" || sn.inputs.empty() ||
          sn.inputs[0] != v)
        continue;
      const int m = silu_mul(r, s);
      if (m < 0 || !r.read_only_by(v, s, m)) continue;
      ActivationMatch match;
      match.act.kind = ActKind::SiLU;
      match.node = s;
      match.mul = m;
      match.out = r.g.nodes[static_cast<size_t>(m)].outputs[0];
      return match;
    }
    return std::nullopt;
  }
  const int k = r.sole_reader(v);
  if (k < 0) return std::nullopt;
  const Node& n = r.g.nodes[static_cast<size_t>(k)];
  if (n.inputs[0] != v || n.outputs.empty() || n.outputs[0] < 0) return std::nullopt;
  auto act = activation_of(r.g, n);
  if (!act) return std::nullopt;
  ActivationMatch match;
  match.act = *act;
  match.node = k;
  match.out = n.outputs[0];
  return match;
}

}  // namespace teesplit
