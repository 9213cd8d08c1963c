#include "host/gramine_manifest.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "backends/onednn/onednn_backend.h"
#include "core/error.h"
#include "host/enclave_process.h"
#include "partition/split_dir.h"

namespace teesplit {

namespace fs = std::filesystem;

namespace {

const char kBuiltInTemplate[] =
#include "gramine_manifest_template.inc"
    ;

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kStackBytes = 8 * kMiB;  // sys.stack.size in the template
// Gramine's LibOS and PAL, the heaps' slack, oneDNN's scratchpads and JIT code.
constexpr size_t kRuntimeBytes = 128 * kMiB;
// Gramine's helper threads (IPC, async, TLS handshake) and the main thread.
constexpr int kHelperThreads = 4;

// glibc's libraries: Gramine ships its own build of them in its runtime
// directory, mounted at /lib, and the enclave must use those.
bool is_glibc(const std::string& name) {
  static const std::set<std::string> names = {
      "libc.so.6",   "libm.so.6",      "libpthread.so.0",     "libdl.so.2",
      "librt.so.1",  "libresolv.so.2", "libutil.so.1",        "libmvec.so.1",
      "libanl.so.1", "libnsl.so.1",    "ld-linux-x86-64.so.2"};
  return names.count(name) > 0;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A path as a TOML basic string's content; paths needing escapes are refused.
std::string toml_path(const std::string& p) {
  for (char c : p)
    TS_CHECK(c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20, "the path '", p,
             "' has a character a Gramine manifest would need escaped; move it");
  return p;
}

std::string size_text(size_t bytes) {
  if (bytes >= (size_t{1} << 30) && bytes % (size_t{1} << 30) == 0)
    return std::to_string(bytes >> 30) + "G";
  return std::to_string(bytes / kMiB) + "M";
}

// Absolute and normalised, without a trailing '/'; symbolic links are kept, as
// the launcher passes the same form (Gramine mounts the paths as written).
std::string absolute_path(const std::string& p) {
  fs::path a = fs::absolute(p).lexically_normal();
  if (!a.has_filename() && a.has_parent_path() && a != a.root_path()) a = a.parent_path();
  return a.string();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  size_t at = 0;
  int n = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
    ++n;
  }
  TS_CHECK(n > 0, "the Gramine manifest template has no placeholder ", from);
}

}  // namespace

const char* gramine_manifest_template() {
  return kBuiltInTemplate;
}

size_t round_up_to_power_of_two(size_t n) {
  size_t p = 1;
  while (p < n) {
    TS_CHECK(p <= (SIZE_MAX >> 1), "size ", n, " has no power of two above it");
    p <<= 1;
  }
  return p;
}

std::vector<SharedLibrary> shared_libraries(const std::string& binary) {
  TS_CHECK(fs::is_regular_file(binary), binary, ": no such file");
  const std::string cmd = "ldd " + shell_quote(binary) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  TS_CHECK(p, "cannot run ldd on ", binary);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  TS_CHECK(status == 0, "ldd ", binary, " failed: ", out);
  std::vector<SharedLibrary> libs;
  size_t i = 0;
  while (i < out.size()) {
    size_t j = out.find('\n', i);
    if (j == std::string::npos) j = out.size();
    std::string line = out.substr(i, j - i);
    i = j + 1;
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    line = line.substr(b);
    if (const size_t paren = line.rfind(" ("); paren != std::string::npos)
      line = line.substr(0, paren);  // the load address
    SharedLibrary lib;
    if (const size_t arrow = line.find(" => "); arrow != std::string::npos) {
      lib.name = line.substr(0, arrow);
      lib.path = line.substr(arrow + 4);
      TS_CHECK(lib.path != "not found", binary, " needs ", lib.name, ", which ldd did not find");
    } else {
      lib.path = line;
      lib.name = fs::path(line).filename().string();
    }
    if (lib.name.rfind("linux-vdso", 0) == 0 || lib.path.empty() || lib.path[0] != '/') continue;
    lib.from_gramine = is_glibc(lib.name);
    libs.push_back(lib);
  }
  TS_CHECK(!libs.empty(), "ldd found no shared library in ", binary, " (", out, ")");
  return libs;
}

GramineManifest render_gramine_manifest(const GramineManifestOptions& o) {
  TS_CHECK(o.threads >= 1 && o.threads <= 256, "threads must be 1 to 256");
  TS_CHECK(o.isv_prod_id >= 0 && o.isv_prod_id <= 65535 && o.isv_svn >= 0 && o.isv_svn <= 65535,
           "ISV product id and SVN are 16-bit numbers");
  GramineManifest m;
  const std::string binary =
      absolute_path(o.enclave_binary.empty() ? default_enclave_binary() : o.enclave_binary);
  const SplitFiles files = read_split_files(absolute_path(o.split_dir), false);
  const std::string split_dir = fs::path(files.manifest_path).parent_path().string();
  m.libraries = shared_libraries(binary);

  // What the worker holds: the front as compiled on oneDNN, as the worker does.
  m.parts.binary = fs::file_size(binary);
  for (const auto& lib : m.libraries) m.parts.libraries += fs::file_size(lib.path);
  // The tail partition (split --protect-output) runs in the enclave too.
  m.parts.front_file = files.front_bytes.size() + files.tail_bytes.size();
  if (o.front_peak_bytes) {
    m.parts.front_peak = *o.front_peak_bytes;
  } else {
    TS_CHECK(!files.manifest.encrypted || o.key, files.front_path,
             " is sealed: give its key (--key) to count its peak memory, or the peak "
             "(--front-peak-mib)");
    const Graph front = load_split_front(files, o.key);
    CompileOptions co;
    co.threads = o.threads;
    const RunStats st = make_onednn_backend()->compile(front, co)->stats();
    m.parts.front_peak = st.weight_bytes + st.peak_activation_bytes;
    if (files.manifest.tail) {
      const RunStats ts =
          make_onednn_backend()->compile(load_split_tail(files, o.key), co)->stats();
      m.parts.front_peak += ts.weight_bytes + ts.peak_activation_bytes;
    }
  }
  m.parts.stacks = size_t(o.threads + kHelperThreads) * kStackBytes;
  m.parts.runtime = kRuntimeBytes;
  const size_t sum = m.parts.sum();
  m.needed = sum + sum / 4;
  m.enclave_size = std::max(round_up_to_power_of_two(m.needed), 256 * kMiB);

  // Identity mounts (the same paths inside as outside, so that the launcher's
  // arguments work as they are): the library directories, the worker's
  // directory, the split. A directory inside one already mounted is skipped.
  std::vector<std::string> lib_dirs;
  for (const auto& lib : m.libraries)
    if (!lib.from_gramine) lib_dirs.push_back(fs::path(lib.path).parent_path().string());
  std::vector<std::string> dirs = lib_dirs;
  dirs.push_back(fs::path(binary).parent_path().string());
  dirs.push_back(split_dir);
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<std::string> mounts;
  for (const auto& d : dirs) {
    const bool inside = std::any_of(mounts.begin(), mounts.end(), [&](const std::string& p) {
      return d.size() > p.size() && d.compare(0, p.size(), p) == 0 && d[p.size()] == '/';
    });
    if (!inside) mounts.push_back(d);
  }
  std::sort(lib_dirs.begin(), lib_dirs.end());
  lib_dirs.erase(std::unique(lib_dirs.begin(), lib_dirs.end()), lib_dirs.end());

  m.trusted_files.push_back(binary);
  for (const auto& lib : m.libraries)
    if (!lib.from_gramine) m.trusted_files.push_back(lib.path);
  m.trusted_files.push_back(files.manifest_path);
  m.trusted_files.push_back(files.front_path);
  if (!files.tail_path.empty()) m.trusted_files.push_back(files.tail_path);

  std::string mount_lines, trusted_lines, library_path;
  for (const auto& d : mounts)
    mount_lines += "  { path = \"" + toml_path(d) + "\", uri = \"file:" + toml_path(d) + "\" },\n";
  if (!mount_lines.empty()) mount_lines.erase(mount_lines.size() - 2, 1);  // the last comma
  for (const auto& f : m.trusted_files) trusted_lines += "  \"file:" + toml_path(f) + "\",\n";
  trusted_lines.erase(trusted_lines.size() - 2, 1);
  for (const auto& d : lib_dirs) library_path += (library_path.empty() ? "" : ":") + d;

  std::string t = o.template_text.empty() ? kBuiltInTemplate : o.template_text;
  replace_all(t, "@ENTRYPOINT@", toml_path(binary));
  replace_all(t, "@LIBRARY_PATH@", library_path);
  replace_all(t, "@THREADS@", std::to_string(o.threads));
  replace_all(t, "@MOUNTS@\n", mount_lines);
  replace_all(t, "@TRUSTED_FILES@\n", trusted_lines);
  replace_all(t, "@ENCLAVE_SIZE@", size_text(m.enclave_size));
  replace_all(t, "@MAX_THREADS@", std::to_string(o.threads + kHelperThreads + 2));
  replace_all(t, "@ISVPRODID@", std::to_string(o.isv_prod_id));
  replace_all(t, "@ISVSVN@", std::to_string(o.isv_svn));
  // Every placeholder of ours filled: none of the form @NAME@ is left.
  for (size_t at = t.find('@'); at != std::string::npos; at = t.find('@', at + 1)) {
    size_t e = at + 1;
    while (e < t.size() && (std::isupper(static_cast<unsigned char>(t[e])) || t[e] == '_')) ++e;
    TS_CHECK(!(e > at + 1 && e < t.size() && t[e] == '@'),
             "the Gramine manifest template has a placeholder teesplit does not fill: ",
             t.substr(at, e - at + 1));
  }
  // What the size counts, for the reader of the manifest.
  auto mib = [](size_t b) { return std::to_string((b + kMiB - 1) / kMiB); };
  t += "\n# sgx.enclave_size counted by teesplit gramine-manifest (MiB, rounded up):\n"
       "#   worker binary " +
       mib(m.parts.binary) + ", libraries " + mib(m.parts.libraries) +
       ", front.tsf twice (file and loaded) " + mib(2 * m.parts.front_file) +
       ", front peak on oneDNN (weights + activations) " + mib(m.parts.front_peak) + ", stacks " +
       mib(m.parts.stacks) + ", Gramine and runtime " + mib(m.parts.runtime) + "\n#   sum " +
       mib(sum) + ", plus a quarter " + mib(m.needed) + ", rounded up to a power of two " +
       mib(m.enclave_size) + "\n";
  m.text = t;
  return m;
}

}  // namespace teesplit
