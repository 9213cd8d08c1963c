// Throughput and memory of the TON_IoT pipeline: writes a synthetic CSV with the real
// Train_Test_Network.csv header (default 1,000,000 rows) to a temporary file, fits the
// feature encoder (one streaming pass) and encodes every row (a second pass), then prints
// rows/s per pass and the peak resident set size from getrusage.
//   bench_ton_iot [ROWS] [SIDE]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "data/ton_iot.h"

namespace {

const char* kHeader =
    "src_ip,src_port,dst_ip,dst_port,proto,service,duration,src_bytes,dst_bytes,conn_state,"
    "missed_bytes,src_pkts,src_ip_bytes,dst_pkts,dst_ip_bytes,dns_query,dns_qclass,dns_qtype,"
    "dns_rcode,dns_AA,dns_RD,dns_RA,dns_rejected,ssl_version,ssl_cipher,ssl_resumed,"
    "ssl_established,ssl_subject,ssl_issuer,http_trans_depth,http_method,http_uri,http_version,"
    "http_request_body_len,http_response_body_len,http_status_code,http_user_agent,"
    "http_orig_mime_types,http_resp_mime_types,weird_name,weird_addl,weird_notice,label,type\n";

uint64_t rng_state = 88172645463325252ULL;
uint64_t rnd() {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
template <size_t N>
const char* pick(const char* const (&v)[N]) {
  return v[rnd() % N];
}

void write_csv(const std::string& path, int64_t rows) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) teesplit::fail("cannot create ", path);
  std::fputs(kHeader, f);
  static const char* const kTypes[] = {"normal", "backdoor", "ddos",       "dos",      "injection",
                                       "mitm",   "password", "ransomware", "scanning", "xss"};
  static const char* const kProto[] = {"tcp", "udp", "icmp"};
  static const char* const kService[] = {"-", "dns", "http", "ssl", "ftp"};
  static const char* const kState[] = {"S0", "SF", "REJ", "OTH", "RSTR", "SH"};
  static const char* const kQuery[] = {"-", "www.example.com", "api.test.org", "a.b.c.d.e"};
  static const char* const kBool[] = {"T", "F", "-"};
  static const char* const kUri[] = {"-", "/index.html", "\"/q?a=1,b=2\"", "/login.php"};
  static const char* const kAgent[] = {"-", "\"Mozilla/5.0 (X11, Linux x86_64)\"", "curl/7.88"};
  for (int64_t i = 0; i < rows; ++i) {
    const char* type = kTypes[rnd() % 10];
    std::fprintf(f,
                 "192.168.1.%d,%d,10.0.0.%d,%d,%s,%s,%.6f,%llu,%llu,%s,0,%d,%d,%d,%d,%s,%d,%d,%d,"
                 "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d,%d,%d,%s,%s,%s,%s,%s,%s,%d,%s\n",
                 int(rnd() % 255), int(rnd() % 65536), int(rnd() % 255), int(rnd() % 1024),
                 pick(kProto), pick(kService), (rnd() % 100000) / 1000.0,
                 (unsigned long long)(rnd() % 1000000), (unsigned long long)(rnd() % 100000),
                 pick(kState), int(rnd() % 100), int(rnd() % 10000), int(rnd() % 100),
                 int(rnd() % 10000), pick(kQuery), int(rnd() % 2), int(rnd() % 30), int(rnd() % 4),
                 pick(kBool), pick(kBool), pick(kBool), pick(kBool), rnd() % 2 ? "-" : "TLSv12",
                 rnd() % 2 ? "-" : "TLS_AES_128_GCM_SHA256", pick(kBool), pick(kBool),
                 rnd() % 2 ? "-" : "CN=host", "-", rnd() % 2 ? "-" : "1", rnd() % 2 ? "-" : "GET",
                 pick(kUri), rnd() % 2 ? "-" : "1.1", int(rnd() % 500), int(rnd() % 5000),
                 int(rnd() % 2) * 200, pick(kAgent), "-", "-",
                 rnd() % 10 ? "-" : "bad_TCP_checksum", "-", rnd() % 2 ? "F" : "T",
                 type[0] == 'n' ? 0 : 1, type);
  }
  if (std::fclose(f) != 0) teesplit::fail("error writing ", path);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = argc > 1 ? std::atoll(argv[1]) : 1000000;
  int64_t side = argc > 2 ? std::atoll(argv[2]) : 8;
  std::string path = (std::filesystem::temp_directory_path() /
                      ("bench_ton_iot_" + std::to_string(getpid()) + ".csv"))
                         .string();
  try {
    auto t0 = std::chrono::steady_clock::now();
    write_csv(path, rows);
    double tw = seconds_since(t0);
    long rss_after_write = peak_rss_kib();
    double mb = std::filesystem::file_size(path) / 1e6;
    std::printf("generated %lld rows (%.1f MB) in %.2f s\n", (long long)rows, mb, tw);

    teesplit::FeatureEncoderOptions opt;
    opt.side = side;
    t0 = std::chrono::steady_clock::now();
    teesplit::FeatureEncoder enc = teesplit::FeatureEncoder::fit(path, opt);
    double tf = seconds_since(t0);
    std::printf("fit:    %lld rows in %.2f s = %.0f rows/s (%.0f MB/s), %lld train rows\n",
                (long long)rows, tf, rows / tf, mb / tf, (long long)enc.fitted_rows());

    t0 = std::chrono::steady_clock::now();
    teesplit::TonIotReader reader(path, &enc);
    teesplit::TonIotRow row;
    int64_t n = 0;
    double checksum = 0;
    while (reader.next(row)) {
      ++n;
      checksum += row.features[0] + row.label;
    }
    double te = seconds_since(t0);
    std::printf("encode: %lld rows in %.2f s = %.0f rows/s (%.0f MB/s), checksum %.3f\n",
                (long long)n, te, n / te, mb / te, checksum);
    std::printf("peak RSS: %.1f MiB (%.1f MiB before fitting)\n", peak_rss_kib() / 1024.0,
                rss_after_write / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ton_iot: %s\n", e.what());
    std::filesystem::remove(path);
    return 1;
  }
  std::filesystem::remove(path);
  return 0;
}
