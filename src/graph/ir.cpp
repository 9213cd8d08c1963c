#include "graph/ir.h"

#include <algorithm>

namespace teesplit {

int Graph::add_value(Value v) {
  int id = static_cast<int>(values.size());
  if (!v.name.empty()) {
    TS_CHECK(by_name_.count(v.name) == 0, "duplicate tensor name '", v.name, "'");
    by_name_[v.name] = id;
  }
  values.push_back(std::move(v));
  return id;
}

int Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

std::vector<std::vector<int>> Graph::consumers() const {
  std::vector<std::vector<int>> c(values.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    for (int in : nodes[i].inputs)
      if (in >= 0) c[static_cast<size_t>(in)].push_back(static_cast<int>(i));
  return c;
}

std::vector<int> Graph::producers() const {
  std::vector<int> p(values.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (int out : nodes[i].outputs)
      if (out >= 0) p[static_cast<size_t>(out)] = static_cast<int>(i);
  return p;
}

void Graph::validate() const {
  const int nv = static_cast<int>(values.size());
  std::vector<char> defined(values.size(), 0);
  for (int id : inputs) {
    TS_CHECK(id >= 0 && id < nv, "graph input id ", id, " out of range");
    defined[static_cast<size_t>(id)] = 1;
  }
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].constant) defined[i] = 1;
  for (const Node& n : nodes) {
    for (int in : n.inputs) {
      if (in < 0) continue;
      TS_CHECK(in < nv, "node '", n.name, "' (", n.op, ") reads value id ", in, " out of range");
      TS_CHECK(defined[static_cast<size_t>(in)], "node '", n.name, "' (", n.op, ") reads '",
               values[static_cast<size_t>(in)].name,
               "', which no earlier node, input or initializer defines");
    }
    for (int out : n.outputs) {
      if (out < 0) continue;
      TS_CHECK(out < nv, "node '", n.name, "' writes value id ", out, " out of range");
      TS_CHECK(!defined[static_cast<size_t>(out)], "node '", n.name, "' (", n.op, ") writes '",
               values[static_cast<size_t>(out)].name, "', which is already defined");
      defined[static_cast<size_t>(out)] = 1;
    }
  }
  for (int id : outputs) {
    TS_CHECK(id >= 0 && id < nv, "graph output id ", id, " out of range");
    TS_CHECK(defined[static_cast<size_t>(id)], "graph output '",
             values[static_cast<size_t>(id)].name, "' is never computed");
  }
}

void Graph::remove_dead() {
  std::vector<char> live(values.size(), 0);
  for (int id : outputs) live[static_cast<size_t>(id)] = 1;
  std::vector<char> keep(nodes.size(), 0);
  for (size_t k = nodes.size(); k-- > 0;) {
    const Node& n = nodes[k];
    bool used = false;
    for (int out : n.outputs)
      if (out >= 0 && live[static_cast<size_t>(out)]) used = true;
    if (!used) continue;
    keep[k] = 1;
    for (int in : n.inputs)
      if (in >= 0) live[static_cast<size_t>(in)] = 1;
  }
  std::vector<Node> kept;
  for (size_t k = 0; k < nodes.size(); ++k)
    if (keep[k]) kept.push_back(std::move(nodes[k]));
  nodes = std::move(kept);
  // Unused outputs of kept nodes become -1 only if optional; keep ids stable, but
  // release constants nobody reads.
  for (int id : inputs) live[static_cast<size_t>(id)] = 1;
  for (size_t i = 0; i < values.size(); ++i)
    if (!live[i] && values[i].constant) values[i].constant.reset();
}

size_t Graph::constant_bytes() const {
  std::vector<char> seen(values.size(), 0);
  size_t total = 0;
  for (const Node& n : nodes)
    for (int in : n.inputs)
      if (in >= 0 && !seen[static_cast<size_t>(in)] && values[static_cast<size_t>(in)].constant) {
        seen[static_cast<size_t>(in)] = 1;
        total += values[static_cast<size_t>(in)].constant->nbytes();
      }
  return total;
}

}  // namespace teesplit
