// teesplit keygen -o FILE [--ed25519] [--force]: a fresh key file. Without
// --ed25519, the 32 raw random bytes that split/run take with --key (AES-256);
// with it, the model owner's Ed25519 key pair: FILE (PKCS#8 PEM, 0600) and its
// public half beside it (owner.pem -> owner.pub.pem), for split --sign and
// run --owner-pub. Existing files are never replaced without --force.
#include <sys/stat.h>

#include <cstdio>

#include "core/secret.h"
#include "crypto/ed25519.h"
#include "partition/front_file.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct KeygenArgs {
  std::string output;
  bool ed25519 = false;
  bool force = false;
};

void refuse_existing(const std::string& path, bool force) {
  struct stat st {};
  if (!force && ::lstat(path.c_str(), &st) == 0)
    fail("'", path, "' exists: refusing to replace a key file (--force replaces it)");
}

int keygen(const KeygenArgs& a) {
  if (a.ed25519) {
    const std::string pub = crypto::public_key_path_for(a.output);
    refuse_existing(a.output, a.force);
    refuse_existing(pub, a.force);
    const crypto::Ed25519PrivateKey key = crypto::Ed25519PrivateKey::generate();
    key.save(a.output, a.force);
    key.save_public(pub, a.force);
    std::printf("wrote %s (Ed25519 private key, PKCS#8 PEM, mode 0600: keep it secret)\n",
                a.output.c_str());
    std::printf("wrote %s (its public key: %s)\n", pub.c_str(),
                crypto::to_hex(key.public_key()).c_str());
    return 0;
  }
  refuse_existing(a.output, a.force);
  SecretBytes key(kFrontKeySize);
  crypto::random_bytes(key.data(), key.size());
  crypto::write_key_file(a.output, key, 0600, a.force);
  std::printf("wrote %s (%zu random bytes: an AES-256 key for split --key, mode 0600)\n",
              a.output.c_str(), key.size());
  return 0;
}

}  // namespace

Subcommand add_keygen_command(CLI::App& root) {
  auto a = std::make_shared<KeygenArgs>();
  CLI::App* app = root.add_subcommand(
      "keygen",
      "write a fresh key file: a 32-byte AES key (split --key), or with --ed25519 the model "
      "owner's signing key pair (split --sign, run --owner-pub)");
  app->add_option("-o,--output", a->output,
                  "the key file to write (with --ed25519 also its public key: NAME.pub.pem)")
      ->required();
  app->add_flag("--ed25519", a->ed25519, "an Ed25519 key pair (PEM) instead of a 32-byte AES key");
  app->add_flag("--force", a->force, "replace existing files");
  return {app, [a] { return keygen(*a); }};
}

}  // namespace teesplit
