#include "serve/metrics.h"

#include <httplib.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/error.h"

namespace teesplit::serve {

namespace {

// Shortest round-trip text of a double; "+Inf" for infinity (the format's spelling).
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

std::string braces(const std::string& labels) {
  return labels.empty() ? std::string() : "{" + labels + "}";
}

const std::vector<double> kSecondsBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256};

}  // namespace

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;  // le: v <= bound
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

uint64_t Histogram::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string sep = labels.empty() ? "" : labels + ",";
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const double le = i < bounds_.size() ? bounds_[i] : INFINITY;
    out +=
        name + "_bucket{" + sep + "le=\"" + number(le) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum" + braces(labels) + " " + number(sum_) + "\n";
  out += name + "_count" + braces(labels) + " " + std::to_string(count_) + "\n";
  return out;
}

Metrics::Metrics() : batch_(kBatchBounds) {
  for (const char* s : {"front", "batch_wait", "back", "tail"})
    stages_.emplace(s, std::make_unique<Histogram>(kSecondsBounds));
}

void Metrics::answered(const std::string& rpc, const std::string& code) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[rpc];
  if (code != "OK") ++errors_[{rpc, code}];
}

void Metrics::enclave_restarted() {
  ++restarts_;
}

void Metrics::stage(const std::string& stage, double seconds) {
  auto it = stages_.find(stage);
  TS_CHECK(it != stages_.end(), "unknown stage '", stage, "'");
  it->second->observe(seconds);
}

void Metrics::deadline_passed(const std::string& stage) {
  std::lock_guard<std::mutex> lock(mu_);
  ++deadlines_[stage];
}

void Metrics::refused(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++refusals_[reason];
}

void Metrics::back_batch(int64_t samples) {
  batch_.observe(static_cast<double>(samples));
}

std::string Metrics::render() const {
  std::string out;
  // Each metric's HELP and TYPE lines, then its samples: one group per name.
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP teesplit_requests_total RPCs answered, by method.\n";
  out += "# TYPE teesplit_requests_total counter\n";
  for (const auto& [rpc, n] : requests_)
    out += "teesplit_requests_total{rpc=\"" + escape_label_value(rpc) + "\"} " + std::to_string(n) +
           "\n";
  out += "# HELP teesplit_errors_total RPCs answered with an error, by method and gRPC status.\n";
  out += "# TYPE teesplit_errors_total counter\n";
  for (const auto& [key, n] : errors_)
    out += "teesplit_errors_total{rpc=\"" + escape_label_value(key.first) + "\",kind=\"" +
           escape_label_value(key.second) + "\"} " + std::to_string(n) + "\n";
  out +=
      "# HELP teesplit_enclave_restarts_total Enclave workers that died and were started "
      "again.\n";
  out += "# TYPE teesplit_enclave_restarts_total counter\n";
  out += "teesplit_enclave_restarts_total " + std::to_string(restarts_.load()) + "\n";
  out += "# HELP teesplit_queue_depth Requests waiting for an enclave worker.\n";
  out += "# TYPE teesplit_queue_depth gauge\n";
  out += "teesplit_queue_depth " + std::to_string(queue_depth_.load()) + "\n";
  out += "# HELP teesplit_back_queue_depth Feature maps waiting for the back partition.\n";
  out += "# TYPE teesplit_back_queue_depth gauge\n";
  out += "teesplit_back_queue_depth " + std::to_string(back_queue_depth_.load()) + "\n";
  out += "# HELP teesplit_draining 1 while the server drains: new requests are refused.\n";
  out += "# TYPE teesplit_draining gauge\n";
  out += std::string("teesplit_draining ") + (draining_ ? "1" : "0") + "\n";
  out +=
      "# HELP teesplit_deadline_exceeded_total Requests whose deadline passed before a stage, "
      "which was not computed.\n";
  out += "# TYPE teesplit_deadline_exceeded_total counter\n";
  for (const auto& [stage, n] : deadlines_)
    out += "teesplit_deadline_exceeded_total{stage=\"" + escape_label_value(stage) + "\"} " +
           std::to_string(n) + "\n";
  out += "# HELP teesplit_refused_total Requests refused at once, by reason.\n";
  out += "# TYPE teesplit_refused_total counter\n";
  for (const auto& [reason, n] : refusals_)
    out += "teesplit_refused_total{reason=\"" + escape_label_value(reason) + "\"} " +
           std::to_string(n) + "\n";
  out +=
      "# HELP teesplit_feature_maps_total Feature maps handed to the back partition, by how "
      "they reached their batch row: read from the worker straight into it (row) or copied "
      "from the whole reply (copy).\n";
  out += "# TYPE teesplit_feature_maps_total counter\n";
  out += "teesplit_feature_maps_total{into=\"row\"} " + std::to_string(in_place_.load()) + "\n";
  out += "teesplit_feature_maps_total{into=\"copy\"} " + std::to_string(copied_.load()) + "\n";
  out += "# HELP teesplit_requests_in_flight Requests being handled.\n";
  out += "# TYPE teesplit_requests_in_flight gauge\n";
  out += "teesplit_requests_in_flight " + std::to_string(in_flight_.load()) + "\n";
  out += "# HELP teesplit_stage_seconds Time of one request in each stage.\n";
  out += "# TYPE teesplit_stage_seconds histogram\n";
  for (const auto& [stage, h] : stages_)
    out += h->render("teesplit_stage_seconds", "stage=\"" + escape_label_value(stage) + "\"");
  out += "# HELP teesplit_back_batch_size Samples in one call of the back partition.\n";
  out += "# TYPE teesplit_back_batch_size histogram\n";
  out += batch_.render("teesplit_back_batch_size", "");
  return out;
}

struct MetricsHttpServer::Impl {
  httplib::Server http;
  std::thread thread;
};

MetricsHttpServer::MetricsHttpServer(const std::string& listen, const Metrics& metrics)
    : impl_(std::make_unique<Impl>()) {
  const size_t colon = listen.rfind(':');
  TS_CHECK(colon != std::string::npos && colon > 0, "--metrics-listen '", listen,
           "': expected HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = -1;
  const std::string p = listen.substr(colon + 1);
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  TS_CHECK(ec == std::errc() && end == p.data() + p.size() && port >= 0 && port <= 65535,
           "--metrics-listen '", listen, "': port '", p, "' is not a number in 0..65535");
  impl_->http.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (port == 0) {
    port = impl_->http.bind_to_any_port(host);
    TS_CHECK(port > 0, "--metrics-listen ", listen, ": cannot bind ", host);
  } else {
    TS_CHECK(impl_->http.bind_to_port(host, port), "--metrics-listen ", listen, ": cannot bind it");
  }
  address_ = listen.substr(0, colon) + ":" + std::to_string(port);
  impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace teesplit::serve
