#include "runtime/split_runner.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <variant>

#include "graph/passes.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TS_CHECK(in, "cannot open '", path, "'");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TS_CHECK(!in.bad(), "error reading '", path, "'");
  return s;
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  TS_CHECK(out, "cannot create '", path, "'");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  TS_CHECK(out, "error writing '", path, "'");
}

// ---- a small JSON reader, enough for manifest.json ----

struct Json {
  std::variant<std::nullptr_t, bool, double, std::string, std::vector<Json>,
               std::map<std::string, Json>>
      v;
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  Json parse() {
    Json j = value(0);
    ws();
    TS_CHECK(i_ == s_.size(), "manifest: trailing characters at offset ", i_);
    return j;
  }

 private:
  void ws() {
    while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_])) ++i_;
  }
  [[noreturn]] void bad(const char* what) { fail("manifest: ", what, " at offset ", i_); }
  Json value(int depth) {
    if (depth > 32) bad("nesting too deep");
    ws();
    if (i_ >= s_.size()) bad("unexpected end");
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      std::map<std::string, Json> m;
      ws();
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return {m};
      }
      for (;;) {
        ws();
        if (i_ >= s_.size() || s_[i_] != '"') bad("expected a key");
        std::string k = str();
        ws();
        if (i_ >= s_.size() || s_[i_] != ':') bad("expected ':'");
        ++i_;
        m[k] = value(depth + 1);
        ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') {
          ++i_;
          return {m};
        }
        bad("expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++i_;
      std::vector<Json> a;
      ws();
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return {a};
      }
      for (;;) {
        a.push_back(value(depth + 1));
        ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') {
          ++i_;
          return {a};
        }
        bad("expected ',' or ']'");
      }
    }
    if (c == '"') return {str()};
    if (s_.compare(i_, 4, "true") == 0) {
      i_ += 4;
      return {true};
    }
    if (s_.compare(i_, 5, "false") == 0) {
      i_ += 5;
      return {false};
    }
    if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      return {nullptr};
    }
    size_t end = i_;
    while (end < s_.size() && std::strchr("+-0123456789.eE", s_[end])) ++end;
    if (end == i_) bad("unexpected character");
    double d = 0;
    try {
      d = std::stod(s_.substr(i_, end - i_));
    } catch (const std::exception&) {
      bad("bad number");
    }
    i_ = end;
    return {d};
  }
  std::string str() {
    ++i_;  // opening quote
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) bad("unterminated escape");
      c = s_[i_++];
      switch (c) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) bad("short \\u escape");
          const unsigned cp = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          out += c;
      }
    }
    if (i_ >= s_.size()) bad("unterminated string");
    ++i_;
    return out;
  }
  const std::string& s_;
  size_t i_ = 0;
};

const Json& field(const Json& obj, const std::string& key, const std::string& path) {
  const auto* m = std::get_if<std::map<std::string, Json>>(&obj.v);
  TS_CHECK(m, "manifest: '", path, "' is not an object");
  auto it = m->find(key);
  TS_CHECK(it != m->end(), "manifest: missing field '", path.empty() ? "" : path + ".", key, "'");
  return it->second;
}
std::string get_str(const Json& obj, const std::string& key, const std::string& path = "") {
  const auto* s = std::get_if<std::string>(&field(obj, key, path).v);
  TS_CHECK(s, "manifest: field '", key, "' is not a string");
  return *s;
}
int64_t get_int(const Json& obj, const std::string& key, const std::string& path = "") {
  const auto* d = std::get_if<double>(&field(obj, key, path).v);
  TS_CHECK(d && *d == static_cast<double>(static_cast<int64_t>(*d)), "manifest: field '", key,
           "' is not an integer");
  return static_cast<int64_t>(*d);
}
Shape get_shape(const Json& obj, const std::string& key, const std::string& path = "") {
  const auto* a = std::get_if<std::vector<Json>>(&field(obj, key, path).v);
  TS_CHECK(a, "manifest: field '", key, "' is not an array");
  Shape s;
  for (const Json& j : *a) {
    const auto* d = std::get_if<double>(&j.v);
    TS_CHECK(d && *d >= 0 && *d == static_cast<double>(static_cast<int64_t>(*d)),
             "manifest: field '", key, "' holds a bad dimension");
    s.push_back(static_cast<int64_t>(*d));
  }
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string shape_json(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Sample i of a batch as a [1, ...] tensor.
Tensor sample(const Tensor& t, int64_t i) {
  Shape s = t.shape();
  s[0] = 1;
  Tensor out(t.dtype(), s);
  std::memcpy(out.raw(), static_cast<const std::byte*>(t.raw()) + i * out.nbytes(), out.nbytes());
  return out;
}

Tensor stack(const std::vector<Tensor>& parts) {
  Shape s = parts[0].shape();
  TS_CHECK(!s.empty() && s[0] == 1, "a split output has shape ", shape_str(s),
           "; batching needs a leading batch dimension of 1");
  s[0] = static_cast<int64_t>(parts.size());
  Tensor out(parts[0].dtype(), s);
  for (size_t i = 0; i < parts.size(); ++i)
    std::memcpy(static_cast<std::byte*>(out.raw()) + i * parts[0].nbytes(), parts[i].raw(),
                parts[0].nbytes());
  return out;
}

}  // namespace

std::string manifest_to_json(const SplitManifest& m) {
  std::ostringstream os;
  os << "{\n"
     << "  \"format\": \"teesplit-split\",\n"
     << "  \"version\": 1,\n"
     << "  \"model\": {\"file\": " << quote(m.model_file)
     << ", \"sha256\": " << quote(m.model_sha256) << "},\n"
     << "  \"cut\": {\"index\": " << m.cut_index << ", \"name\": " << quote(m.cut_name)
     << ", \"node\": " << quote(m.cut_node) << "},\n"
     << "  \"input\": {\"name\": " << quote(m.input_name)
     << ", \"shape\": " << shape_json(m.input_shape) << "},\n"
     << "  \"feature\": {\"name\": " << quote(m.feature_name)
     << ", \"shape\": " << shape_json(m.feature_shape) << ", \"dtype\": \"float32\"},\n"
     << "  \"front\": {\"file\": \"front.tsf\", \"sha256\": " << quote(m.front_sha256)
     << ", \"encrypted\": " << (m.encrypted ? "true" : "false")
     << ", \"format_version\": " << m.front_format_version << "},\n"
     << "  \"back\": {\"file\": \"back.onnx\", \"sha256\": " << quote(m.back_sha256) << "}\n"
     << "}\n";
  return os.str();
}

SplitManifest manifest_from_json(const std::string& text) {
  Json j = JsonParser(text).parse();
  TS_CHECK(get_str(j, "format") == "teesplit-split", "manifest: format is not 'teesplit-split'");
  TS_CHECK(get_int(j, "version") == 1, "manifest: unknown version ", get_int(j, "version"));
  SplitManifest m;
  const Json& model = field(j, "model", "");
  m.model_file = get_str(model, "file", "model");
  m.model_sha256 = get_str(model, "sha256", "model");
  const Json& cut = field(j, "cut", "");
  const int64_t idx = get_int(cut, "index", "cut");
  TS_CHECK(idx >= 0 && idx < (int64_t{1} << 30), "manifest: bad cut index ", idx);
  m.cut_index = static_cast<int>(idx);
  m.cut_name = get_str(cut, "name", "cut");
  m.cut_node = get_str(cut, "node", "cut");
  const Json& in = field(j, "input", "");
  m.input_name = get_str(in, "name", "input");
  m.input_shape = get_shape(in, "shape", "input");
  const Json& feat = field(j, "feature", "");
  m.feature_name = get_str(feat, "name", "feature");
  m.feature_shape = get_shape(feat, "shape", "feature");
  const Json& front = field(j, "front", "");
  m.front_sha256 = get_str(front, "sha256", "front");
  const auto* enc = std::get_if<bool>(&field(front, "encrypted", "front").v);
  TS_CHECK(enc, "manifest: front.encrypted is not a boolean");
  m.encrypted = *enc;
  m.front_format_version = static_cast<uint32_t>(get_int(front, "format_version", "front"));
  m.back_sha256 = get_str(field(j, "back", ""), "sha256", "back");
  return m;
}

Graph specialize_for_cuts(const Graph& model) {
  return specialize(model, default_input_shapes(model, 1));
}

Graph batchable_back_partition(const Graph& model, const Graph& g1, const Cut& cut) {
  Graph back = back_partition(g1, cut);
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
    probe_back = back_partition(g97, resolve_cut(g97, cut.name));
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

SplitManifest write_split(const std::string& model_path, const std::string& cut_spec,
                          const std::string& out_dir, const FrontKey* key) {
  auto loaded = load_onnx(model_path);
  if (!loaded) fail(loaded.error());
  const Graph g = specialize_for_cuts(loaded.value());
  TS_CHECK(g.inputs.size() == 1, "the model has ", g.inputs.size(),
           " inputs; split handles models with one input");
  const Cut cut = resolve_cut(g, cut_spec);
  Graph front = front_partition(g, cut);
  Graph back = batchable_back_partition(loaded.value(), g, cut);
  front.metadata["teesplit.cut"] = cut.name;
  back.metadata["teesplit.cut"] = cut.name;

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  TS_CHECK(!ec, "cannot create directory '", out_dir, "': ", ec.message());
  const std::string front_bytes = serialize_front(front, key);
  const std::string back_bytes = export_onnx(back);
  write_all((fs::path(out_dir) / "front.tsf").string(), front_bytes);
  write_all((fs::path(out_dir) / "back.onnx").string(), back_bytes);

  SplitManifest m;
  m.cut_index = cut.index;
  m.cut_name = cut.name;
  m.cut_node = g.nodes[static_cast<size_t>(cut.index)].name;
  m.input_name = g.value(g.inputs[0]).name;
  m.input_shape = g.value(g.inputs[0]).shape;
  m.feature_name = g.value(cut.feature).name;
  m.feature_shape = g.value(cut.feature).shape;
  m.model_file = model_path;
  m.model_sha256 = sha256_file_hex(model_path);
  m.front_sha256 = sha256_hex(front_bytes.data(), front_bytes.size());
  m.back_sha256 = sha256_hex(back_bytes.data(), back_bytes.size());
  m.encrypted = key != nullptr;
  write_all((fs::path(out_dir) / "manifest.json").string(), manifest_to_json(m));
  return m;
}

SplitRunner::SplitRunner(Graph front, Graph back, const SplitRunOptions& opts)
    : front_(std::move(front)),
      front_backend_(make_backend(opts.front_backend)),
      back_backend_(make_backend(opts.back_backend)) {
  TS_CHECK(front_.inputs.size() == 1 && front_.outputs.size() == 1,
           "the front partition must have one input and one output, it has ", front_.inputs.size(),
           " and ", front_.outputs.size());
  TS_CHECK(back.inputs.size() == 1, "the back partition must have one input, it has ",
           back.inputs.size());
  const Value& feat = front_.value(front_.outputs[0]);
  const Value& back_in = back.value(back.inputs[0]);
  TS_CHECK(feat.name == back_in.name && feat.dtype == back_in.dtype, "front output '", feat.name,
           "' does not feed the back partition, whose input is '", back_in.name, "'");
  back_src_ = back;
  back_ = specialize(back, {feat.shape});
  CompileOptions co;
  co.threads = threads_ = opts.threads;
  co.tf32 = tf32_ = opts.tf32;
  batch_back_ = opts.batch_back;
  front_exe_ = front_backend_->compile(front_, co);
  back_exe_ = back_backend_->compile(back_, co);
  manifest_.feature_name = feat.name;
  manifest_.feature_shape = feat.shape;
  manifest_.input_name = front_.value(front_.inputs[0]).name;
  manifest_.input_shape = front_.value(front_.inputs[0]).shape;
}

Result<std::unique_ptr<SplitRunner>> SplitRunner::open(const std::string& dir,
                                                       const SplitRunOptions& opts) {
  return capture([&]() -> std::unique_ptr<SplitRunner> {
    const std::string mpath = (fs::path(dir) / "manifest.json").string();
    const std::string fpath = (fs::path(dir) / "front.tsf").string();
    const std::string bpath = (fs::path(dir) / "back.onnx").string();
    SplitManifest m;
    try {
      m = manifest_from_json(read_all(mpath));
    } catch (const Error& e) {
      fail(mpath, ": ", e.what());
    }
    TS_CHECK(m.front_format_version == kFrontFormatVersion, mpath, ": front format version ",
             m.front_format_version, " is not supported");
    if (!opts.model_path.empty())
      TS_CHECK(sha256_file_hex(opts.model_path) == m.model_sha256, opts.model_path,
               ": SHA-256 differs from the model this split was made from (", mpath, ")");
    const std::string front_bytes = read_all(fpath);
    TS_CHECK(sha256_hex(front_bytes.data(), front_bytes.size()) == m.front_sha256, fpath,
             ": SHA-256 does not match ", mpath);
    const std::string back_bytes = read_all(bpath);
    TS_CHECK(sha256_hex(back_bytes.data(), back_bytes.size()) == m.back_sha256, bpath,
             ": SHA-256 does not match ", mpath);
    TS_CHECK(!m.encrypted || opts.key, fpath, ": the front partition is encrypted; give its key");
    auto front = parse_front(front_bytes, m.encrypted ? opts.key : nullptr, fpath);
    if (!front) fail(front.error());
    auto back = parse_onnx(back_bytes, dir, bpath);
    if (!back) fail(back.error());
    auto runner =
        std::make_unique<SplitRunner>(std::move(front).value(), std::move(back).value(), opts);
    TS_CHECK(runner->manifest_.feature_shape == m.feature_shape, mpath, ": feature shape ",
             shape_str(m.feature_shape), " differs from the front's output ",
             shape_str(runner->manifest_.feature_shape));
    runner->manifest_ = m;
    return runner;
  });
}

Tensor SplitRunner::run_front(const Tensor& input) {
  std::vector<Tensor> out = front_exe_->run({input});
  TS_CHECK(out.size() == 1, "the front partition returned ", out.size(), " outputs");
  return out[0];
}

std::vector<Tensor> SplitRunner::run_back(const Tensor& feature) {
  return back_exe_->run({feature});
}

Executable* SplitRunner::batched_back(const std::vector<Tensor>& features,
                                      std::vector<Tensor>* out) {
  const int64_t n = static_cast<int64_t>(features.size());
  auto it = batched_.find(n);
  if (it != batched_.end()) {
    if (it->second) *out = it->second->run({stack(features)});
    return it->second.get();
  }
  // One executable (and, on a GPU, one arena) per batch size: keep a few.
  if (batched_.size() >= 8) batched_.clear();
  std::unique_ptr<Executable> exe;
  if (features[0].shape().empty() || features[0].dim(0) != 1) {  // no batch dimension
    batched_[n] = nullptr;
    return nullptr;
  }
  try {
    Graph g = back_src_;
    Value& in = g.value(g.inputs[0]);
    in.shape[0] = -1;  // the file's partition has batch 1 there
    Shape s = features[0].shape();
    s[0] = n;
    const Graph spec = specialize(g, {s});
    bool leading_n = true;
    for (int o : spec.outputs) {
      const Shape& os = spec.value(o).shape;
      leading_n = leading_n && !os.empty() && os[0] == n;
    }
    if (leading_n) {
      CompileOptions co;
      co.threads = threads_;
      co.tf32 = tf32_;
      exe = back_backend_->compile(spec, co);
      std::vector<Tensor> got = exe->run({stack(features)});
      const std::vector<Tensor> want = back_exe_->run({features[0]});
      bool same = got.size() == want.size();
      for (size_t k = 0; same && k < got.size(); ++k)
        same = max_relative_error(sample(got[k], 0), want[k]) <= (tf32_ ? 1e-2 : 1e-4);
      if (same)
        *out = std::move(got);
      else
        exe.reset();
    }
  } catch (const Error&) {
    exe.reset();  // not batchable (a shape baked in at batch 1): sample by sample
  }
  Executable* p = exe.get();
  batched_[n] = std::move(exe);
  return p;
}

std::vector<Tensor> SplitRunner::run(const Tensor& input) {
  const Shape& in_shape = front_.value(front_.inputs[0]).shape;
  if (input.shape() == in_shape) return run_back(run_front(input));
  Shape per = input.shape();
  TS_CHECK(!per.empty() && !in_shape.empty() && in_shape[0] == 1 && per.size() == in_shape.size(),
           "input has shape ", shape_str(input.shape()), ", the front partition takes ",
           shape_str(in_shape));
  per[0] = 1;
  TS_CHECK(per == in_shape, "input has shape ", shape_str(input.shape()),
           ", the front partition takes ", shape_str(in_shape), " per sample");
  std::vector<Tensor> features;
  for (int64_t i = 0; i < input.dim(0); ++i) features.push_back(run_front(sample(input, i)));
  std::vector<Tensor> result;
  if (batch_back_ && batched_back(features, &result)) return result;
  std::vector<std::vector<Tensor>> outs;
  for (const Tensor& f : features) {
    std::vector<Tensor> o = run_back(f);
    if (outs.empty()) outs.resize(o.size());
    for (size_t k = 0; k < o.size(); ++k) outs[k].push_back(std::move(o[k]));
  }
  for (auto& parts : outs) result.push_back(stack(parts));
  return result;
}

std::vector<CutProfile> profile_cuts(const Graph& g, BackendKind kind, int threads) {
  std::unique_ptr<Backend> backend = make_backend(kind);
  CompileOptions co;
  co.threads = threads;
  std::vector<CutProfile> out;
  for (const Cut& c : enumerate_cuts(g)) {
    CutProfile p;
    p.cut = c;
    p.stats = cut_stats(g, c);
    const Graph front = front_partition(g, c);
    const RunStats st = backend->compile(front, co)->stats();
    p.front_weight_bytes = st.weight_bytes;
    p.front_activation_bytes = st.peak_activation_bytes;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace teesplit
