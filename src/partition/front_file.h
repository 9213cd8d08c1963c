// The front-partition file (.tsf): a small, flat, versioned binary format that
// holds a specialised front partition (graph structure and weights) for the
// enclave, which reads it without protobuf. Optional AES-256-GCM sealing.
// The byte layout is documented in docs/front-file-format.md.
//
// Readers refuse, with a one-line error that names the file offset where one is
// at fault: a wrong magic, an unknown version or flag, a dtype other than
// float32, a truncated or over-long file, a content hash mismatch, an encrypted
// file without a key (or a plain file when a key is given), a wrong key or a
// tampered ciphertext, and any table entry, id or length outside its bounds.
// The graph they return has passed Graph::validate() and shape inference
// agrees with every stored shape.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "graph/ir.h"

namespace teesplit {

constexpr uint32_t kFrontFormatVersion = 1;
constexpr size_t kFrontHeaderSize = 64;
constexpr size_t kFrontKeySize = 32;

using FrontKey = std::array<uint8_t, kFrontKeySize>;

// Bytes of a front file holding g (specialised: every shape known; every
// non-constant value float32 or another supported dtype). With a key, the body
// is sealed with AES-256-GCM under a fresh random 12-byte nonce.
std::string serialize_front(const Graph& g, const FrontKey* key = nullptr);
// Writes serialize_front(g, key) to path; throws Error naming the file.
void write_front_file(const std::string& path, const Graph& g, const FrontKey* key = nullptr);

// Parses front-file bytes; `origin` prefixes error messages (a path).
Result<Graph> parse_front(const std::string& bytes, const FrontKey* key = nullptr,
                          const std::string& origin = "<memory>");
Result<Graph> read_front_file(const std::string& path, const FrontKey* key = nullptr);

// Parses the plaintext content section alone (what follows the header once
// its hash and seal are checked). For tests and the fuzzer; throws Error.
Graph parse_front_content(const uint8_t* data, size_t size);

// A key file holds exactly 32 raw bytes; throws Error naming the file otherwise.
FrontKey read_key_file(const std::string& path);

// SHA-256 (lower-case hex) of bytes.
std::string sha256_hex(const void* data, size_t size);

}  // namespace teesplit
