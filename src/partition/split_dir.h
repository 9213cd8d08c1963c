// Reading a split directory (manifest.json, front.tsf, back.onnx) with every
// file checked against the manifest before anything is parsed. No protobuf:
// back.onnx comes back as bytes, and the enclave side asks only for the front.
// The directory's layout: docs/front-file-format.md, section 6.
#pragma once

#include <string>

#include "graph/ir.h"
#include "partition/front_file.h"
#include "partition/manifest.h"

namespace teesplit {

constexpr const char* kManifestFile = "manifest.json";
constexpr const char* kFrontFile = "front.tsf";
constexpr const char* kBackFile = "back.onnx";
constexpr const char* kTailFile = "tail.tsf";  // split --protect-output

struct SplitFiles {
  std::string dir;
  std::string manifest_path, front_path, back_path;
  std::string tail_path;  // "" when the split has no tail partition
  SplitManifest manifest;
  std::string front_bytes;  // SHA-256 checked against the manifest
  std::string back_bytes;   // SHA-256 checked; empty unless asked for
  std::string tail_bytes;   // SHA-256 checked; read with the front (enclave side)
};

// Reads DIR/manifest.json and the files it names, and checks their SHA-256
// (constant-time comparison). Throws Error naming the file at fault: missing,
// unreadable, over-long or malformed manifest (with the field), a format
// version this build cannot run, a hash that does not match. The tail partition
// (split --protect-output) is read and checked with the front: both run in the
// enclave, and the enclave's measurement covers both.
SplitFiles read_split_files(const std::string& dir, bool with_back);

// The front partition of verified split files: decrypted with key when the
// manifest says it is sealed (refused without one, and a key is refused for a
// plain front), parsed, and checked to output the manifest's feature shape.
Graph load_split_front(const SplitFiles& files, const FrontKey* key);

// The tail partition of verified split files (which must have one): decrypted
// with key when the manifest says it is sealed (the front's key), parsed, and
// checked to have one input and one output.
Graph load_split_tail(const SplitFiles& files, const FrontKey* key);

}  // namespace teesplit
