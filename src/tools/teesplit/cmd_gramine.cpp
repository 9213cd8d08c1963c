// teesplit gramine-manifest SPLIT_DIR [-o FILE] [--enclave BIN] [--key KEYFILE]
// [--front-peak-mib N] [--threads N] [--isvprodid N] [--isvsvn N]: the Gramine
// manifest template of the enclave worker for one split, filled in
// (host/gramine_manifest.h; the steps after it: deploy/gramine/README.md).
#include <cstdio>
#include <fstream>

#include "core/secret.h"
#include "host/gramine_manifest.h"
#include "partition/front_file.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct GramineArgs {
  std::string split, output, enclave, key;
  size_t front_peak_mib = 0;
  int threads = 1, isv_prod_id = 1, isv_svn = 1;
};

int gramine_manifest_cmd(const GramineArgs& a) {
  GramineManifestOptions o;
  o.split_dir = a.split;
  o.enclave_binary = a.enclave;
  o.threads = a.threads;
  o.isv_prod_id = a.isv_prod_id;
  o.isv_svn = a.isv_svn;
  FrontKey key{};
  if (!a.key.empty()) {
    key = read_key_file(a.key);
    o.key = &key;
  }
  if (a.front_peak_mib) o.front_peak_bytes = a.front_peak_mib << 20;
  const GramineManifest m = render_gramine_manifest(o);
  secure_wipe(key.data(), key.size());
  if (a.output.empty() || a.output == "-") {
    std::fwrite(m.text.data(), 1, m.text.size(), stdout);
  } else {
    std::ofstream f(a.output, std::ios::binary | std::ios::trunc);
    f << m.text;
    f.close();
    if (!f) fail("cannot write ", a.output);
    std::fprintf(stderr, "wrote %s: %zu trusted files, enclave size %zu MiB (needs %zu MiB)\n",
                 a.output.c_str(), m.trusted_files.size(), m.enclave_size >> 20,
                 (m.needed + (size_t{1} << 20) - 1) >> 20);
  }
  return 0;
}

}  // namespace

Subcommand add_gramine_command(CLI::App& root) {
  auto a = std::make_shared<GramineArgs>();
  CLI::App* app = root.add_subcommand(
      "gramine-manifest",
      "write the Gramine-SGX manifest template of the enclave worker for a split (then "
      "gramine-manifest, gramine-sgx-sign: deploy/gramine/README.md)");
  app->add_option("split", a->split, "split directory (teesplit split)")->required();
  app->add_option("-o,--output", a->output, "the manifest template to write (default: stdout)");
  app->add_option("--enclave", a->enclave,
                  "the worker (default: teesplit-enclave beside teesplit)");
  app->add_option("--key", a->key, "a sealed front's key, to count its peak memory");
  app->add_option("--front-peak-mib", a->front_peak_mib,
                  "the front's peak memory in MiB, instead of compiling it (a sealed front "
                  "without --key)");
  app->add_option("--threads", a->threads, "the worker's oneDNN threads (serve --enclave-threads)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--isvprodid", a->isv_prod_id, "SGX ISV product id")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app->add_option("--isvsvn", a->isv_svn, "SGX ISV security version number")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  return {app, [a] { return gramine_manifest_cmd(*a); }};
}

}  // namespace teesplit
