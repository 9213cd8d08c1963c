#include "partition/front_file.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <memory>

#include "core/file.h"
#include "graph/passes.h"
#include "graph/precision.h"
#include "ops/op.h"

namespace teesplit {
namespace {

constexpr uint8_t kMagic[8] = {0x89, 'T', 'S', 'F', '\r', '\n', 0x1a, '\n'};
constexpr uint32_t kFlagEncrypted = 1u;
constexpr uint32_t kFlagBf16Weights = 2u;  // version 2 on
constexpr uint32_t kKnownFlagsV1 = kFlagEncrypted;
constexpr uint32_t kKnownFlags = kFlagEncrypted | kFlagBf16Weights;
// Tensor-table dtype code of bfloat16 storage (version 2 with the bf16 flag);
// the value it backs is float32 in the graph.
constexpr uint32_t kBf16Code = 5;
constexpr size_t kContentHeaderSize = 64;
constexpr size_t kTensorEntrySize = 88;
constexpr size_t kMaxRank = 8;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kDataAlign = 64;

// Dtype codes on disk (docs/front-file-format.md).
uint8_t dtype_code(DType t) {
  switch (t) {
    case DType::F32:
      return 0;
    case DType::I64:
      return 1;
    case DType::I32:
      return 2;
    case DType::U8:
      return 3;
    case DType::Bool:
      return 4;
  }
  fail("unknown dtype");
}

bool dtype_from_code(uint32_t c, DType* out) {
  static const DType table[] = {DType::F32, DType::I64, DType::I32, DType::U8, DType::Bool};
  if (c >= std::size(table)) return false;
  *out = table[c];
  return true;
}

enum AttrKind : uint8_t { kInt = 1, kFloat = 2, kString = 3, kInts = 4, kFloats = 5, kTensor = 6 };

// OpenSSL failures name the call and the library's reason.
[[noreturn]] void ssl_fail(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "no reason given";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  fail("OpenSSL ", what, " failed: ", buf);
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::array<uint8_t, 32> sha256(const void* data, size_t size) {
  std::array<uint8_t, 32> md{};
  unsigned int len = 0;
  if (EVP_Digest(data, size, md.data(), &len, EVP_sha256(), nullptr) != 1 || len != 32)
    ssl_fail("EVP_Digest(SHA-256)");
  return md;
}

// ---- writing ----

class Writer {
 public:
  std::string buf;
  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
    buf.append(b, sizeof(T));
  }
  void put_str(const std::string& s) {
    TS_CHECK(s.size() <= std::numeric_limits<uint32_t>::max(), "string too long");
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    buf += s;
  }
  void pad_to(size_t align) {
    while (buf.size() % align) buf.push_back('\0');
  }
  template <class T>
  void patch(size_t at, T v) {
    std::memcpy(&buf[at], &v, sizeof(T));
  }
};

std::string serialize_content(const Graph& g, bool bf16_weights) {
  std::vector<const Tensor*> tensors;
  std::vector<char> as_bf16;  // per tensor: stored as bfloat16
  std::vector<char> bf16_value(g.values.size(), 0);
  if (bf16_weights)
    for (const Node& n : g.nodes) {
      const int w = bf16_weight_value(g, n);
      if (w >= 0) bf16_value[static_cast<size_t>(w)] = 1;
    }
  std::vector<int32_t> value_tensor(g.values.size(), -1);
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].constant) {
      value_tensor[i] = static_cast<int32_t>(tensors.size());
      tensors.push_back(&*g.values[i].constant);
      as_bf16.push_back(bf16_value[i]);
    }
  // Attribute tensors follow the value tensors, in node order.
  std::vector<std::vector<int32_t>> attr_tensor(g.nodes.size());
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (const auto& [name, a] : g.nodes[k].attrs.all())
      if (const Tensor* t = std::get_if<Tensor>(&a)) {
        attr_tensor[k].push_back(static_cast<int32_t>(tensors.size()));
        tensors.push_back(t);
        as_bf16.push_back(0);
      }

  Writer gs;  // graph section
  gs.put_str(g.name);
  for (const Value& v : g.values) {
    TS_CHECK(shape_known(v.shape) || v.constant, "value '", v.name,
             "' has an unknown shape; write a specialised graph");
    TS_CHECK(v.shape.size() <= kMaxRank, "value '", v.name, "' has rank ", v.shape.size(),
             " (at most ", kMaxRank, ")");
    gs.put_str(v.name);
    gs.put<uint8_t>(dtype_code(v.dtype));
    gs.put<uint8_t>(static_cast<uint8_t>(v.shape.size()));
    for (int64_t d : v.shape) gs.put<int64_t>(d);
    gs.put<int32_t>(value_tensor[static_cast<size_t>(&v - g.values.data())]);
  }
  for (int id : g.inputs) gs.put<int32_t>(id);
  for (int id : g.outputs) gs.put<int32_t>(id);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    gs.put_str(n.name);
    gs.put_str(n.op);
    gs.put<uint32_t>(static_cast<uint32_t>(n.inputs.size()));
    for (int id : n.inputs) gs.put<int32_t>(id);
    gs.put<uint32_t>(static_cast<uint32_t>(n.outputs.size()));
    for (int id : n.outputs) gs.put<int32_t>(id);
    gs.put<uint32_t>(static_cast<uint32_t>(n.attrs.all().size()));
    size_t ti = 0;
    for (const auto& [name, a] : n.attrs.all()) {
      gs.put_str(name);
      if (auto* i = std::get_if<int64_t>(&a)) {
        gs.put<uint8_t>(kInt);
        gs.put<int64_t>(*i);
      } else if (auto* f = std::get_if<float>(&a)) {
        gs.put<uint8_t>(kFloat);
        gs.put<float>(*f);
      } else if (auto* s = std::get_if<std::string>(&a)) {
        gs.put<uint8_t>(kString);
        gs.put_str(*s);
      } else if (auto* is = std::get_if<std::vector<int64_t>>(&a)) {
        gs.put<uint8_t>(kInts);
        gs.put<uint32_t>(static_cast<uint32_t>(is->size()));
        for (int64_t x : *is) gs.put<int64_t>(x);
      } else if (auto* fs = std::get_if<std::vector<float>>(&a)) {
        gs.put<uint8_t>(kFloats);
        gs.put<uint32_t>(static_cast<uint32_t>(fs->size()));
        for (float x : *fs) gs.put<float>(x);
      } else {
        gs.put<uint8_t>(kTensor);
        gs.put<int32_t>(attr_tensor[k][ti++]);
      }
    }
  }

  Writer w;
  w.put<uint32_t>(static_cast<uint32_t>(tensors.size()));
  w.put<uint32_t>(static_cast<uint32_t>(g.values.size()));
  w.put<uint32_t>(static_cast<uint32_t>(g.nodes.size()));
  w.put<uint32_t>(static_cast<uint32_t>(g.inputs.size()));
  w.put<uint32_t>(static_cast<uint32_t>(g.outputs.size()));
  w.put<uint32_t>(static_cast<uint32_t>(g.opset));
  const size_t table_offset = kContentHeaderSize;
  const size_t graph_offset = table_offset + tensors.size() * kTensorEntrySize;
  size_t data_offset = graph_offset + gs.buf.size();
  data_offset = (data_offset + kDataAlign - 1) / kDataAlign * kDataAlign;
  size_t data_size = 0;
  std::vector<size_t> offsets, stored;  // stored: bytes on disk
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor* t = tensors[i];
    stored.push_back(as_bf16[i] ? static_cast<size_t>(t->numel()) * 2 : t->nbytes());
    offsets.push_back(data_size);
    data_size += (stored.back() + kDataAlign - 1) / kDataAlign * kDataAlign;
  }
  w.put<uint64_t>(table_offset);
  w.put<uint64_t>(graph_offset);
  w.put<uint64_t>(gs.buf.size());
  w.put<uint64_t>(data_offset);
  w.put<uint64_t>(data_size);
  TS_CHECK(w.buf.size() == kContentHeaderSize, "internal: content header size");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = *tensors[i];
    TS_CHECK(t.shape().size() <= kMaxRank, "a constant has rank ", t.shape().size());
    w.put<uint32_t>(as_bf16[i] ? kBf16Code : dtype_code(t.dtype()));
    w.put<uint32_t>(static_cast<uint32_t>(t.shape().size()));
    w.put<uint64_t>(offsets[i]);
    w.put<uint64_t>(stored[i]);
    for (size_t d = 0; d < kMaxRank; ++d) w.put<int64_t>(d < t.shape().size() ? t.shape()[d] : 0);
  }
  w.buf += gs.buf;
  w.pad_to(kDataAlign);
  TS_CHECK(w.buf.size() == data_offset, "internal: data offset");
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (as_bf16[i]) {
      const float* f = tensors[i]->data<float>();
      for (int64_t j = 0; j < tensors[i]->numel(); ++j) w.put<uint16_t>(float_to_bf16(f[j]));
    } else {
      w.buf.append(static_cast<const char*>(tensors[i]->raw()), tensors[i]->nbytes());
    }
    w.pad_to(kDataAlign);
  }
  TS_CHECK(w.buf.size() == data_offset + data_size, "internal: data size");
  return std::move(w.buf);
}

std::string seal(const std::string& content, const std::string& header, const FrontKey& key) {
  uint8_t nonce[kNonceSize];
  if (RAND_bytes(nonce, sizeof nonce) != 1) ssl_fail("RAND_bytes");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) ssl_fail("EVP_CIPHER_CTX_new");
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1)
    ssl_fail("EVP_EncryptInit_ex(AES-256-GCM)");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1)
    ssl_fail("EVP_CTRL_GCM_SET_IVLEN");
  if (EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce) != 1)
    ssl_fail("EVP_EncryptInit_ex(key)");
  int len = 0;
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(header.data()),
                        static_cast<int>(header.size())) != 1)
    ssl_fail("EVP_EncryptUpdate(AAD)");
  std::string out(reinterpret_cast<const char*>(nonce), kNonceSize);
  out.resize(kNonceSize + content.size() + kTagSize);
  auto* dst = reinterpret_cast<uint8_t*>(&out[kNonceSize]);
  size_t done = 0;
  while (done < content.size()) {  // EVP lengths are int: go in chunks
    const int chunk = static_cast<int>(std::min<size_t>(content.size() - done, 1 << 30));
    if (EVP_EncryptUpdate(ctx.get(), dst + done, &len,
                          reinterpret_cast<const uint8_t*>(content.data()) + done, chunk) != 1)
      ssl_fail("EVP_EncryptUpdate");
    done += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx.get(), dst + done, &len) != 1) ssl_fail("EVP_EncryptFinal_ex");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, dst + content.size()) != 1)
    ssl_fail("EVP_CTRL_GCM_GET_TAG");
  return out;
}

// ---- reading ----

uint32_t rd_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t rd_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Bounds-checked cursor over the graph section; errors name the content offset.
class Reader {
 public:
  Reader(const uint8_t* base, size_t begin, size_t end) : base_(base), pos_(begin), end_(end) {}
  size_t pos() const { return pos_; }
  void need(size_t n, const char* what) {
    TS_CHECK(n <= end_ - pos_, "graph section: ", what, " at content offset ", pos_, " needs ", n,
             " bytes, only ", end_ - pos_, " left");
  }
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string get_str(const char* what) {
    const uint32_t len = get<uint32_t>(what);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }
  // A count of items of at least `min_item` bytes each, bounded by what is left.
  uint32_t get_count(const char* what, size_t min_item) {
    const size_t at = pos_;
    const uint32_t n = get<uint32_t>(what);
    TS_CHECK(static_cast<uint64_t>(n) * min_item <= end_ - pos_, "graph section: ", what, " count ",
             n, " at content offset ", at, " exceeds the section");
    return n;
  }
  bool at_end() const { return pos_ == end_; }

 private:
  const uint8_t* base_;
  size_t pos_, end_;
};

struct TensorEntry {
  DType dtype;
  Shape shape;
  uint64_t offset, nbytes;
  bool bf16 = false;  // stored as bfloat16, widened to float32 (dtype F32)
};

bool region_ok(uint64_t off, uint64_t size, uint64_t limit) {
  return off <= limit && size <= limit - off;
}

}  // namespace

uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0)
    return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN stays a (quiet) NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

Graph parse_front_content(const uint8_t* data, size_t size, bool allow_bf16, size_t* bf16_bytes) {
  if (bf16_bytes) *bf16_bytes = 0;
  TS_CHECK(size >= kContentHeaderSize, "content is ", size, " bytes, shorter than its ",
           kContentHeaderSize, "-byte header");
  const uint32_t n_tensors = rd_u32(data + 0);
  const uint32_t n_values = rd_u32(data + 4);
  const uint32_t n_nodes = rd_u32(data + 8);
  const uint32_t n_inputs = rd_u32(data + 12);
  const uint32_t n_outputs = rd_u32(data + 16);
  const uint32_t opset = rd_u32(data + 20);
  const uint64_t table_offset = rd_u64(data + 24);
  const uint64_t graph_offset = rd_u64(data + 32);
  const uint64_t graph_size = rd_u64(data + 40);
  const uint64_t data_offset = rd_u64(data + 48);
  const uint64_t data_size = rd_u64(data + 56);
  TS_CHECK(region_ok(table_offset, static_cast<uint64_t>(n_tensors) * kTensorEntrySize, size),
           "tensor table (", n_tensors, " entries at content offset ", table_offset,
           ") lies outside the content (", size, " bytes)");
  TS_CHECK(region_ok(graph_offset, graph_size, size), "graph section [", graph_offset, ", +",
           graph_size, ") lies outside the content (", size, " bytes)");
  TS_CHECK(region_ok(data_offset, data_size, size), "data region [", data_offset, ", +", data_size,
           ") lies outside the content (", size, " bytes)");
  TS_CHECK(opset >= 1 && opset <= 1000, "opset ", opset, " is not plausible");

  // Tensor table.
  std::vector<TensorEntry> entries(n_tensors);
  for (uint32_t i = 0; i < n_tensors; ++i) {
    const size_t at = table_offset + static_cast<size_t>(i) * kTensorEntrySize;
    const uint8_t* p = data + at;
    TensorEntry& e = entries[i];
    if (rd_u32(p) == kBf16Code) {
      TS_CHECK(
          allow_bf16, "tensor ", i, " (content offset ", at,
          "): bfloat16 data (dtype code 5) in a file without the bf16 flag (header offset 12)");
      e.dtype = DType::F32;
      e.bf16 = true;
    } else {
      TS_CHECK(dtype_from_code(rd_u32(p), &e.dtype), "tensor ", i, " (content offset ", at,
               "): unknown dtype code ", rd_u32(p));
    }
    const uint32_t rank = rd_u32(p + 4);
    TS_CHECK(rank <= kMaxRank, "tensor ", i, " (content offset ", at, "): rank ", rank, " exceeds ",
             kMaxRank);
    e.offset = rd_u64(p + 8);
    e.nbytes = rd_u64(p + 16);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      const int64_t dim = static_cast<int64_t>(rd_u64(p + 24 + 8 * d));
      TS_CHECK(dim >= 0 && dim <= (int64_t{1} << 40), "tensor ", i, " (content offset ", at,
               "): dimension ", d, " is ", dim);
      TS_CHECK(dim == 0 || numel <= (uint64_t{1} << 48) / static_cast<uint64_t>(dim), "tensor ", i,
               " (content offset ", at, "): element count overflows");
      numel *= static_cast<uint64_t>(dim);
      e.shape.push_back(dim);
    }
    const uint64_t elem = e.bf16 ? 2 : dtype_size(e.dtype);
    TS_CHECK(e.nbytes == numel * elem, "tensor ", i, " (content offset ", at, "): holds ", e.nbytes,
             " bytes, its shape ", shape_str(e.shape), " of ",
             e.bf16 ? std::string_view("bfloat16") : dtype_name(e.dtype), " needs ", numel * elem);
    if (e.bf16 && bf16_bytes) *bf16_bytes += e.nbytes;
    TS_CHECK(region_ok(e.offset, e.nbytes, data_size), "tensor ", i, " (content offset ", at,
             "): data [", e.offset, ", +", e.nbytes, ") lies outside the data region (", data_size,
             " bytes at content offset ", data_offset, ")");
  }
  auto load_tensor = [&](int32_t idx, const std::string& what) {
    TS_CHECK(idx >= 0 && static_cast<uint32_t>(idx) < n_tensors, what, ": tensor index ", idx,
             " out of range (", n_tensors, " tensors)");
    const TensorEntry& e = entries[static_cast<size_t>(idx)];
    Tensor t(e.dtype, e.shape);
    if (e.bf16) {
      const uint8_t* src = data + data_offset + e.offset;
      float* dst = t.data<float>();
      for (uint64_t j = 0; j < e.nbytes / 2; ++j) {
        uint16_t b;
        std::memcpy(&b, src + 2 * j, 2);
        dst[j] = bf16_to_float(b);
      }
    } else if (e.nbytes) {
      std::memcpy(t.raw(), data + data_offset + e.offset, e.nbytes);
    }
    if (e.dtype == DType::Bool) {  // only 0/1 are valid bools
      auto* b = static_cast<uint8_t*>(t.raw());
      for (uint64_t j = 0; j < e.nbytes; ++j) b[j] = b[j] ? 1 : 0;
    }
    return t;
  };

  // Graph section.
  Reader r(data, graph_offset, graph_offset + graph_size);
  Graph g;
  g.opset = opset;
  g.name = r.get_str("graph name");
  TS_CHECK(static_cast<uint64_t>(n_values) * 10 <= graph_size &&
               static_cast<uint64_t>(n_nodes) * 20 <= graph_size &&
               (static_cast<uint64_t>(n_inputs) + n_outputs) * 4 <= graph_size,
           "counts (", n_values, " values, ", n_nodes, " nodes, ", n_inputs, " inputs, ", n_outputs,
           " outputs) do not fit the ", graph_size, "-byte graph section");
  std::vector<char> used_tensor(n_tensors, 0);
  for (uint32_t i = 0; i < n_values; ++i) {
    const size_t at = r.pos();
    Value v;
    v.name = r.get_str("value name");
    TS_CHECK(!v.name.empty(), "value ", i, " (content offset ", at, ") has no name");
    TS_CHECK(g.find_value(v.name) < 0, "value ", i, " (content offset ", at, "): duplicate name '",
             v.name, "'");
    const uint8_t code = r.get<uint8_t>("value dtype");
    TS_CHECK(dtype_from_code(code, &v.dtype), "value '", v.name, "': unknown dtype code ", +code);
    const uint8_t rank = r.get<uint8_t>("value rank");
    TS_CHECK(rank <= kMaxRank, "value '", v.name, "': rank ", +rank, " exceeds ", kMaxRank);
    for (uint8_t d = 0; d < rank; ++d) {
      const int64_t dim = r.get<int64_t>("value dimension");
      TS_CHECK(dim >= 0 && dim <= (int64_t{1} << 40), "value '", v.name, "': dimension ", +d,
               " is ", dim);
      v.shape.push_back(dim);
    }
    const int32_t ti = r.get<int32_t>("value tensor index");
    if (ti != -1) {
      v.constant = load_tensor(ti, "value '" + v.name + "'");
      TS_CHECK(!used_tensor[static_cast<size_t>(ti)], "value '", v.name, "': tensor ", ti,
               " is used twice");
      used_tensor[static_cast<size_t>(ti)] = 1;
      TS_CHECK(v.constant->dtype() == v.dtype && v.constant->shape() == v.shape, "value '", v.name,
               "' is declared ", dtype_name(v.dtype), shape_str(v.shape), " but its tensor is ",
               dtype_name(v.constant->dtype()), shape_str(v.constant->shape()));
    } else {
      // Bound the activation a value may ask the backend to allocate.
      TS_CHECK(shape_numel(v.shape) <= (int64_t{1} << 30), "value '", v.name, "' has shape ",
               shape_str(v.shape), ", larger than a front partition may use");
    }
    g.add_value(std::move(v));
  }
  auto value_id = [&](int32_t id, const std::string& what, bool optional) {
    if (optional && id == -1) return -1;
    TS_CHECK(id >= 0 && static_cast<uint32_t>(id) < n_values, what, ": value id ", id,
             " out of range (", n_values, " values)");
    return static_cast<int>(id);
  };
  for (uint32_t i = 0; i < n_inputs; ++i) {
    const int id = value_id(r.get<int32_t>("input id"), "graph input", false);
    TS_CHECK(!g.value(id).constant, "graph input '", g.value(id).name, "' is a constant");
    g.inputs.push_back(id);
  }
  for (uint32_t i = 0; i < n_outputs; ++i)
    g.outputs.push_back(value_id(r.get<int32_t>("output id"), "graph output", false));
  std::vector<int32_t> attr_tensors;
  for (uint32_t k = 0; k < n_nodes; ++k) {
    const size_t at = r.pos();
    Node n;
    n.name = r.get_str("node name");
    n.op = r.get_str("node op");
    const std::string where = "node " + std::to_string(k) + " '" + n.name + "' (" + n.op +
                              ", content offset " + std::to_string(at) + ")";
    TS_CHECK(find_op(n.op), where, ": unsupported operator");
    const uint32_t nin = r.get_count("node inputs", 4);
    for (uint32_t i = 0; i < nin; ++i)
      n.inputs.push_back(value_id(r.get<int32_t>("node input"), where, true));
    const uint32_t nout = r.get_count("node outputs", 4);
    for (uint32_t i = 0; i < nout; ++i)
      n.outputs.push_back(value_id(r.get<int32_t>("node output"), where, true));
    const uint32_t nattr = r.get_count("node attributes", 5);
    for (uint32_t i = 0; i < nattr; ++i) {
      const std::string name = r.get_str("attribute name");
      TS_CHECK(!n.attrs.has(name), where, ": attribute '", name, "' appears twice");
      const uint8_t kind = r.get<uint8_t>("attribute kind");
      switch (kind) {
        case kInt:
          n.attrs.set(name, r.get<int64_t>("int attribute"));
          break;
        case kFloat:
          n.attrs.set(name, r.get<float>("float attribute"));
          break;
        case kString:
          n.attrs.set(name, r.get_str("string attribute"));
          break;
        case kInts: {
          const uint32_t c = r.get_count("ints attribute", 8);
          std::vector<int64_t> v(c);
          for (auto& x : v) x = r.get<int64_t>("ints attribute");
          n.attrs.set(name, std::move(v));
          break;
        }
        case kFloats: {
          const uint32_t c = r.get_count("floats attribute", 4);
          std::vector<float> v(c);
          for (auto& x : v) x = r.get<float>("floats attribute");
          n.attrs.set(name, std::move(v));
          break;
        }
        case kTensor: {
          const int32_t ti = r.get<int32_t>("tensor attribute");
          n.attrs.set(name, load_tensor(ti, where + " attribute '" + name + "'"));
          TS_CHECK(!used_tensor[static_cast<size_t>(ti)], where, ": tensor ", ti, " is used twice");
          used_tensor[static_cast<size_t>(ti)] = 1;
          break;
        }
        default:
          fail(where, ": attribute '", name, "' has unknown kind ", +kind);
      }
    }
    g.nodes.push_back(std::move(n));
  }
  TS_CHECK(r.at_end(), "graph section has ", graph_offset + graph_size - r.pos(),
           " unread bytes at content offset ", r.pos());
  TS_CHECK(!g.inputs.empty() && !g.outputs.empty(), "the partition has no inputs or no outputs");
  g.validate();

  // Every stored shape must be what shape inference derives from the inputs:
  // the backends size their buffers from these shapes.
  Graph check = g;
  try {
    infer_shapes(check, false);
  } catch (const Error& e) {
    fail("shape check: ", e.what());
  }
  for (const Node& n : g.nodes)
    for (int out : n.outputs) {
      if (out < 0) continue;
      const Value& a = g.value(out);
      const Value& b = check.value(out);
      TS_CHECK(a.dtype == b.dtype && a.shape == b.shape, "node '", n.name, "' (", n.op,
               "): output '", a.name, "' is stored as ", dtype_name(a.dtype), shape_str(a.shape),
               " but its inputs give ", dtype_name(b.dtype), shape_str(b.shape));
    }
  return g;
}

std::string serialize_front(const Graph& g, const FrontKey* key, bool bf16_weights) {
  g.validate();
  std::string content = serialize_content(g, bf16_weights);
  Writer h;
  h.buf.append(reinterpret_cast<const char*>(kMagic), sizeof kMagic);
  h.put<uint32_t>(bf16_weights ? kFrontFormatVersion : kFrontFormatVersionFp32);
  h.put<uint32_t>((key ? kFlagEncrypted : 0u) | (bf16_weights ? kFlagBf16Weights : 0u));
  h.put<uint32_t>(dtype_code(DType::F32));
  h.put<uint32_t>(static_cast<uint32_t>(kFrontHeaderSize));
  const size_t body_size = key ? kNonceSize + content.size() + kTagSize : content.size();
  h.put<uint64_t>(body_size);
  // The hash covers the body as stored; placeholder until the body exists.
  h.buf.append(32, '\0');
  TS_CHECK(h.buf.size() == kFrontHeaderSize, "internal: header size");
  std::string body;
  if (key) {
    // The AAD is the header with a zero hash field (the hash depends on the body).
    body = seal(content, h.buf, *key);
    OPENSSL_cleanse(content.data(), content.size());
  } else {
    body = std::move(content);
  }
  auto md = sha256(body.data(), body.size());
  std::memcpy(&h.buf[32], md.data(), md.size());
  return h.buf + body;
}

Result<Graph> parse_front(const std::string& bytes, const FrontKey* key, const std::string& origin,
                          FrontFileInfo* info) {
  return capture([&]() -> Graph {
    try {
      const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
      const size_t size = bytes.size();
      TS_CHECK(size >= kFrontHeaderSize, "not a front file: ", size, " bytes, shorter than the ",
               kFrontHeaderSize, "-byte header");
      TS_CHECK(std::memcmp(p, kMagic, sizeof kMagic) == 0,
               "not a front file: wrong magic at offset 0");
      const uint32_t version = rd_u32(p + 8);
      TS_CHECK(version >= kFrontFormatVersionFp32 && version <= kFrontFormatVersion,
               "unknown format version ", version, " at offset 8 (this reader knows versions ",
               kFrontFormatVersionFp32, " to ", kFrontFormatVersion, ")");
      const uint32_t flags = rd_u32(p + 12);
      const uint32_t known = version >= 2 ? kKnownFlags : kKnownFlagsV1;
      TS_CHECK((flags & ~known) == 0, "unknown flags 0x", std::hex, flags & ~known, std::dec,
               " at offset 12 (format version ", version, ")");
      const bool bf16 = flags & kFlagBf16Weights;
      if (info) {
        info->version = version;
        info->encrypted = flags & kFlagEncrypted;
        info->bf16_weights = bf16;
      }
      size_t* bf16_bytes = info ? &info->bf16_tensor_bytes : nullptr;
      const uint32_t dtype = rd_u32(p + 16);
      TS_CHECK(dtype == dtype_code(DType::F32), "dtype code ", dtype,
               " at offset 16 is not supported (0 = float32)");
      const uint32_t header_size = rd_u32(p + 20);
      TS_CHECK(header_size == kFrontHeaderSize, "header size ", header_size,
               " at offset 20 (expected ", kFrontHeaderSize, ")");
      const uint64_t body_size = rd_u64(p + 24);
      TS_CHECK(body_size <= size - kFrontHeaderSize, "file is truncated: the header announces ",
               body_size, " body bytes, ", size - kFrontHeaderSize, " follow it");
      TS_CHECK(body_size == size - kFrontHeaderSize, "file has ",
               size - kFrontHeaderSize - body_size, " trailing bytes after its ", body_size,
               "-byte body");
      const bool encrypted = flags & kFlagEncrypted;
      TS_CHECK(!encrypted || key, "the file is encrypted (flag at offset 12); a key is needed");
      TS_CHECK(encrypted || !key,
               "a key was given but the file is not encrypted; refusing an unsealed file");
      const uint8_t* body = p + kFrontHeaderSize;
      auto md = sha256(body, body_size);
      TS_CHECK(CRYPTO_memcmp(md.data(), p + 32, 32) == 0,
               "content hash mismatch (SHA-256 at offset 32): the file is corrupt or was modified");
      if (!encrypted) return parse_front_content(body, body_size, bf16, bf16_bytes);

      TS_CHECK(body_size >= kNonceSize + kTagSize, "encrypted body of ", body_size,
               " bytes is shorter than nonce and tag");
      std::string aad(bytes.data(), kFrontHeaderSize);
      std::memset(&aad[32], 0, 32);
      const size_t clen = body_size - kNonceSize - kTagSize;
      std::vector<uint8_t> plain(clen);
      CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
      if (!ctx) ssl_fail("EVP_CIPHER_CTX_new");
      if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1)
        ssl_fail("EVP_DecryptInit_ex(AES-256-GCM)");
      if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1)
        ssl_fail("EVP_CTRL_GCM_SET_IVLEN");
      if (EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key->data(), body) != 1)
        ssl_fail("EVP_DecryptInit_ex(key)");
      int len = 0;
      if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                            static_cast<int>(aad.size())) != 1)
        ssl_fail("EVP_DecryptUpdate(AAD)");
      size_t done = 0;
      while (done < clen) {
        const int chunk = static_cast<int>(std::min<size_t>(clen - done, 1 << 30));
        if (EVP_DecryptUpdate(ctx.get(), plain.data() + done, &len, body + kNonceSize + done,
                              chunk) != 1)
          ssl_fail("EVP_DecryptUpdate");
        done += static_cast<size_t>(len);
      }
      uint8_t tag[kTagSize];
      std::memcpy(tag, body + kNonceSize + clen, kTagSize);
      if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1)
        ssl_fail("EVP_CTRL_GCM_SET_TAG");
      // EVP checks the tag in constant time.
      const int ok = EVP_DecryptFinal_ex(ctx.get(), plain.data() + done, &len);
      ERR_clear_error();
      if (ok != 1) {
        OPENSSL_cleanse(plain.data(), plain.size());
        fail("decryption failed: wrong key, or the sealed body was tampered with");
      }
      Graph g;
      try {
        g = parse_front_content(plain.data(), plain.size(), bf16, bf16_bytes);
      } catch (...) {
        OPENSSL_cleanse(plain.data(), plain.size());
        throw;
      }
      OPENSSL_cleanse(plain.data(), plain.size());
      return g;
    } catch (const Error& e) {
      fail(origin, ": ", e.what());
    }
  });
}

void write_front_file(const std::string& path, const Graph& g, const FrontKey* key,
                      bool bf16_weights) {
  write_file(path, serialize_front(g, key, bf16_weights));
}

Result<Graph> read_front_file(const std::string& path, const FrontKey* key) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const Error& e) {
    return e;
  }
  return parse_front(bytes, key, path);
}

FrontKey read_key_file(const std::string& path) {
  std::string bytes = read_file(path, 4096);
  TS_CHECK(bytes.size() == kFrontKeySize, "key file '", path, "' must hold exactly ", kFrontKeySize,
           " bytes, it has ", bytes.size());
  FrontKey k;
  std::memcpy(k.data(), bytes.data(), kFrontKeySize);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return k;
}

std::string sha256_hex(const void* data, size_t size) {
  auto md = sha256(data, size);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : md) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

}  // namespace teesplit
