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

// The newest version this build writes and reads. Version 2 adds the bf16
// weights flag (header bit 1) and the bfloat16 tensor dtype (code 5); a file
// that uses neither is written as version 1, byte for byte as before, and
// version 1 files still load.
constexpr uint32_t kFrontFormatVersion = 2;
constexpr uint32_t kFrontFormatVersionFp32 = 1;
constexpr size_t kFrontHeaderSize = 64;
constexpr size_t kFrontKeySize = 32;

using FrontKey = std::array<uint8_t, kFrontKeySize>;

// Bytes of a front file holding g (specialised: every shape known; every
// non-constant value float32 or another supported dtype). With a key, the body
// is sealed with AES-256-GCM under a fresh random 12-byte nonce. With
// bf16_weights, the file is version 2 with the bf16 flag set, and the weights
// of the nodes that graph/precision.h puts in bf16 are stored as bfloat16
// (rounded to nearest even): half their float32 bytes.
std::string serialize_front(const Graph& g, const FrontKey* key = nullptr,
                            bool bf16_weights = false);
// Writes serialize_front(g, key, bf16_weights) to path; throws Error naming the file.
void write_front_file(const std::string& path, const Graph& g, const FrontKey* key = nullptr,
                      bool bf16_weights = false);

// What a front file's header says.
struct FrontFileInfo {
  uint32_t version = 0;
  bool encrypted = false;
  bool bf16_weights = false;     // the front computes in bf16 (--precision bf16)
  size_t bf16_tensor_bytes = 0;  // bytes of the tensors stored as bfloat16
};

// Parses front-file bytes; `origin` prefixes error messages (a path). Tensors
// stored as bfloat16 come back widened to float32 (exactly: every bf16 value is
// a float32 value); `info`, when given, receives what the header says.
Result<Graph> parse_front(const std::string& bytes, const FrontKey* key = nullptr,
                          const std::string& origin = "<memory>", FrontFileInfo* info = nullptr);
Result<Graph> read_front_file(const std::string& path, const FrontKey* key = nullptr);

// Parses the plaintext content section alone (what follows the header once
// its hash and seal are checked). For tests and the fuzzer; throws Error.
// allow_bf16: bfloat16 tensors are accepted (version 2 with the bf16 flag);
// bf16_bytes, when given, receives their stored byte count.
Graph parse_front_content(const uint8_t* data, size_t size, bool allow_bf16 = false,
                          size_t* bf16_bytes = nullptr);

// float32 -> bfloat16, rounded to nearest even (NaN stays NaN), and back.
uint16_t float_to_bf16(float x);
float bf16_to_float(uint16_t b);

// A key file holds exactly 32 raw bytes; throws Error naming the file otherwise.
FrontKey read_key_file(const std::string& path);

// SHA-256 (lower-case hex) of bytes.
std::string sha256_hex(const void* data, size_t size);

}  // namespace teesplit
