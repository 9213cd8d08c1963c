#include "onnx/onnx_export.h"

#include "core/file.h"

#include <set>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

namespace teesplit {
namespace {

void fill_tensor(onnx::TensorProto* tp, const Tensor& t, const std::string& name) {
  tp->set_name(name);
  tp->set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape()) tp->add_dims(d);
  tp->set_raw_data(t.raw(), t.nbytes());  // little-endian, as ONNX's raw_data requires
}

// Known shapes, or a known shape with a dynamic leading (batch) dimension.
bool exportable_shape(const Shape& s) {
  return shape_known(s) || (!s.empty() && s[0] < 0 && shape_known(Shape(s.begin() + 1, s.end())));
}

void fill_value_info(onnx::ValueInfoProto* vi, const Value& v) {
  TS_CHECK(exportable_shape(v.shape), "value '", v.name, "' has unknown shape ", shape_str(v.shape),
           "; export a specialised graph");
  vi->set_name(v.name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_to_onnx(v.dtype));
  auto* sh = tt->mutable_shape();
  for (int64_t d : v.shape) {
    if (d < 0)
      sh->add_dim()->set_dim_param("batch");
    else
      sh->add_dim()->set_dim_value(d);
  }
}

void fill_attr(onnx::AttributeProto* ap, const std::string& name, const Attr& a) {
  ap->set_name(name);
  if (auto* i = std::get_if<int64_t>(&a)) {
    ap->set_type(onnx::AttributeProto::INT);
    ap->set_i(*i);
  } else if (auto* f = std::get_if<float>(&a)) {
    ap->set_type(onnx::AttributeProto::FLOAT);
    ap->set_f(*f);
  } else if (auto* s = std::get_if<std::string>(&a)) {
    ap->set_type(onnx::AttributeProto::STRING);
    ap->set_s(*s);
  } else if (auto* is = std::get_if<std::vector<int64_t>>(&a)) {
    ap->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : *is) ap->add_ints(x);
  } else if (auto* fs = std::get_if<std::vector<float>>(&a)) {
    ap->set_type(onnx::AttributeProto::FLOATS);
    for (float x : *fs) ap->add_floats(x);
  } else {
    ap->set_type(onnx::AttributeProto::TENSOR);
    fill_tensor(ap->mutable_t(), std::get<Tensor>(a), "");
  }
}

}  // namespace

std::string export_onnx(const Graph& g, const ExportOptions& opts) {
  g.validate();
  onnx::ModelProto model;
  model.set_ir_version(opts.ir_version);
  model.set_producer_name(opts.producer);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(g.opset);
  for (const auto& [k, v] : g.metadata) {
    auto* p = model.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  onnx::GraphProto* gp = model.mutable_graph();
  gp->set_name(g.name.empty() ? "teesplit" : g.name);
  for (int id : g.inputs) fill_value_info(gp->add_input(), g.value(id));
  std::set<int> outputs(g.outputs.begin(), g.outputs.end());
  for (int id : g.outputs) fill_value_info(gp->add_output(), g.value(id));

  std::set<int> written;
  for (const Node& n : g.nodes) {
    onnx::NodeProto* np = gp->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op);
    for (int id : n.inputs) {
      np->add_input(id >= 0 ? g.value(id).name : "");
      if (id >= 0 && g.value(id).constant && written.insert(id).second)
        fill_tensor(gp->add_initializer(), *g.value(id).constant, g.value(id).name);
    }
    for (int id : n.outputs) {
      np->add_output(id >= 0 ? g.value(id).name : "");
      if (id >= 0 && !outputs.count(id) && shape_known(g.value(id).shape))
        fill_value_info(gp->add_value_info(), g.value(id));
    }
    for (const auto& [name, a] : n.attrs.all()) {
      if (!name.empty() && name[0] == '_') continue;  // teesplit-internal annotations
      fill_attr(np->add_attribute(), name, a);
    }
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    fail("exported model fails the ONNX checker: ", msg);
  }
  std::string bytes;
  TS_CHECK(model.SerializeToString(&bytes), "cannot serialize the ONNX model (over 2 GiB?)");
  return bytes;
}

void write_onnx(const std::string& path, const Graph& g, const ExportOptions& opts) {
  write_file(path, export_onnx(g, opts));
}

}  // namespace teesplit
