// The host's metrics in the Prometheus text exposition format (version 0.0.4),
// served at /metrics over HTTP by cpp-httplib (libcpp-httplib-dev) on
// `serve --metrics-listen ADDR`. The names and what they count:
// docs/usage.md, "Metrics".
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace teesplit::serve {

// Cumulative-bucket histogram with fixed upper bounds (+Inf implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Lines `NAME_bucket{LABELS,le="..."} N`, `NAME_sum{LABELS}`, `NAME_count{LABELS}`;
  // labels: "" or `a="b",c="d"` (already escaped).
  std::string render(const std::string& name, const std::string& labels) const;
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last: above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // One RPC answered: teesplit_requests_total{rpc}, and when code is not "OK"
  // teesplit_errors_total{rpc,kind} with kind the gRPC status code's name.
  void answered(const std::string& rpc, const std::string& code);
  // A worker that died and was started again: teesplit_enclave_restarts_total.
  void enclave_restarted();
  // Seconds spent in one stage of a request: teesplit_stage_seconds{stage}
  // (front: the enclave worker; batch_wait: queued for the back partition;
  // back: the back partition's call on the request's batch; tail: the
  // enclave's tail).
  void stage(const std::string& stage, double seconds);
  // Samples in one call of the back partition: teesplit_back_batch_size.
  void back_batch(int64_t samples);
  // A feature map handed to the back partition: read from the worker's socket
  // straight into its batch row (in_place), or copied there from the whole
  // reply (serve --worker-timeout 0, or a reply the host could not place):
  // teesplit_feature_maps_total{into="row"|"copy"}.
  void feature_map(bool in_place) { ++(in_place ? in_place_ : copied_); }
  // Feature maps waiting for the back partition (serve/batcher.h), changed by
  // delta: teesplit_back_queue_depth.
  void back_queue(int64_t delta) { back_queue_depth_ += delta; }
  // A request whose deadline passed before `stage` (front, back, tail), which
  // was therefore not computed: teesplit_deadline_exceeded_total{stage}.
  void deadline_passed(const std::string& stage);
  // A request refused at once, before any work: teesplit_refused_total{reason}
  // (queue_full: the server holds --max-queue requests; draining: SIGTERM).
  void refused(const std::string& reason);
  // teesplit_draining: 1 once the server drains (refuses new requests).
  void set_draining() { draining_ = true; }
  // Requests waiting for an enclave worker: teesplit_queue_depth. Queued while
  // the guard lives.
  class Queued {
   public:
    explicit Queued(std::atomic<int64_t>& g) : g_(g) { ++g_; }
    ~Queued() { --g_; }
    Queued(const Queued&) = delete;
    Queued& operator=(const Queued&) = delete;

   private:
    std::atomic<int64_t>& g_;
  };
  Queued queued() { return Queued(queue_depth_); }
  // Requests being handled: teesplit_requests_in_flight.
  Queued in_flight() { return Queued(in_flight_); }

  // Every metric with its HELP and TYPE lines.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> requests_;                        // rpc
  std::map<std::pair<std::string, std::string>, uint64_t> errors_;  // (rpc, kind)
  std::map<std::string, std::unique_ptr<Histogram>> stages_;
  std::map<std::string, uint64_t> deadlines_, refusals_;  // by stage, by reason
  Histogram batch_;
  std::atomic<uint64_t> restarts_{0}, in_place_{0}, copied_{0};
  std::atomic<int64_t> queue_depth_{0}, in_flight_{0}, back_queue_depth_{0};
  std::atomic<bool> draining_{false};
};

// A label value escaped for the text format (backslash, double quote, newline).
std::string escape_label_value(const std::string& v);

// GET /metrics over HTTP on its own thread (cpp-httplib). listen: HOST:PORT,
// port 0 picks a free one.
class MetricsHttpServer {
 public:
  MetricsHttpServer(const std::string& listen, const Metrics& metrics);
  ~MetricsHttpServer();
  const std::string& address() const { return address_; }  // HOST:PORT as bound

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace teesplit::serve
