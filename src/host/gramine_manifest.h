// The Gramine manifest of the enclave worker for one split
// (`teesplit gramine-manifest`, deploy/gramine/): fills in
// deploy/gramine/teesplit-enclave.manifest.template (built into the binary)
// with the worker's path, its shared libraries (from `ldd`), the split's files
// as trusted files, and an enclave size counted from what the worker holds.
// The result still carries Gramine's own Jinja placeholders ({{ gramine.* }})
// for Gramine's `gramine-manifest` to fill in.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "partition/front_file.h"

namespace teesplit {

struct GramineManifestOptions {
  std::string split_dir;
  std::string enclave_binary;  // "": teesplit-enclave beside the running executable
  // A sealed front is compiled with its key to count its peak memory; without
  // the key, front_peak_bytes must be given.
  const FrontKey* key = nullptr;
  std::optional<size_t> front_peak_bytes;
  int threads = 1;  // the worker's --threads (OpenMP)
  int isv_prod_id = 1;
  int isv_svn = 1;
  std::string template_text;  // "": the built-in template
};

struct SharedLibrary {
  std::string name;           // as the binary asks for it, e.g. "libdnnl.so.2"
  std::string path;           // where the host's loader finds it
  bool from_gramine = false;  // glibc's: Gramine's runtime directory provides it
};

struct EnclaveSizeParts {
  size_t binary = 0, libraries = 0;  // file sizes
  size_t front_file = 0;             // front.tsf, held in memory while the worker runs
  size_t front_peak = 0;             // the front's weights and activations on oneDNN
  size_t stacks = 0;                 // threads' stacks (sys.stack.size each)
  size_t runtime = 0;                // Gramine's LibOS/PAL, heaps' slack, oneDNN scratch and JIT
  size_t sum() const { return binary + libraries + 2 * front_file + front_peak + stacks + runtime; }
};

struct GramineManifest {
  std::string text;  // the filled-in manifest template
  std::vector<SharedLibrary> libraries;
  std::vector<std::string> trusted_files;  // host paths, besides Gramine's own
  EnclaveSizeParts parts;
  size_t needed = 0;        // parts.sum() plus a quarter of headroom
  size_t enclave_size = 0;  // needed, rounded up to a power of two
};

// The libraries `ldd BINARY` lists (linux-vdso excluded). Throws Error when
// ldd fails or a library is "not found".
std::vector<SharedLibrary> shared_libraries(const std::string& binary);

// The smallest power of two >= n (n >= 1).
size_t round_up_to_power_of_two(size_t n);

// Renders the manifest; throws Error naming what is missing (a split file,
// the binary, a sealed front's key, a placeholder left unfilled).
GramineManifest render_gramine_manifest(const GramineManifestOptions& opts);

// The built-in template (deploy/gramine/teesplit-enclave.manifest.template).
const char* gramine_manifest_template();

}  // namespace teesplit
