#include "data/ton_iot.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"

namespace teesplit {

namespace {

struct ColumnDef {
  const char* name;
  ColumnKind kind;
  int64_t max_vocab;  // categorical only
  bool identifier;    // only with include_identifiers
};

// The encoded columns, in slot order. http_referrer (full files only) is never encoded
// so that one encoder serves both file variants; ts is encoded only with
// include_identifiers and only when the fitted file has it.
const std::vector<ColumnDef>& column_defs() {
  static const std::vector<ColumnDef> k = {
      {"ts", ColumnKind::Numeric, 0, true},
      {"src_ip", ColumnKind::Hashed, 0, true},
      {"src_port", ColumnKind::Numeric, 0, true},
      {"dst_ip", ColumnKind::Hashed, 0, true},
      {"dst_port", ColumnKind::Numeric, 0, true},
      {"proto", ColumnKind::Categorical, 4, false},
      {"service", ColumnKind::Categorical, 10, false},
      {"duration", ColumnKind::Numeric, 0, false},
      {"src_bytes", ColumnKind::Numeric, 0, false},
      {"dst_bytes", ColumnKind::Numeric, 0, false},
      {"conn_state", ColumnKind::Categorical, 13, false},
      {"missed_bytes", ColumnKind::Numeric, 0, false},
      {"src_pkts", ColumnKind::Numeric, 0, false},
      {"src_ip_bytes", ColumnKind::Numeric, 0, false},
      {"dst_pkts", ColumnKind::Numeric, 0, false},
      {"dst_ip_bytes", ColumnKind::Numeric, 0, false},
      {"dns_query", ColumnKind::Hashed, 0, false},
      {"dns_qclass", ColumnKind::Categorical, 4, false},
      {"dns_qtype", ColumnKind::Categorical, 8, false},
      {"dns_rcode", ColumnKind::Categorical, 5, false},
      {"dns_aa", ColumnKind::Boolean, 0, false},
      {"dns_rd", ColumnKind::Boolean, 0, false},
      {"dns_ra", ColumnKind::Boolean, 0, false},
      {"dns_rejected", ColumnKind::Boolean, 0, false},
      {"ssl_version", ColumnKind::Categorical, 4, false},
      {"ssl_cipher", ColumnKind::Categorical, 6, false},
      {"ssl_resumed", ColumnKind::Boolean, 0, false},
      {"ssl_established", ColumnKind::Boolean, 0, false},
      {"ssl_subject", ColumnKind::Hashed, 0, false},
      {"ssl_issuer", ColumnKind::Hashed, 0, false},
      {"http_trans_depth", ColumnKind::Numeric, 0, false},
      {"http_method", ColumnKind::Categorical, 4, false},
      {"http_uri", ColumnKind::Hashed, 0, false},
      {"http_version", ColumnKind::Categorical, 2, false},
      {"http_request_body_len", ColumnKind::Numeric, 0, false},
      {"http_response_body_len", ColumnKind::Numeric, 0, false},
      {"http_status_code", ColumnKind::Categorical, 6, false},
      {"http_user_agent", ColumnKind::Hashed, 0, false},
      {"http_orig_mime_types", ColumnKind::Categorical, 3, false},
      {"http_resp_mime_types", ColumnKind::Categorical, 3, false},
      {"weird_name", ColumnKind::Categorical, 8, false},
      {"weird_addl", ColumnKind::Categorical, 2, false},
      {"weird_notice", ColumnKind::Boolean, 0, false},
  };
  return k;
}

// Distinct values counted per categorical column while fitting (bounded memory).
constexpr size_t kMaxTracked = 10000;
constexpr double kClip = 10.0;  // |z| cap for numeric values

const char* kind_name(ColumnKind k) {
  switch (k) {
    case ColumnKind::Numeric:
      return "numeric";
    case ColumnKind::Categorical:
      return "categorical";
    case ColumnKind::Boolean:
      return "boolean";
    case ColumnKind::Hashed:
      return "hashed";
  }
  return "?";
}

ColumnKind kind_from(const std::string& s, const std::string& where) {
  if (s == "numeric") return ColumnKind::Numeric;
  if (s == "categorical") return ColumnKind::Categorical;
  if (s == "boolean") return ColumnKind::Boolean;
  if (s == "hashed") return ColumnKind::Hashed;
  fail(where, ": unknown column kind '", s, "'");
}

std::string lower_trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  std::string r = s.substr(a, b - a + 1);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view trim_view(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return std::string_view(s).substr(a, b - a);
}

bool is_missing(std::string_view v) {
  return v.empty() || v == "-";
}

// Parses a numeric field; false when missing. Throws for anything non-numeric.
bool parse_number(const std::string& field, const std::string& where, const std::string& column,
                  double* out) {
  std::string_view v = trim_view(field);
  if (is_missing(v)) return false;
  double d = 0;
  const char* b = v.data();
  const char* e = b + v.size();
  if (*b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, d);
  if (ec != std::errc() || p != e || !std::isfinite(d))
    fail(where, ": column ", column, ": '", field, "' is not a number");
  *out = d;
  return true;
}

double transform(double x) {
  return x < 0 ? -std::log1p(-x) : std::log1p(x);
}

// %XX escaping for vocabulary entries in to_string().
std::string escape(const std::string& s) {
  std::string r;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '%' || c == '|' || c == '=') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      r += buf;
    } else {
      r += static_cast<char>(c);
    }
  }
  return r;
}

std::string unescape(const std::string& s, const std::string& where) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      r += s[i];
      continue;
    }
    auto hex = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      fail(where, ": bad escape in '", s, "'");
    };
    if (i + 2 >= s.size()) fail(where, ": bad escape in '", s, "'");
    r += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
    i += 2;
  }
  return r;
}

std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

int64_t bucket_count(const FeatureEncoderOptions& o) {
  return o.hash_buckets > 0 ? o.hash_buckets : (o.side >= 16 ? 16 : 64);
}

}  // namespace

const std::vector<std::string>& ton_iot_types() {
  static const std::vector<std::string> k = {"normal",    "backdoor", "ddos",     "dos",
                                             "injection", "mitm",     "password", "ransomware",
                                             "scanning",  "xss"};
  return k;
}

bool ton_iot_in_train(uint64_t row_index, double train_ratio, uint64_t seed) {
  return unit_double(splitmix64(row_index ^ splitmix64(seed))) < train_ratio;
}

std::vector<std::string> ton_iot_normalize_header(const std::vector<std::string>& raw,
                                                  const std::string& where) {
  std::vector<std::string> h;
  h.reserve(raw.size());
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string n = lower_trim(raw[i]);
    auto [it, fresh] = seen.emplace(n, i);
    if (!fresh && !n.empty())
      fail(where, ": header names column '", n, "' twice (fields ", it->second + 1, " and ", i + 1,
           ")");
    h.push_back(n);
  }
  return h;
}

void ton_iot_parse_targets(const std::vector<std::string>& fields, int label_field, int type_field,
                           const std::string& where, int64_t* label, int64_t* type) {
  std::string_view l = trim_view(fields[label_field]);
  if (l == "0")
    *label = 0;
  else if (l == "1")
    *label = 1;
  else
    fail(where, ": label '", fields[label_field], "' is not 0 or 1");
  std::string t = lower_trim(fields[type_field]);
  const auto& types = ton_iot_types();
  auto it = std::find(types.begin(), types.end(), t);
  if (it == types.end())
    fail(where, ": unknown type '", fields[type_field],
         "' (expected one of normal, backdoor, ddos, ",
         "dos, injection, mitm, password, ransomware, scanning, xss)");
  *type = it - types.begin();
}

// ------------------------------------------------------------------ FeatureEncoder

void FeatureEncoder::build_layout(const std::vector<std::string>& header_names) {
  TS_CHECK(opt_.side == 8 || opt_.side == 16, "TON_IoT encoder: side must be 8 or 16, got ",
           opt_.side);
  TS_CHECK(opt_.train_ratio > 0 && opt_.train_ratio <= 1, "TON_IoT encoder: train ratio ",
           opt_.train_ratio, " not in (0,1]");
  const bool wide = opt_.side >= 16;
  const int64_t buckets = bucket_count(opt_);
  TS_CHECK(buckets >= 1 && buckets <= 4096, "TON_IoT encoder: bad hash bucket count ", buckets);
  cols_.clear();
  int64_t off = 0;
  for (const ColumnDef& d : column_defs()) {
    if (d.identifier && !opt_.include_identifiers) continue;
    if (std::string(d.name) == "ts" &&
        std::find(header_names.begin(), header_names.end(), "ts") == header_names.end())
      continue;
    EncodedColumn c;
    c.name = d.name;
    c.kind = d.kind;
    c.offset = off;
    c.max_vocab = d.max_vocab;
    switch (d.kind) {
      case ColumnKind::Numeric:
        c.width = wide ? 2 : 1;
        break;
      case ColumnKind::Categorical:
        c.width = wide ? d.max_vocab + 1 : 1;
        break;
      case ColumnKind::Boolean:
        c.width = 1;
        break;
      case ColumnKind::Hashed:
        c.width = wide ? buckets : 1;
        break;
    }
    off += c.width;
    cols_.push_back(std::move(c));
  }
  TS_CHECK(off <= num_slots(), "TON_IoT encoder: the feature layout needs ", off, " slots but ",
           opt_.side, "x", opt_.side, " has ", num_slots(),
           " (use side 16, fewer hash buckets or no identifiers)");
}

void FeatureEncoder::index_vocab() {
  vocab_index_.assign(cols_.size(), {});
  for (size_t i = 0; i < cols_.size(); ++i)
    for (size_t k = 0; k < cols_[i].vocab.size(); ++k)
      vocab_index_[i].emplace(cols_[i].vocab[k], static_cast<int>(k));
}

int64_t FeatureEncoder::num_features() const {
  return cols_.empty() ? 0 : cols_.back().offset + cols_.back().width;
}

HeaderBinding FeatureEncoder::bind(const std::vector<std::string>& header,
                                   const std::string& where) const {
  HeaderBinding b;
  b.num_fields = header.size();
  std::map<std::string, int> pos;
  for (size_t i = 0; i < header.size(); ++i) pos.emplace(header[i], static_cast<int>(i));
  std::vector<std::string> missing;
  auto find = [&](const std::string& n) {
    auto it = pos.find(n);
    if (it == pos.end()) {
      missing.push_back(n);
      return -1;
    }
    return it->second;
  };
  for (const EncodedColumn& c : cols_) b.column_field.push_back(find(c.name));
  b.label_field = find("label");
  b.type_field = find("type");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    fail(where, ": missing required column", missing.size() > 1 ? "s" : "", ": ", list);
  }
  return b;
}

void FeatureEncoder::encode(const std::vector<std::string>& fields, const HeaderBinding& b,
                            float* out, const std::string& where) const {
  TS_CHECK(fields.size() == b.num_fields, where, ": expected ", b.num_fields, " fields, got ",
           fields.size());
  std::fill(out, out + num_slots(), 0.0f);
  const bool wide = opt_.side >= 16;
  for (size_t i = 0; i < cols_.size(); ++i) {
    const EncodedColumn& c = cols_[i];
    const std::string& f = fields[b.column_field[i]];
    float* o = out + c.offset;
    switch (c.kind) {
      case ColumnKind::Numeric: {
        double x;
        if (parse_number(f, where, c.name, &x)) {
          double z = (transform(x) - c.mean) / c.std;
          o[0] = static_cast<float>(std::clamp(z, -kClip, kClip));
        } else if (wide) {
          o[1] = 1.0f;  // missing flag
        }
        break;
      }
      case ColumnKind::Categorical: {
        std::string_view v = trim_view(f);
        auto it = vocab_index_[i].find(std::string(v));
        int k = it == vocab_index_[i].end() ? -1 : it->second;
        if (wide)
          o[k < 0 ? c.max_vocab : k] = 1.0f;  // last slot: unseen value
        else if (k >= 0)
          o[0] = static_cast<float>(k + 1) / static_cast<float>(c.vocab.size());
        break;
      }
      case ColumnKind::Boolean: {
        std::string_view v = trim_view(f);
        if (v == "T" || v == "t" || v == "true" || v == "True" || v == "1")
          o[0] = 1.0f;
        else if (v == "F" || v == "f" || v == "false" || v == "False" || v == "0")
          o[0] = -1.0f;
        else if (!is_missing(v))
          fail(where, ": column ", c.name, ": '", f, "' is not T, F or -");
        break;
      }
      case ColumnKind::Hashed: {
        std::string_view v = trim_view(f);
        if (is_missing(v)) break;
        const int64_t buckets = bucket_count(opt_);
        int64_t h = static_cast<int64_t>(fnv1a(v) % static_cast<uint64_t>(buckets));
        if (wide)
          o[h] = 1.0f;
        else
          o[0] = static_cast<float>(h + 1) / static_cast<float>(buckets);
        break;
      }
    }
  }
}

FeatureEncoder FeatureEncoder::fit(const std::string& csv_path, const FeatureEncoderOptions& opt) {
  FeatureEncoder enc;
  enc.opt_ = opt;
  CsvReader csv(csv_path);
  std::vector<std::string> fields;
  if (!csv.next(fields)) fail("TON_IoT '", csv_path, "': empty file (no header)");
  std::string hwhere = "TON_IoT '" + csv_path + "' line " + std::to_string(csv.record_line());
  std::vector<std::string> header = ton_iot_normalize_header(fields, hwhere);
  enc.build_layout(header);
  HeaderBinding b = enc.bind(header, hwhere);

  struct Stat {
    int64_t n = 0;
    double mean = 0, m2 = 0;
  };
  std::vector<Stat> stats(enc.cols_.size());
  std::vector<std::unordered_map<std::string, int64_t>> counts(enc.cols_.size());
  int64_t index = 0;
  std::string where;
  while (csv.next(fields)) {
    where = "TON_IoT '" + csv_path + "' line " + std::to_string(csv.record_line());
    if (fields.size() != header.size())
      fail(where, ": expected ", header.size(), " fields, got ", fields.size());
    int64_t label, type;
    ton_iot_parse_targets(fields, b.label_field, b.type_field, where, &label, &type);
    bool train = ton_iot_in_train(static_cast<uint64_t>(index++), opt.train_ratio, opt.split_seed);
    if (!train) continue;
    ++enc.fitted_rows_;
    for (size_t i = 0; i < enc.cols_.size(); ++i) {
      const EncodedColumn& c = enc.cols_[i];
      const std::string& f = fields[b.column_field[i]];
      if (c.kind == ColumnKind::Numeric) {
        double x;
        if (!parse_number(f, where, c.name, &x)) continue;
        double t = transform(x);
        Stat& s = stats[i];
        ++s.n;
        double d = t - s.mean;
        s.mean += d / static_cast<double>(s.n);
        s.m2 += d * (t - s.mean);
      } else if (c.kind == ColumnKind::Categorical) {
        std::string v(trim_view(f));
        auto it = counts[i].find(v);
        if (it != counts[i].end())
          ++it->second;
        else if (counts[i].size() < kMaxTracked)
          counts[i].emplace(std::move(v), 1);
      }
    }
  }
  for (size_t i = 0; i < enc.cols_.size(); ++i) {
    EncodedColumn& c = enc.cols_[i];
    if (c.kind == ColumnKind::Numeric) {
      const Stat& s = stats[i];
      c.mean = s.n ? s.mean : 0.0;
      double sd = s.n ? std::sqrt(s.m2 / static_cast<double>(s.n)) : 1.0;
      c.std = sd > 1e-12 ? sd : 1.0;
    } else if (c.kind == ColumnKind::Categorical) {
      std::vector<std::pair<std::string, int64_t>> v(counts[i].begin(), counts[i].end());
      std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
      });
      for (size_t k = 0; k < v.size() && int64_t(k) < c.max_vocab; ++k)
        c.vocab.push_back(v[k].first);
    }
  }
  enc.index_vocab();
  return enc;
}

std::string FeatureEncoder::to_string() const {
  std::ostringstream os;
  os << "teesplit-ton-iot-encoder 1\n";
  os << "side=" << opt_.side << "\n";
  os << "hash_buckets=" << bucket_count(opt_) << "\n";
  os << "hash=fnv1a64\n";
  os << "include_identifiers=" << (opt_.include_identifiers ? 1 : 0) << "\n";
  os << "train_ratio=" << fmt_double(opt_.train_ratio) << "\n";
  os << "split_seed=" << opt_.split_seed << "\n";
  os << "fitted_rows=" << fitted_rows_ << "\n";
  os << "columns=" << cols_.size() << "\n";
  for (const EncodedColumn& c : cols_) {
    os << "column name=" << c.name << " kind=" << kind_name(c.kind) << " offset=" << c.offset
       << " width=" << c.width;
    if (c.kind == ColumnKind::Numeric)
      os << " mean=" << fmt_double(c.mean) << " std=" << fmt_double(c.std);
    if (c.kind == ColumnKind::Categorical) {
      os << " max_vocab=" << c.max_vocab << " vocab_size=" << c.vocab.size() << " vocab=";
      for (size_t k = 0; k < c.vocab.size(); ++k) os << (k ? "|" : "") << escape(c.vocab[k]);
    }
    os << "\n";
  }
  os << "end\n";
  return os.str();
}

FeatureEncoder FeatureEncoder::from_string(const std::string& s) {
  FeatureEncoder enc;
  std::istringstream in(s);
  std::string line;
  int64_t ln = 0;
  auto where = [&]() { return "TON_IoT encoder line " + std::to_string(ln); };
  auto to_i64 = [&](const std::string& v, const char* key) {
    int64_t r;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), r);
    if (ec != std::errc() || p != v.data() + v.size())
      fail(where(), ": ", key, "='", v, "' is not an integer");
    return r;
  };
  auto to_u64 = [&](const std::string& v, const char* key) {
    uint64_t r;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), r);
    if (ec != std::errc() || p != v.data() + v.size())
      fail(where(), ": ", key, "='", v, "' is not an integer");
    return r;
  };
  auto to_f64 = [&](const std::string& v, const char* key) {
    double r;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), r);
    if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(r))
      fail(where(), ": ", key, "='", v, "' is not a number");
    return r;
  };
  ++ln;
  if (!std::getline(in, line) || line != "teesplit-ton-iot-encoder 1")
    fail(where(), ": not a TON_IoT encoder (expected 'teesplit-ton-iot-encoder 1')");
  std::map<std::string, std::string> top;
  std::vector<EncodedColumn> cols;
  int64_t declared_cols = -1;
  bool ended = false;
  while (std::getline(in, line)) {
    ++ln;
    if (line.empty()) continue;
    if (ended) fail(where(), ": text after 'end'");
    if (line == "end") {
      ended = true;
      continue;
    }
    if (line.rfind("column ", 0) == 0) {
      std::map<std::string, std::string> kv;
      std::istringstream ls(line.substr(7));
      std::string tok;
      while (ls >> tok) {
        size_t eq = tok.find('=');
        if (eq == std::string::npos) fail(where(), ": expected key=value, got '", tok, "'");
        kv[tok.substr(0, eq)] = tok.substr(eq + 1);
      }
      for (const char* req : {"name", "kind", "offset", "width"})
        if (!kv.count(req)) fail(where(), ": column lacks ", req);
      EncodedColumn c;
      c.name = kv["name"];
      c.kind = kind_from(kv["kind"], where());
      c.offset = to_i64(kv["offset"], "offset");
      c.width = to_i64(kv["width"], "width");
      if (c.kind == ColumnKind::Numeric) {
        if (!kv.count("mean") || !kv.count("std")) fail(where(), ": numeric column lacks mean/std");
        c.mean = to_f64(kv["mean"], "mean");
        c.std = to_f64(kv["std"], "std");
        if (!(c.std > 0)) fail(where(), ": std must be positive");
      }
      if (c.kind == ColumnKind::Categorical) {
        if (!kv.count("max_vocab") || !kv.count("vocab_size") || !kv.count("vocab"))
          fail(where(), ": categorical column lacks max_vocab/vocab_size/vocab");
        c.max_vocab = to_i64(kv["max_vocab"], "max_vocab");
        int64_t n = to_i64(kv["vocab_size"], "vocab_size");
        if (c.max_vocab < 1 || c.max_vocab > 4096 || n < 0 || n > c.max_vocab)
          fail(where(), ": bad vocabulary sizes");
        const std::string& v = kv["vocab"];
        if (n > 0) {
          size_t start = 0;
          for (;;) {
            size_t bar = v.find('|', start);
            c.vocab.push_back(unescape(v.substr(start, bar - start), where()));
            if (bar == std::string::npos) break;
            start = bar + 1;
          }
        }
        if (int64_t(c.vocab.size()) != n)
          fail(where(), ": vocab has ", c.vocab.size(), " entries, vocab_size says ", n);
      }
      cols.push_back(std::move(c));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) fail(where(), ": expected key=value, got '", line, "'");
    std::string key = line.substr(0, eq), val = line.substr(eq + 1);
    if (key == "side")
      enc.opt_.side = to_i64(val, "side");
    else if (key == "hash_buckets")
      enc.opt_.hash_buckets = to_i64(val, "hash_buckets");
    else if (key == "hash") {
      if (val != "fnv1a64") fail(where(), ": unknown hash '", val, "'");
    } else if (key == "include_identifiers")
      enc.opt_.include_identifiers = to_i64(val, "include_identifiers") != 0;
    else if (key == "train_ratio")
      enc.opt_.train_ratio = to_f64(val, "train_ratio");
    else if (key == "split_seed")
      enc.opt_.split_seed = to_u64(val, "split_seed");
    else if (key == "fitted_rows")
      enc.fitted_rows_ = to_i64(val, "fitted_rows");
    else if (key == "columns")
      declared_cols = to_i64(val, "columns");
    else
      fail(where(), ": unknown key '", key, "'");
  }
  if (!ended) fail("TON_IoT encoder: missing 'end' line (truncated?)");
  if (declared_cols != int64_t(cols.size()))
    fail("TON_IoT encoder: 'columns' says ", declared_cols, ", found ", cols.size());
  // Rebuild the layout from the options and check that the stored one agrees.
  std::vector<std::string> names;
  for (const auto& c : cols) names.push_back(c.name);
  enc.build_layout(names);
  if (enc.cols_.size() != cols.size())
    fail("TON_IoT encoder: ", cols.size(), " columns stored, the options give ", enc.cols_.size());
  for (size_t i = 0; i < cols.size(); ++i) {
    const EncodedColumn& a = enc.cols_[i];
    const EncodedColumn& c = cols[i];
    if (a.name != c.name || a.kind != c.kind || a.offset != c.offset || a.width != c.width ||
        (a.kind == ColumnKind::Categorical && a.max_vocab != c.max_vocab))
      fail("TON_IoT encoder: column ", i, " ('", c.name, "') does not match the layout (expected '",
           a.name, "' ", kind_name(a.kind), " at ", a.offset, " width ", a.width, ")");
  }
  enc.cols_ = std::move(cols);
  enc.index_vocab();
  return enc;
}

std::string FeatureEncoder::layout() const {
  std::ostringstream os;
  os << "feature layout: " << opt_.side << "x" << opt_.side << " single-channel image, "
     << num_features() << " of " << num_slots() << " slots used (row-major, zero padding)\n";
  for (const EncodedColumn& c : cols_) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "  [%3lld..%3lld] ", static_cast<long long>(c.offset),
                  static_cast<long long>(c.offset + c.width - 1));
    os << buf << c.name << ": " << kind_name(c.kind);
    switch (c.kind) {
      case ColumnKind::Numeric:
        os << ", z = (log1p(x) - " << c.mean << ") / " << c.std
           << (c.width > 1 ? "; then a missing flag" : "; missing -> 0");
        break;
      case ColumnKind::Categorical:
        os << ", vocab " << c.vocab.size() << "/" << c.max_vocab << " {";
        for (size_t k = 0; k < c.vocab.size(); ++k) os << (k ? "," : "") << c.vocab[k];
        os << "}" << (c.width > 1 ? " one-hot + unseen slot" : " as (rank+1)/size, unseen -> 0");
        break;
      case ColumnKind::Boolean:
        os << ", T -> 1, F -> -1, - -> 0";
        break;
      case ColumnKind::Hashed:
        os << ", fnv1a64 % " << bucket_count(opt_)
           << (c.width > 1 ? " one-hot, - -> zeros" : " as (bucket+1)/buckets, - -> 0");
        break;
    }
    os << "\n";
  }
  return os.str();
}

// ------------------------------------------------------------------ TonIotReader

TonIotReader::TonIotReader(const std::string& path, const FeatureEncoder* encoder, Split split,
                           const FeatureEncoderOptions& split_opt)
    : csv_(path),
      enc_(encoder),
      split_(split),
      split_opt_(encoder ? encoder->options() : split_opt) {
  std::vector<std::string> raw;
  if (!csv_.next(raw)) fail("TON_IoT '", path, "': empty file (no header)");
  std::string where = "TON_IoT '" + path + "' line " + std::to_string(csv_.record_line());
  header_ = ton_iot_normalize_header(raw, where);
  if (enc_) {
    bind_ = enc_->bind(header_, where);
  } else {
    auto pos = [&](const char* n) {
      auto it = std::find(header_.begin(), header_.end(), n);
      return it == header_.end() ? -1 : static_cast<int>(it - header_.begin());
    };
    bind_.label_field = pos("label");
    bind_.type_field = pos("type");
    bind_.num_fields = header_.size();
    std::string missing = bind_.label_field < 0 ? (bind_.type_field < 0 ? "label, type" : "label")
                                                : (bind_.type_field < 0 ? "type" : "");
    if (!missing.empty()) fail(where, ": missing required column(s): ", missing);
  }
}

bool TonIotReader::next(TonIotRow& row) {
  while (csv_.next(fields_)) {
    int64_t idx = index_++;
    bool train =
        ton_iot_in_train(static_cast<uint64_t>(idx), split_opt_.train_ratio, split_opt_.split_seed);
    if ((split_ == Split::Train && !train) || (split_ == Split::Test && train)) continue;
    std::string where = "TON_IoT '" + csv_.path() + "' line " + std::to_string(csv_.record_line());
    if (fields_.size() != header_.size())
      fail(where, ": expected ", header_.size(), " fields, got ", fields_.size());
    ton_iot_parse_targets(fields_, bind_.label_field, bind_.type_field, where, &row.label,
                          &row.type);
    row.line = csv_.record_line();
    row.index = idx;
    row.train = train;
    if (enc_) {
      row.features.resize(enc_->num_slots());
      enc_->encode(fields_, bind_, row.features.data(), where);
    } else {
      row.features.clear();
    }
    return true;
  }
  return false;
}

// ------------------------------------------------------------------ Dataset

namespace {

class TonIotDataset : public Dataset {
 public:
  TonIotDataset(std::string path, std::string split, FeatureEncoder enc, bool type_target,
                std::vector<std::string> header)
      : path_(std::move(path)),
        split_(std::move(split)),
        enc_(std::move(enc)),
        type_target_(type_target),
        header_(std::move(header)) {
    bind_ = enc_.bind(header_, "TON_IoT '" + path_ + "'");
    classes_ = type_target_ ? ton_iot_types() : std::vector<std::string>{"normal", "attack"};
  }

  std::string name() const override { return "ton-iot:" + split_; }
  int64_t size() const override { return static_cast<int64_t>(offsets_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  Shape input_shape() const override { return {1, enc_.side(), enc_.side()}; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int64_t label(int64_t i) const override {
    check_index(i);
    return type_target_ ? targets_[i] >> 1 : targets_[i] & 1;
  }
  std::string describe() const override {
    std::ostringstream os;
    os << "file: " << path_ << "\n";
    os << "target: " << (type_target_ ? "type (10 classes)" : "label (binary)") << "\n";
    std::vector<int64_t> types(10, 0), bin(2, 0);
    for (uint8_t t : targets_) ++types[t >> 1], ++bin[t & 1];
    os << "label counts: normal(0) " << bin[0] << ", attack(1) " << bin[1] << "\n";
    os << "type counts:";
    for (size_t k = 0; k < types.size(); ++k) os << " " << ton_iot_types()[k] << " " << types[k];
    os << "\nencoder fitted on " << enc_.fitted_rows() << " train rows (ratio "
       << enc_.options().train_ratio << ")\n";
    os << enc_.layout();
    return os.str();
  }
  std::string encoder_string() const override { return enc_.to_string(); }

  Sample get(int64_t i) const override {
    check_index(i);
    CsvReader csv(path_, offsets_[i], lines_[i], 4096);
    std::vector<std::string> fields;
    std::string where = "TON_IoT '" + path_ + "' line " + std::to_string(lines_[i]);
    if (!csv.next(fields)) fail(where, ": row vanished (file changed since it was indexed?)");
    Sample s;
    s.image = Tensor(DType::F32, input_shape());
    enc_.encode(fields, bind_, s.image.data<float>(), where);
    s.label = label(i);
    return s;
  }

  void add(uint64_t offset, int64_t line, int64_t label, int64_t type) {
    offsets_.push_back(offset);
    lines_.push_back(line);
    targets_.push_back(static_cast<uint8_t>(type << 1 | label));
  }

 private:
  void check_index(int64_t i) const {
    TS_CHECK(i >= 0 && i < size(), name(), ": index ", i, " out of range [0,", size(), ")");
  }
  std::string path_, split_;
  FeatureEncoder enc_;
  bool type_target_;
  std::vector<std::string> header_, classes_;
  HeaderBinding bind_;
  std::vector<uint64_t> offsets_;
  std::vector<int64_t> lines_;
  std::vector<uint8_t> targets_;  // type << 1 | label
};

}  // namespace

std::unique_ptr<Dataset> open_ton_iot(const std::string& csv_path, const DatasetOptions& opt) {
  std::string split = normalize_split(opt.split);
  TS_CHECK(opt.target == "binary" || opt.target == "type", "ton-iot: target must be 'binary' or ",
           "'type', got '", opt.target, "'");
  FeatureEncoder enc;
  if (!opt.encoder.empty()) {
    enc = FeatureEncoder::from_string(opt.encoder);
  } else {
    FeatureEncoderOptions eo;
    eo.side = opt.tabular_side;
    eo.include_identifiers = opt.include_identifiers;
    eo.hash_buckets = opt.hash_buckets;
    eo.train_ratio = opt.train_ratio;
    eo.split_seed = opt.split_seed;
    enc = FeatureEncoder::fit(csv_path, eo);
  }
  // The indexing pass encodes every row too, so that bad values fail here with their line.
  TonIotReader reader(csv_path, &enc,
                      split == "train" ? TonIotReader::Split::Train : TonIotReader::Split::Test,
                      enc.options());
  auto ds =
      std::make_unique<TonIotDataset>(csv_path, split, enc, opt.target == "type", reader.header());
  TonIotRow row;
  while (reader.next(row)) ds->add(reader.record_offset(), row.line, row.label, row.type);
  return ds;
}

}  // namespace teesplit
