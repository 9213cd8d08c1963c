// The back partition's stage of `teesplit serve`: dynamic batching. Feature
// maps that the enclave workers hand the host queue here; one thread takes up
// to max_batch of them, waiting at most max_delay after the oldest for more
// (less when a request in it would miss its deadline by waiting: the batch
// closes at that deadline less twice the back partition's recent run time and a
// tenth of the time the request had left when queued), runs
// the back partition once on the batch and gives each request its row of the
// result. The workers go on with the next fronts meanwhile, so the enclave
// and the accelerator stages overlap (a pipeline).
//
// The batch is assembled in the host memory the back endpoint asks for
// (BackEndpoint::batch_memory: page-locked for the CUDA backend, which then
// uploads it without a staging copy), straight from the worker's reply: each
// request is given its row when it arrives and copies its feature map there on
// its own thread (or, with reserve(), has it read from the worker's socket
// straight into the row), into one buffer while the back partition runs the
// batch of another. The batching thread only closes batches and runs them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "serve/back_endpoint.h"
#include "serve/metrics.h"

namespace teesplit::serve {

using Clock = std::chrono::steady_clock;

// A request whose deadline passed before a stage ran; that stage was not computed.
class DeadlineExceeded : public Error {
 public:
  explicit DeadlineExceeded(const std::string& msg) : Error(msg) {}
};

struct BatchOptions {
  int max_batch = 1;                       // 1..4096; 1: every request on its own
  std::chrono::microseconds max_delay{0};  // the longest the oldest request waits for company
};

class BackBatcher {
  struct Buffer;  // max_batch rows of feature maps (below)

 public:
  // feature_shape: one request's feature map, batch dimension 1. metrics may be null.
  BackBatcher(BackEndpoint& back, Shape feature_shape, BatchOptions opts, Metrics* metrics);
  ~BackBatcher();  // stop()
  BackBatcher(const BackBatcher&) = delete;
  BackBatcher& operator=(const BackBatcher&) = delete;

  // One request's feature map (float32 bytes of feature_shape, read where the
  // worker's reply holds them: `keep` owns them, and is released once they are
  // copied into the batch, before the batch runs) through the back partition;
  // blocks until its row of the result, shape [1, ...]. Throws what the back
  // partition threw (every request of that batch fails alike), DeadlineExceeded
  // when `deadline` passed before its batch ran, or Error once stopped.
  Tensor run(std::span<const uint8_t> feature, std::shared_ptr<const void> keep,
             Clock::time_point deadline);

  // run() in two steps, for a caller that writes the feature map into its row
  // itself (the server reads it from the worker's socket straight there):
  // reserve() hands out a row (`dst`, feature_bytes() long) of the batch that is
  // filling; its batch does not run before finish() or abandon() says the row
  // is done with, so the write must be bounded in time. finish() then waits for
  // the row's result, as run() does; abandon() (the write failed) leaves the row
  // out of its batch. Each reservation ends in exactly one of the two. Throws
  // Error once stopped.
  struct Reservation {
    uint8_t* dst = nullptr;
    std::shared_ptr<Buffer> buf;  // the batch buffer, kept alive
    size_t row = 0;
    std::future<Tensor> result;
  };
  Reservation reserve(Clock::time_point deadline);
  Tensor finish(Reservation r);
  void abandon(Reservation r);
  size_t feature_bytes() const { return feature_bytes_; }
  // Feature maps waiting for the back partition.
  size_t depth() const;
  // Fails what is still queued and ends the thread; later run() calls throw.
  void stop();

 private:
  // max_batch rows of feature maps: a batch is the rows of one buffer.
  struct Buffer {
    std::shared_ptr<std::byte> mem;
    size_t reserved = 0;            // rows handed to requests (mu_)
    size_t written = 0;             // rows whose feature map is copied in, or abandoned (mu_)
    std::vector<size_t> abandoned;  // rows left out of the batch (mu_)
  };
  struct Pending {
    std::shared_ptr<Buffer> buf;
    size_t row = 0;
    Clock::time_point deadline, queued;
    std::promise<Tensor> result;
  };
  void loop();
  void run_batch(Buffer& buf, std::vector<Pending>& batch);
  // When the batch at the queue's front closes (mu_ held, queue not empty).
  Clock::time_point close_locked(size_t rows) const;
  // A buffer with no rows handed out: a spare one, or a new one (mu_ held).
  std::shared_ptr<Buffer> take_buffer_locked();
  // After its batch ran: kept for reuse, up to a bound (mu_ held).
  void give_back_locked(std::shared_ptr<Buffer> buf);
  // A reserved row is written (or abandoned): its batch may run once all are.
  void row_done(Buffer& buf, size_t row, bool abandoned);

  BackEndpoint& back_;
  Shape feature_shape_;
  size_t feature_bytes_;
  BatchOptions opts_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;     // in row order; a batch is a prefix
  std::shared_ptr<Buffer> open_;  // where arriving requests get rows
  std::vector<std::shared_ptr<Buffer>> spare_;
  std::chrono::microseconds back_estimate_{0};  // recent back partition run time (mu_)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace teesplit::serve
