#include "partition/split_dir.h"

#include <filesystem>

#include "core/file.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

// Front and back files are bounded only by what a model can hold; the
// manifest is small.
constexpr size_t kPartitionMaxBytes = size_t{1} << 36;

void check_hash(const std::string& path, const std::string& bytes, const std::string& want,
                const std::string& manifest_path) {
  TS_CHECK(digest_equal(sha256_hex(bytes.data(), bytes.size()), want), path,
           ": SHA-256 does not match ", manifest_path, " (the file was changed or replaced)");
}

}  // namespace

SplitFiles read_split_files(const std::string& dir, bool with_back) {
  SplitFiles f;
  f.dir = dir;
  f.manifest_path = (fs::path(dir) / kManifestFile).string();
  f.front_path = (fs::path(dir) / kFrontFile).string();
  f.back_path = (fs::path(dir) / kBackFile).string();
  std::error_code ec;
  TS_CHECK(fs::is_directory(dir, ec), "'", dir, "' is not a split directory (no such directory)");
  try {
    f.manifest = manifest_from_json(read_file(f.manifest_path, kManifestMaxBytes));
  } catch (const Error& e) {
    fail(f.manifest_path, ": ", e.what());
  }
  const SplitManifest& m = f.manifest;
  TS_CHECK(m.front_format_version >= kFrontFormatVersionFp32 &&
               m.front_format_version <= kFrontFormatVersion,
           f.manifest_path, ": front format version ", m.front_format_version,
           " is not supported (this build reads versions ", kFrontFormatVersionFp32, " to ",
           kFrontFormatVersion, ")");
  TS_CHECK(m.precision == "fp32" || m.precision == "bf16", f.manifest_path, ": front precision '",
           m.precision, "' is not supported by this build (fp32 or bf16)");
  f.front_bytes = read_file(f.front_path, kPartitionMaxBytes);
  check_hash(f.front_path, f.front_bytes, m.front_sha256, f.manifest_path);
  if (m.tail) {
    TS_CHECK(m.tail->encrypted == m.encrypted, f.manifest_path, ": the tail partition is ",
             m.tail->encrypted ? "" : "not ", "encrypted but the front partition is ",
             m.encrypted ? "" : "not ", "(both are sealed with the one front key, or neither)");
    f.tail_path = (fs::path(dir) / kTailFile).string();
    f.tail_bytes = read_file(f.tail_path, kPartitionMaxBytes);
    check_hash(f.tail_path, f.tail_bytes, m.tail->sha256, f.manifest_path);
  }
  if (with_back) {
    f.back_bytes = read_file(f.back_path, kPartitionMaxBytes);
    check_hash(f.back_path, f.back_bytes, m.back_sha256, f.manifest_path);
  }
  return f;
}

Graph load_split_front(const SplitFiles& files, const FrontKey* key) {
  const SplitManifest& m = files.manifest;
  TS_CHECK(!m.encrypted || key, files.front_path,
           ": the front partition is encrypted; give its key (--key FILE)");
  TS_CHECK(m.encrypted || !key, files.front_path, ": a key was given but ", files.manifest_path,
           " says the front partition is not encrypted");
  FrontFileInfo info;
  auto front = parse_front(files.front_bytes, key, files.front_path, &info);
  if (!front) fail(front.error());
  Graph g = std::move(front).value();
  TS_CHECK(info.version == m.front_format_version, files.manifest_path, ": front format version ",
           m.front_format_version, " but ", files.front_path, " is version ", info.version);
  TS_CHECK(info.bf16_weights == (m.precision == "bf16"), files.manifest_path, ": front precision '",
           m.precision, "' but ", files.front_path, info.bf16_weights ? " has" : " lacks",
           " the bf16 flag");
  TS_CHECK(g.outputs.size() == 1, files.front_path, ": the front partition has ", g.outputs.size(),
           " outputs; a split front has one");
  TS_CHECK(g.inputs.size() == 1, files.front_path, ": the front partition has ", g.inputs.size(),
           " inputs; a split front has one");
  const Value& feat = g.value(g.outputs[0]);
  TS_CHECK(feat.shape == m.feature_shape && feat.name == m.feature_name, files.manifest_path,
           ": feature '", m.feature_name, "' ", shape_str(m.feature_shape),
           " differs from the front partition's output '", feat.name, "' ", shape_str(feat.shape));
  const Value& in = g.value(g.inputs[0]);
  TS_CHECK(in.shape == m.input_shape && in.name == m.input_name, files.manifest_path, ": input '",
           m.input_name, "' ", shape_str(m.input_shape),
           " differs from the front partition's input '", in.name, "' ", shape_str(in.shape));
  return g;
}

Graph load_split_tail(const SplitFiles& files, const FrontKey* key) {
  const SplitManifest& m = files.manifest;
  TS_CHECK(m.tail, files.manifest_path, ": the split has no tail partition");
  TS_CHECK(!m.tail->encrypted || key, files.tail_path,
           ": the tail partition is encrypted; give its key (--key FILE)");
  auto tail = parse_front(files.tail_bytes, m.tail->encrypted ? key : nullptr, files.tail_path);
  if (!tail) fail(tail.error());
  Graph g = std::move(tail).value();
  TS_CHECK(g.inputs.size() == 1 && g.outputs.size() == 1, files.tail_path,
           ": the tail partition has ", g.inputs.size(), " inputs and ", g.outputs.size(),
           " outputs; a split's tail has one of each");
  return g;
}

}  // namespace teesplit
