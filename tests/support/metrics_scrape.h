// Reading a running server's /metrics in tests (header-only: only the tests
// that scrape link cpp-httplib).
#pragma once

#include <httplib.h>

#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace teesplit::testing {

// The sample lines of a text exposition: "NAME{LABELS}" -> value.
inline std::map<std::string, double> metric_samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    const std::string v = line.substr(sp + 1);
    out[line.substr(0, sp)] = v == "+Inf" ? INFINITY : std::stod(v);
  }
  return out;
}

// Where `teesplit serve --metrics-listen` serves, from the line "metrics on
// http://HOST:PORT/metrics" of its stdout (the file out_path); port 0 if absent.
struct MetricsEndpoint {
  std::string host;
  int port = 0;
};
inline MetricsEndpoint metrics_endpoint(const std::string& out_path) {
  MetricsEndpoint e;
  std::ifstream in(out_path);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, std::regex(R"(metrics on http://([0-9.]+):([0-9]+)/metrics)"))) {
      e.host = m[1];
      e.port = std::stoi(m[2]);
    }
  return e;
}

// GET /metrics, parsed; empty when the server does not answer 200.
inline std::map<std::string, double> scrape_metrics(const MetricsEndpoint& e,
                                                    std::string* body = nullptr) {
  httplib::Client http(e.host, e.port);
  const auto res = http.Get("/metrics");
  if (!res || res->status != 200) return {};
  if (body) *body = res->body;
  return metric_samples(res->body);
}

}  // namespace teesplit::testing
