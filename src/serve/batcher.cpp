#include "serve/batcher.h"

#include <algorithm>
#include <cstring>

namespace teesplit::serve {

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

BackBatcher::BackBatcher(BackEndpoint& back, Shape feature_shape, BatchOptions opts,
                         Metrics* metrics)
    : back_(back), feature_shape_(std::move(feature_shape)), opts_(opts), metrics_(metrics) {
  TS_CHECK(opts_.max_batch >= 1 && opts_.max_batch <= 4096, "--max-batch must be 1..4096, not ",
           opts_.max_batch);
  TS_CHECK(opts_.max_delay.count() >= 0 && opts_.max_delay <= std::chrono::seconds(10),
           "--max-delay-ms must be 0..10000");
  TS_CHECK(!feature_shape_.empty() && feature_shape_[0] == 1,
           "the split's feature map must have a batch dimension of 1, not ",
           shape_str(feature_shape_));
  feature_bytes_ = Tensor(DType::F32, feature_shape_).nbytes();
  // Two buffers at start (the one filling and the one running), so that the
  // first requests do not wait for page-locked allocations.
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = take_buffer_locked();
    give_back_locked(take_buffer_locked());
  }
  thread_ = std::thread([this] { loop(); });
}

BackBatcher::~BackBatcher() {
  stop();
}

size_t BackBatcher::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void BackBatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<BackBatcher::Buffer> BackBatcher::take_buffer_locked() {
  if (!spare_.empty()) {
    std::shared_ptr<Buffer> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  auto b = std::make_shared<Buffer>();
  b->mem = back_.batch_memory(feature_bytes_ * static_cast<size_t>(opts_.max_batch));
  TS_CHECK(b->mem, "the back endpoint gave no memory for a batch");
  return b;
}

void BackBatcher::give_back_locked(std::shared_ptr<Buffer> buf) {
  // Spares up to 256 MiB, and at least two: a burst's buffers are reused, not
  // allocated and freed again (page-locked memory is slow to get, and freeing it
  // can wait for the device), yet a large batch does not hold many. With
  // --max-batch 1 each request has a buffer of its own.
  constexpr size_t kSpareBytes = size_t{256} << 20;
  const size_t bytes = feature_bytes_ * static_cast<size_t>(opts_.max_batch);
  const size_t keep = std::max<size_t>(2, kSpareBytes / std::max<size_t>(bytes, 1));
  buf->reserved = buf->written = 0;
  buf->abandoned.clear();
  if (spare_.size() < keep) spare_.push_back(std::move(buf));
}

BackBatcher::Reservation BackBatcher::reserve(Clock::time_point deadline) {
  Reservation r;
  std::shared_ptr<Buffer> buf;
  {
    std::lock_guard<std::mutex> lock(mu_);
    TS_CHECK(!stop_, "the server is shutting down");
    // A row in the open buffer; a full (or closed) one is replaced.
    if (!open_ || open_->reserved == static_cast<size_t>(opts_.max_batch))
      open_ = take_buffer_locked();
    buf = open_;
    r.row = buf->reserved++;
    Pending p;
    p.buf = buf;
    p.row = r.row;
    p.deadline = deadline;
    p.queued = Clock::now();
    r.result = p.result.get_future();
    queue_.push_back(std::move(p));
    if (metrics_) metrics_->back_queue(+1);
  }
  cv_.notify_one();
  r.dst = reinterpret_cast<uint8_t*>(buf->mem.get()) + r.row * feature_bytes_;
  r.buf = std::move(buf);
  return r;
}

void BackBatcher::row_done(Buffer& buf, size_t row, bool abandoned) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned) buf.abandoned.push_back(row);
    ++buf.written;
  }
  cv_.notify_one();
}

Tensor BackBatcher::finish(Reservation r) {
  TS_CHECK(r.buf, "batcher: finish() without a reservation");
  row_done(*r.buf, r.row, false);
  return r.result.get();
}

void BackBatcher::abandon(Reservation r) {
  if (!r.buf) return;
  row_done(*r.buf, r.row, true);
}

Tensor BackBatcher::run(std::span<const uint8_t> feature, std::shared_ptr<const void> keep,
                        Clock::time_point deadline) {
  TS_CHECK(feature.size() == feature_bytes_, "a feature map of ", feature.size(),
           " bytes; the split's ", shape_str(feature_shape_), " has ", feature_bytes_);
  Reservation r = reserve(deadline);
  // The copy, on this thread, while the batching thread runs another batch.
  // The batch this row is in does not run before it is written.
  std::memcpy(r.dst, feature.data(), feature_bytes_);
  keep.reset();  // the worker's reply is no longer needed
  return finish(std::move(r));
}

void BackBatcher::loop() {
  const size_t max_batch = static_cast<size_t>(opts_.max_batch);
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) {
        for (Pending& p : queue_)
          p.result.set_exception(std::make_exception_ptr(Error("the server is shutting down")));
        if (metrics_) metrics_->back_queue(-static_cast<int64_t>(queue_.size()));
        queue_.clear();
        return;
      }
      // Wait for company until the oldest request has waited max_delay, or
      // until waiting longer would make a request of this batch miss its
      // deadline: its deadline less the back partition's recent run time.
      // The batch is the front buffer's rows: the first `reserved` of the queue.
      const std::shared_ptr<Buffer> buf = queue_.front().buf;
      for (Clock::time_point close = close_locked(buf->reserved);
           !stop_ && buf->reserved < max_batch && Clock::now() < close;
           close = close_locked(buf->reserved))
        cv_.wait_until(lock, close);
      if (stop_) continue;              // fails the queue above
      if (buf == open_) open_.reset();  // closed: later requests get a new buffer
      const size_t n = buf->reserved;
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        TS_CHECK(queue_.front().buf == buf && queue_.front().row == i,
                 "batcher: the queue is out of row order");  // a bug, not an input
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (metrics_) metrics_->back_queue(-static_cast<int64_t>(n));
      // Its rows are being copied in by their requests' threads: wait for them
      // (they never block, and stop() waits for this batch anyway).
      cv_.wait(lock, [&] { return buf->written == n; });
      lock.unlock();
      run_batch(*buf, batch);
      lock.lock();
      give_back_locked(buf);
    }
  }
}

Clock::time_point BackBatcher::close_locked(size_t rows) const {
  Clock::time_point close = queue_.front().queued + opts_.max_delay;
  // Twice the estimate, and 1 ms: a run slower than the average, or a late
  // wake-up, should not miss the deadline. And a tenth of the time the request
  // had left when it was queued: the deadline the server sees can be later than
  // the client's, since gRPC rounds a timeout up when it sends it (a client's
  // 1 s arrived here as about 1.01 s).
  const auto margin = 2 * back_estimate_ + std::chrono::milliseconds(1);
  for (size_t i = 0; i < rows && i < queue_.size(); ++i) {
    const Pending& p = queue_[i];
    if (p.deadline == Clock::time_point::max()) continue;
    const auto rounding = p.deadline > p.queued ? (p.deadline - p.queued) / 10 : Clock::duration{0};
    close = std::min(close, p.deadline - margin - rounding);
  }
  return close;
}

void BackBatcher::run_batch(Buffer& buf, std::vector<Pending>& batch) {
  // A request whose deadline has passed is answered, not computed.
  const Clock::time_point start = Clock::now();
  std::vector<Pending> live;
  live.reserve(batch.size());
  for (Pending& p : batch) {
    // A row whose write failed: its request has gone (with its error) and is
    // not computed; like a late one, it leaves a gap that is closed below.
    if (std::find(buf.abandoned.begin(), buf.abandoned.end(), p.row) != buf.abandoned.end())
      continue;
    if (metrics_) metrics_->stage("batch_wait", seconds_between(p.queued, start));
    if (p.deadline <= start) {
      if (metrics_) metrics_->deadline_passed("back");
      p.result.set_exception(std::make_exception_ptr(
          DeadlineExceeded("the request's deadline passed while it waited for the back "
                           "partition; it was not computed")));
    } else {
      live.push_back(std::move(p));
    }
  }
  if (live.empty()) return;
  const int64_t n = static_cast<int64_t>(live.size());
  try {
    const int64_t padded = back_.padded_batch(n, opts_.max_batch);
    TS_CHECK(padded >= n && padded <= opts_.max_batch, "the back endpoint pads a batch of ", n,
             " to ", padded, " (at most --max-batch ", opts_.max_batch, ")");
    auto* dst = reinterpret_cast<uint8_t*>(buf.mem.get());
    // The rows of requests that are computed, first and in order: a request
    // left out above leaves a gap, closed by moving the rows after it.
    for (size_t i = 0; i < live.size(); ++i)
      if (live[i].row != i)
        std::memmove(dst + i * feature_bytes_, dst + live[i].row * feature_bytes_, feature_bytes_);
    if (padded > n)  // rows of zeros, whose results are dropped
      std::memset(dst + live.size() * feature_bytes_, 0,
                  static_cast<size_t>(padded - n) * feature_bytes_);
    Shape s = feature_shape_;
    s[0] = padded;
    Tensor in = Tensor::adopt(DType::F32, s, buf.mem);
    Tensor out = back_.run(in);
    const Clock::time_point done = Clock::now();
    const double took = seconds_between(start, done);
    {
      // The run time that near deadlines close a batch early by: a moving
      // average (weight 1/4 for the newest run), the first run as it was.
      std::lock_guard<std::mutex> lock(mu_);
      const auto t = std::chrono::duration_cast<std::chrono::microseconds>(done - start);
      back_estimate_ = back_estimate_.count() == 0 ? t : (3 * back_estimate_ + t) / 4;
    }
    TS_CHECK(out.rank() >= 1 && out.shape()[0] == padded, "the back partition answered ",
             shape_str(out.shape()), " for a batch of ", padded);
    Shape row_shape = out.shape();
    row_shape[0] = 1;
    const size_t row_bytes = out.nbytes() / static_cast<size_t>(padded);
    std::vector<Tensor> rows;
    rows.reserve(live.size());
    for (size_t i = 0; i < live.size(); ++i) {
      Tensor row(out.dtype(), row_shape);
      if (row_bytes)
        std::memcpy(row.raw(), static_cast<const uint8_t*>(out.raw()) + i * row_bytes, row_bytes);
      rows.push_back(std::move(row));
    }
    if (metrics_) {
      metrics_->back_batch(n);
      for (size_t i = 0; i < live.size(); ++i) metrics_->stage("back", took);
    }
    for (size_t i = 0; i < live.size(); ++i) live[i].result.set_value(std::move(rows[i]));
  } catch (...) {
    const std::exception_ptr e = std::current_exception();
    for (Pending& p : live) p.result.set_exception(e);
  }
}

}  // namespace teesplit::serve
