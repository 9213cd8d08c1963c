#include "onnx/onnx_import.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>

#include <google/protobuf/io/coded_stream.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "core/file.h"
#include "ops/op.h"

namespace teesplit {
namespace {

// The newest ai.onnx opset the linked ONNX library (checker, shape inference) knows.
int64_t onnx_library_max_opset() {
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = ranges.find(onnx::ONNX_DOMAIN);
  return it == ranges.end() ? 0 : it->second.second;
}

namespace fs = std::filesystem;

// core/dtype.h's codes are onnx.proto's.
static_assert(onnx_type::kFloat == onnx::TensorProto::FLOAT &&
              onnx_type::kUint8 == onnx::TensorProto::UINT8 &&
              onnx_type::kInt32 == onnx::TensorProto::INT32 &&
              onnx_type::kInt64 == onnx::TensorProto::INT64 &&
              onnx_type::kBool == onnx::TensorProto::BOOL);

DType convert_dtype(int32_t t, const std::string& what) {
  if (t == onnx::TensorProto::DOUBLE) return DType::F32;  // converted on load
  if (const std::optional<DType> dt = dtype_from_onnx(t)) return *dt;
  fail(what, " has element type ", onnx::TensorProto::DataType_Name(t),
       ", which teesplit does not support (float32, float64, int64, int32, uint8, bool)");
}

// Copies external data into raw_data so that the checker and the converter see
// one self-contained model. Locations must stay inside base_dir.
void load_external_data(onnx::TensorProto& t, const std::string& base_dir) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = std::stoll(kv.value());
    else if (kv.key() == "length")
      length = std::stoll(kv.value());
  }
  TS_CHECK(!location.empty(), "initializer '", t.name(), "' has external data with no location");
  fs::path rel(location);
  TS_CHECK(rel.is_relative(), "initializer '", t.name(), "': external data location '", location,
           "' must be relative to the model's folder");
  for (const auto& part : rel)
    TS_CHECK(part != "..", "initializer '", t.name(), "': external data location '", location,
             "' leaves the model's folder");
  fs::path full = fs::path(base_dir) / rel;
  std::error_code ec;
  auto size = fs::file_size(full, ec);
  TS_CHECK(!ec, "initializer '", t.name(), "': cannot open external data file '", full.string(),
           "'");
  TS_CHECK(offset >= 0 && static_cast<uint64_t>(offset) <= size, "initializer '", t.name(),
           "': external data offset ", offset, " is beyond the end of '", full.string(), "' (",
           size, " bytes)");
  if (length < 0) length = static_cast<int64_t>(size) - offset;
  TS_CHECK(static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) <= size, "initializer '",
           t.name(), "': external data [", offset, ", +", length, ") exceeds '", full.string(),
           "' (", size, " bytes)");
  std::ifstream in(full, std::ios::binary);
  in.seekg(offset);
  std::string buf(static_cast<size_t>(length), '\0');
  in.read(buf.data(), length);
  TS_CHECK(in.gcount() == length, "initializer '", t.name(), "': short read from '", full.string(),
           "'");
  t.set_raw_data(std::move(buf));
  t.clear_external_data();
  t.set_data_location(onnx::TensorProto::DEFAULT);
}

// Number of values the stored data holds (raw bytes / element size, or the
// length of the typed field), to compare with the shape before allocating.
int64_t stored_values(const onnx::TensorProto& t, size_t elem) {
  if (t.has_raw_data()) return static_cast<int64_t>(t.raw_data().size() / elem);
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      return t.float_data_size();
    case onnx::TensorProto::DOUBLE:
      return t.double_data_size();
    case onnx::TensorProto::INT64:
      return t.int64_data_size();
    default:
      return t.int32_data_size();
  }
}

// Checks a stored tensor's shape against the data it holds (no allocation);
// returns its number of elements.
int64_t check_tensor_data(const onnx::TensorProto& t, const std::string& what) {
  Shape shape(t.dims().begin(), t.dims().end());
  // The shape comes from the file: check it against the data the file holds
  // before allocating anything (a few bytes must not claim gigabytes).
  int64_t n = 1;
  for (int64_t d : shape) {
    TS_CHECK(d >= 0, what, " has a negative dimension");
    TS_CHECK(d == 0 || n <= (int64_t{1} << 40) / d, what, " has an implausibly large shape ",
             shape_str(shape));
    n *= d;
  }
  const DType dt = convert_dtype(t.data_type(), what);
  const bool is_double = t.data_type() == onnx::TensorProto::DOUBLE;
  const size_t elem = is_double ? 8 : dtype_size(dt);
  if (t.has_raw_data())
    TS_CHECK(t.raw_data().size() == static_cast<size_t>(n) * elem, what, " holds ",
             t.raw_data().size(), " bytes of data, its shape ", shape_str(shape), " needs ",
             static_cast<size_t>(n) * elem);
  else
    TS_CHECK(stored_values(t, elem) == n, what, " holds ", stored_values(t, elem),
             " values, its shape ", shape_str(shape), " needs ", n);
  return n;
}

Tensor convert_tensor(const onnx::TensorProto& t, const std::string& what) {
  const int64_t n = check_tensor_data(t, what);
  const Shape shape(t.dims().begin(), t.dims().end());
  const DType dt = convert_dtype(t.data_type(), what);
  const bool is_double = t.data_type() == onnx::TensorProto::DOUBLE;
  Tensor out(dt, shape);
  if (t.has_raw_data()) {
    if (is_double) {
      const char* src = t.raw_data().data();
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + i * 8, 8);
        out.data<float>()[i] = static_cast<float>(v);
      }
    } else if (n) {
      std::memcpy(out.raw(), t.raw_data().data(), out.nbytes());
    }
    return out;
  }
  // The typed fields, their lengths checked above.
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      for (int64_t i = 0; i < n; ++i) out.data<float>()[i] = t.float_data(static_cast<int>(i));
      break;
    case onnx::TensorProto::DOUBLE:
      for (int64_t i = 0; i < n; ++i)
        out.data<float>()[i] = static_cast<float>(t.double_data(static_cast<int>(i)));
      break;
    case onnx::TensorProto::INT64:
      for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = t.int64_data(static_cast<int>(i));
      break;
    case onnx::TensorProto::INT32:
      for (int64_t i = 0; i < n; ++i) out.data<int32_t>()[i] = t.int32_data(static_cast<int>(i));
      break;
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      for (int64_t i = 0; i < n; ++i)
        static_cast<uint8_t*>(out.raw())[i] =
            static_cast<uint8_t>(t.int32_data(static_cast<int>(i)));
      break;
    default:
      fail(what, ": unsupported element type");
  }
  return out;
}

Attr convert_attr(const onnx::AttributeProto& a, const std::string& what) {
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      return a.i();
    case onnx::AttributeProto::FLOAT:
      return a.f();
    case onnx::AttributeProto::STRING:
      return a.s();
    case onnx::AttributeProto::INTS:
      return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS:
      return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::TENSOR:
      return convert_tensor(a.t(), what);
    default:
      fail(what, " has type ", onnx::AttributeProto::AttributeType_Name(a.type()),
           ", which teesplit does not support");
  }
}

Value value_from_info(const onnx::ValueInfoProto& vi) {
  Value v;
  v.name = vi.name();
  if (vi.type().has_tensor_type()) {
    const auto& tt = vi.type().tensor_type();
    v.dtype = convert_dtype(tt.elem_type(), "value '" + vi.name() + "'");
    if (tt.has_shape())
      for (const auto& d : tt.shape().dim())
        v.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return v;
}

Graph build_graph(onnx::ModelProto& model, const std::string& origin) {
  Graph g;
  const onnx::GraphProto& gp = model.graph();
  g.name = gp.name();
  for (const auto& kv : model.metadata_props()) g.metadata[kv.key()] = kv.value();
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") g.opset = op.version();

  std::set<std::string> init_names;
  for (const auto& init : gp.initializer()) init_names.insert(init.name());
  for (const auto& in : gp.input()) {
    if (init_names.count(in.name())) continue;  // an initializer with a default value
    Value v = value_from_info(in);
    TS_CHECK(!v.shape.empty() || in.type().tensor_type().has_shape(), "graph input '", in.name(),
             "' has no shape");
    g.inputs.push_back(g.add_value(std::move(v)));
  }
  auto* inits = model.mutable_graph()->mutable_initializer();
  for (auto& init : *inits) {
    Value v;
    v.name = init.name();
    v.constant = convert_tensor(init, "initializer '" + init.name() + "'");
    v.dtype = v.constant->dtype();
    v.shape = v.constant->shape();
    TS_CHECK(g.find_value(v.name) < 0, "initializer '", v.name, "' is defined twice");
    g.add_value(std::move(v));
    init.clear_raw_data();  // release memory as we go
    init.clear_float_data();
  }
  std::unordered_map<std::string, const onnx::ValueInfoProto*> infos;
  for (const auto& vi : gp.value_info()) infos[vi.name()] = &vi;
  for (const auto& vi : gp.output()) infos[vi.name()] = &vi;

  std::set<std::string> node_names;
  int index = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.op = np.op_type();
    n.name = np.name().empty() ? n.op + "_" + std::to_string(index) : np.name();
    while (node_names.count(n.name)) n.name += "_" + std::to_string(index);
    node_names.insert(n.name);
    ++index;
    const std::string where = "node '" + n.name + "' (" + n.op + ")";
    TS_CHECK(np.domain().empty() || np.domain() == "ai.onnx", where, ": operator domain '",
             np.domain(), "' is not supported");
    TS_CHECK(find_op(n.op), where, ": unsupported operator ", n.op);
    for (const auto& a : np.attribute())
      n.attrs.set(a.name(), convert_attr(a, where + " attribute '" + a.name() + "'"));
    if ((n.op == "Softmax" || n.op == "LogSoftmax") && g.opset < 13)
      n.attrs.set("_legacy_flatten", int64_t{1});
    for (const auto& in : np.input()) {
      if (in.empty()) {
        n.inputs.push_back(-1);
        continue;
      }
      int id = g.find_value(in);
      TS_CHECK(id >= 0, where, ": input '", in,
               "' is not a graph input, an initializer or the output of an earlier node");
      n.inputs.push_back(id);
    }
    for (const auto& out : np.output()) {
      if (out.empty()) {
        n.outputs.push_back(-1);
        continue;
      }
      TS_CHECK(g.find_value(out) < 0, where, ": output '", out, "' is already defined");
      auto it = infos.find(out);
      Value v = it != infos.end() ? value_from_info(*it->second) : Value{out, DType::F32, {}, {}};
      if (it == infos.end()) v.shape = {};
      n.outputs.push_back(g.add_value(std::move(v)));
    }
    g.nodes.push_back(std::move(n));
  }
  for (const auto& out : gp.output()) {
    int id = g.find_value(out.name());
    TS_CHECK(id >= 0, "graph output '", out.name(), "' is never computed");
    g.outputs.push_back(id);
  }
  TS_CHECK(!g.inputs.empty(), "the model has no inputs");
  TS_CHECK(!g.outputs.empty(), "the model has no outputs");
  g.validate();
  return g;
}

}  // namespace

Result<Graph> parse_onnx(const std::string& bytes, const std::string& base_dir,
                         const std::string& origin, const ImportOptions& opts) {
  return capture([&]() -> Graph {
    try {
      onnx::ModelProto model;
      google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                    static_cast<int>(bytes.size()));
      stream.SetTotalBytesLimit(INT32_MAX);
      TS_CHECK(bytes.size() < static_cast<size_t>(INT32_MAX),
               "file is larger than 2 GiB; store the weights as external data");
      TS_CHECK(model.ParseFromCodedStream(&stream) && stream.ConsumedEntireMessage(),
               "not a valid ONNX model (the protobuf does not parse; truncated or corrupt file?)");
      TS_CHECK(model.has_graph(), "not a valid ONNX model (no graph)");
      bool have_default = false;
      int64_t opset = 0;
      for (const auto& op : model.opset_import()) {
        if (!op.domain().empty() && op.domain() != "ai.onnx") continue;
        have_default = true;
        opset = op.version();
        TS_CHECK(op.version() >= kMinOpset && op.version() <= kMaxOpset, "opset ", op.version(),
                 " is not supported (teesplit reads opsets ", kMinOpset, " to ", kMaxOpset, ")");
      }
      // The ONNX library's checker and shape inference know opsets up to its own
      // release; past that they refuse the model, so they are left out.
      const bool onnx_lib_knows_opset = opset <= onnx_library_max_opset();
      TS_CHECK(have_default, "the model imports no ai.onnx opset");
      for (auto& init : *model.mutable_graph()->mutable_initializer())
        if (init.data_location() == onnx::TensorProto::EXTERNAL) load_external_data(init, base_dir);
      // Our own structural checks first: their messages name the node. Nothing
      // of the file reaches the ONNX library's checker before its initializers'
      // shapes agree with their data (libonnx does not check this and crashed).
      for (const auto& init : model.graph().initializer())
        check_tensor_data(init, "initializer '" + init.name() + "'");
      {
        std::set<std::string> defined;
        for (const auto& in : model.graph().input()) defined.insert(in.name());
        for (const auto& init : model.graph().initializer()) defined.insert(init.name());
        int index = 0;
        for (const auto& np : model.graph().node()) {
          std::string name =
              np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
          ++index;
          TS_CHECK(np.domain().empty() || np.domain() == "ai.onnx", "node '", name, "' (",
                   np.op_type(), "): operator domain '", np.domain(), "' is not supported");
          TS_CHECK(find_op(np.op_type()), "node '", name, "': unsupported operator ", np.op_type());
          for (const auto& in : np.input())
            TS_CHECK(in.empty() || defined.count(in), "node '", name, "' (", np.op_type(),
                     "): input '", in,
                     "' is not a graph input, an initializer or the output of an earlier node");
          for (const auto& out : np.output()) defined.insert(out);
        }
      }
      if (opts.run_checker && onnx_lib_knows_opset) {
        try {
          onnx::checker::check_model(model);
        } catch (const std::exception& e) {
          std::string msg = e.what();
          if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
          fail("ONNX checker: ", msg);
        }
      }
      if (opts.run_shape_inference && onnx_lib_knows_opset) {
        try {
          onnx::ShapeInferenceOptions so(true, 1, true);
          onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), so);
        } catch (const std::exception& e) {
          std::string msg = e.what();
          if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
          fail("ONNX shape inference: ", msg);
        }
      }
      return build_graph(model, origin);
    } catch (const Error& e) {
      fail(origin, ": ", e.what());
    } catch (const std::bad_alloc&) {
      fail(origin, ": out of memory");
    } catch (const std::exception& e) {
      fail(origin, ": ", e.what());
    }
  });
}

Result<Graph> load_onnx(const std::string& path, const ImportOptions& opts) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const Error& e) {
    return e;
  }
  std::string base = fs::path(path).parent_path().string();
  if (base.empty()) base = ".";
  return parse_onnx(bytes, base, path, opts);
}

}  // namespace teesplit
