// Split directories on the host side: `teesplit split` writes one from an ONNX
// model (front.tsf for the enclave, back.onnx for the accelerator, then
// manifest.json), and `teesplit run --split` opens one and runs it. The layout:
// docs/front-file-format.md, section 6. The enclave reads the same directory
// through partition/split_dir.h, without protobuf.
#pragma once

#include <memory>
#include <string>

#include "core/error.h"
#include "partition/manifest.h"
#include "runtime/session.h"
#include "runtime/split_runner.h"

namespace teesplit {

struct SplitWriteOptions {
  // The back partition must run on this backend: split asks it node by node
  // before writing anything (the backend recorded in the manifest).
  BackendKind back_backend = BackendKind::OneDnn;
  const FrontKey* key = nullptr;  // seal front.tsf with AES-256-GCM
  // Sign manifest.json with the model owner's key (owner_signature).
  const crypto::Ed25519PrivateKey* owner_key = nullptr;
  // The enclave worker whose measurement goes into the manifest; "": the
  // teesplit-enclave beside the running executable, when it is there (else the
  // manifest has no measurement and clients must give --mrenclave).
  std::string enclave_binary;
  // Keep the last layers (from the last cut before the final Gemm/MatMul: the
  // classifier and what follows it) in the enclave as tail.tsf, so that the
  // host never sees the prediction (graph/cuts.h: tail_cut). Sealed with `key`
  // like the front; without a key the host can read the tail's weights.
  bool protect_output = false;
  // Precision::BF16: front.tsf stores the weights of the nodes that compute in
  // bf16 (graph/precision.h) as bfloat16 and says so (format version 2, bf16
  // flag; manifest front.precision "bf16"); the enclave runs the front in bf16.
  // The tail partition stays fp32.
  Precision precision = Precision::F32;
};

// Writes DIR/front.tsf, DIR/back.onnx, with protect_output DIR/tail.tsf, and,
// last, DIR/manifest.json (each file
// atomically) for the cut named by `cut_spec` (index or name) of the ONNX model
// at model_path; creates DIR. Throws Error with the reason when the cut is not
// valid or the back backend cannot run a node of the back partition; nothing is
// written then.
SplitManifest write_split(const std::string& model_path, const std::string& cut_spec,
                          const std::string& out_dir, const SplitWriteOptions& opts = {});

struct OpenedSplit {
  SplitManifest manifest;
  std::unique_ptr<SplitRunner> runner;
};

// Opens a split directory alone: checks every file against manifest.json
// (partition/split_dir.h), and, when model_path is not empty, that model's
// SHA-256 too; with owner_public_key, that the manifest carries a valid
// signature by that key (verify_manifest_signature), before anything is loaded;
// then loads and compiles both partitions, the front in the manifest's precision
// (opts.front_precision is ignored). Errors name the file.
Result<OpenedSplit> open_split(const std::string& dir, const SplitRunOptions& opts,
                               const FrontKey* key = nullptr, const std::string& model_path = "",
                               const crypto::Bytes32* owner_public_key = nullptr);

// The host's half of a split: the manifest and the back partition alone (the
// host never loads the front). Every file is checked against the manifest.
struct OpenedBack {
  SplitManifest manifest;
  std::unique_ptr<Session> session;
};
Result<OpenedBack> open_split_back(const std::string& dir, const SessionOptions& opts);

}  // namespace teesplit
