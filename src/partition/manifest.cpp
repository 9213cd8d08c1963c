#include "partition/manifest.h"

#include <openssl/crypto.h>

#include <initializer_list>
#include <nlohmann/json.hpp>

#include "core/bytes.h"
#include "core/error.h"

namespace teesplit {
namespace {

using json = nlohmann::json;

// Every accessor names the field by its dotted path, e.g. "front.sha256".
std::string path_of(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

const json& field(const json& obj, const std::string& parent, const std::string& key) {
  auto it = obj.find(key);
  TS_CHECK(it != obj.end(), "missing field '", path_of(parent, key), "'");
  return *it;
}

const json& object(const json& obj, const std::string& parent, const std::string& key,
                   std::initializer_list<const char*> allowed) {
  const json& o = field(obj, parent, key);
  TS_CHECK(o.is_object(), "field '", path_of(parent, key), "' is not an object");
  for (auto it = o.begin(); it != o.end(); ++it) {
    bool known = false;
    for (const char* a : allowed) known = known || it.key() == a;
    TS_CHECK(known, "unknown field '", path_of(path_of(parent, key), it.key()), "'");
  }
  return o;
}

std::string str(const json& obj, const std::string& parent, const std::string& key) {
  const json& v = field(obj, parent, key);
  TS_CHECK(v.is_string(), "field '", path_of(parent, key), "' is not a string");
  return v.get<std::string>();
}

bool boolean(const json& obj, const std::string& parent, const std::string& key) {
  const json& v = field(obj, parent, key);
  TS_CHECK(v.is_boolean(), "field '", path_of(parent, key), "' is not a boolean");
  return v.get<bool>();
}

int64_t integer(const json& obj, const std::string& parent, const std::string& key, int64_t lo,
                int64_t hi) {
  const json& v = field(obj, parent, key);
  TS_CHECK(v.is_number_integer(), "field '", path_of(parent, key), "' is not an integer");
  const int64_t i = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : v.get<int64_t>();
  TS_CHECK(i >= lo && i <= hi, "field '", path_of(parent, key), "' is ", i, ", outside [", lo, ", ",
           hi, "]");
  return i;
}

bool is_hex(const std::string& s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string hex_field(const json& obj, const std::string& parent, const std::string& key,
                      size_t len) {
  std::string s = str(obj, parent, key);
  TS_CHECK(is_hex(s, len), "field '", path_of(parent, key), "' is not ", len,
           " lower-case hex digits");
  return s;
}

Shape shape_field(const json& obj, const std::string& parent, const std::string& key) {
  const json& v = field(obj, parent, key);
  const std::string p = path_of(parent, key);
  TS_CHECK(v.is_array(), "field '", p, "' is not an array");
  TS_CHECK(v.size() <= 8, "field '", p, "' has ", v.size(), " dimensions, at most 8 allowed");
  Shape s;
  for (const json& d : v) {
    TS_CHECK(
        d.is_number_integer() && d.get<int64_t>() >= 0 && d.get<int64_t>() <= (int64_t{1} << 40),
        "field '", p, "' holds a bad dimension ", d.dump());
    s.push_back(d.get<int64_t>());
  }
  return s;
}

void fixed_name(const json& obj, const std::string& parent, const std::string& expect) {
  const std::string got = str(obj, parent, "file");
  TS_CHECK(got == expect, "field '", path_of(parent, "file"), "' is '", got, "'; it must be '",
           expect, "' (files live in the split directory under fixed names)");
}

json to_json(const SplitManifest& m, bool with_signature) {
  json j;
  j["format"] = "teesplit-split";
  j["version"] = kManifestVersion;
  j["model"] = {{"file", m.model_file}, {"sha256", m.model_sha256}};
  j["cut"] = {{"index", m.cut_index}, {"name", m.cut_name}, {"node", m.cut_node}};
  j["input"] = {{"name", m.input_name}, {"shape", m.input_shape}, {"dtype", "float32"}};
  j["feature"] = {{"name", m.feature_name}, {"shape", m.feature_shape}, {"dtype", "float32"}};
  j["front"] = {{"file", "front.tsf"},
                {"sha256", m.front_sha256},
                {"encrypted", m.encrypted},
                {"format_version", m.front_format_version},
                {"precision", m.precision}};
  j["back"] = {{"file", "back.onnx"}, {"sha256", m.back_sha256}, {"backend", m.back_backend}};
  j["enclave"] = {{"measurement", m.enclave_measurement ? json(*m.enclave_measurement) : json()}};
  j["tail"] = m.tail ? json{{"file", m.tail->file},
                            {"sha256", m.tail->sha256},
                            {"encrypted", m.tail->encrypted}}
                     : json();
  if (with_signature)
    j["owner_signature"] = m.owner_signature ? json{{"algorithm", m.owner_signature->algorithm},
                                                    {"public_key", m.owner_signature->public_key},
                                                    {"signature", m.owner_signature->signature}}
                                             : json();
  return j;
}

SplitManifest from_json(const json& j) {
  TS_CHECK(j.is_object(), "the manifest is not a JSON object");
  TS_CHECK(str(j, "", "format") == "teesplit-split", "field 'format' is not 'teesplit-split'");
  SplitManifest m;
  m.version = static_cast<int>(integer(j, "", "version", 0, INT32_MAX));
  TS_CHECK(m.version == 1 || m.version == 2, "manifest version ", m.version,
           " is not supported (this teesplit reads versions 1 and 2)");
  const bool v2 = m.version == 2;
  if (v2) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      static const char* const kTop[] = {"format",  "version", "model",          "cut",
                                         "input",   "feature", "front",          "back",
                                         "enclave", "tail",    "owner_signature"};
      bool known = false;
      for (const char* k : kTop) known = known || it.key() == k;
      TS_CHECK(known, "unknown field '", it.key(), "'");
    }
  }
  const json& model = object(j, "", "model", {"file", "sha256"});
  m.model_file = str(model, "model", "file");
  m.model_sha256 = hex_field(model, "model", "sha256", 64);
  const json& cut = object(j, "", "cut", {"index", "name", "node"});
  m.cut_index = static_cast<int>(integer(cut, "cut", "index", 0, int64_t{1} << 30));
  m.cut_name = str(cut, "cut", "name");
  m.cut_node = str(cut, "cut", "node");
  const json& in = object(j, "", "input", {"name", "shape", "dtype"});
  m.input_name = str(in, "input", "name");
  m.input_shape = shape_field(in, "input", "shape");
  if (v2) TS_CHECK(str(in, "input", "dtype") == "float32", "field 'input.dtype' must be 'float32'");
  const json& feat = object(j, "", "feature", {"name", "shape", "dtype"});
  m.feature_name = str(feat, "feature", "name");
  m.feature_shape = shape_field(feat, "feature", "shape");
  TS_CHECK(str(feat, "feature", "dtype") == "float32", "field 'feature.dtype' must be 'float32'");
  const json& front =
      object(j, "", "front", {"file", "sha256", "encrypted", "format_version", "precision"});
  fixed_name(front, "front", "front.tsf");
  m.front_sha256 = hex_field(front, "front", "sha256", 64);
  m.encrypted = boolean(front, "front", "encrypted");
  m.front_format_version =
      static_cast<uint32_t>(integer(front, "front", "format_version", 0, UINT32_MAX));
  if (v2) {
    m.precision = str(front, "front", "precision");
    TS_CHECK(m.precision == "fp32" || m.precision == "bf16", "field 'front.precision' is '",
             m.precision, "'; expected 'fp32' or 'bf16'");
  }
  const json& back = object(j, "", "back", {"file", "sha256", "backend"});
  fixed_name(back, "back", "back.onnx");
  m.back_sha256 = hex_field(back, "back", "sha256", 64);
  if (!v2) return m;
  m.back_backend = str(back, "back", "backend");
  const json& enclave = object(j, "", "enclave", {"measurement"});
  if (!field(enclave, "enclave", "measurement").is_null())
    m.enclave_measurement = hex_field(enclave, "enclave", "measurement", 64);
  if (!field(j, "", "tail").is_null()) {
    const json& tail = object(j, "", "tail", {"file", "sha256", "encrypted"});
    TailPartition t;
    fixed_name(tail, "tail", "tail.tsf");
    t.sha256 = hex_field(tail, "tail", "sha256", 64);
    t.encrypted = boolean(tail, "tail", "encrypted");
    m.tail = t;
  }
  if (j.contains("owner_signature") && !j["owner_signature"].is_null()) {
    const json& sig = object(j, "", "owner_signature", {"algorithm", "public_key", "signature"});
    OwnerSignature s;
    s.algorithm = str(sig, "owner_signature", "algorithm");
    TS_CHECK(s.algorithm == "ed25519", "field 'owner_signature.algorithm' is '", s.algorithm,
             "'; only 'ed25519' is known");
    s.public_key = hex_field(sig, "owner_signature", "public_key", 64);
    s.signature = hex_field(sig, "owner_signature", "signature", 128);
    m.owner_signature = s;
  }
  return m;
}

}  // namespace

std::string manifest_to_json(const SplitManifest& m) {
  return to_json(m, true).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

SplitManifest manifest_from_json(const std::string& text) {
  TS_CHECK(text.size() <= kManifestMaxBytes, "the manifest is ", text.size(),
           " bytes, more than the ", kManifestMaxBytes, " allowed");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // nlohmann's message names the byte offset ("at line 3, column 7").
    fail("not valid JSON: ", e.what());
  }
  try {
    return from_json(j);
  } catch (const json::exception& e) {
    fail("bad manifest: ", e.what());
  }
}

std::string manifest_signed_bytes(const SplitManifest& m) {
  return to_json(m, false).dump(-1, ' ', false, json::error_handler_t::replace);
}

void sign_manifest(SplitManifest& m, const crypto::Ed25519PrivateKey& owner_key) {
  m.owner_signature.reset();  // not covered by the signature anyway
  const std::string msg = manifest_signed_bytes(m);
  const crypto::Ed25519Signature sig = crypto::ed25519_sign(owner_key, byte_span(msg));
  OwnerSignature s;
  s.public_key = crypto::to_hex(owner_key.public_key());
  s.signature = crypto::to_hex(sig);
  m.owner_signature = s;
}

void verify_manifest_signature(const SplitManifest& m, const crypto::Bytes32& owner_public_key) {
  const std::string want = crypto::to_hex(owner_public_key);
  TS_CHECK(m.owner_signature, "the manifest is not signed by its owner (no 'owner_signature'), ",
           "but the owner's public key ", want.substr(0, 16), "... was given: refused");
  const OwnerSignature& s = *m.owner_signature;
  TS_CHECK(s.algorithm == "ed25519", "owner signature algorithm '", s.algorithm,
           "' is not ed25519");
  TS_CHECK(digest_equal(s.public_key, want), "the manifest is signed by another key (",
           s.public_key.substr(0, 16), "...) than the owner's public key given (",
           want.substr(0, 16), "...): refused");
  std::array<uint8_t, 64> sig{};
  TS_CHECK(crypto::from_hex(s.signature, sig), "owner signature is not 128 hex digits");
  const std::string msg = manifest_signed_bytes(m);
  TS_CHECK(crypto::ed25519_verify(owner_public_key, byte_span(msg), sig),
           "the owner's signature over the manifest does not verify: the manifest was changed ",
           "after it was signed: refused");
}

bool digest_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace teesplit
