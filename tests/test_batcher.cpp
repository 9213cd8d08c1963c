// The back partition's batching stage of teesplit serve (serve/batcher.h), on
// a fake back endpoint that records every call: requests are grouped up to
// --max-batch, each gets its own row back, a request past its deadline is not
// computed, a failing back fails its batch alone, and stop() answers what is
// still queued.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/batcher.h"
#include "support/test_support.h"

namespace teesplit::serve {
namespace {

using namespace std::chrono_literals;

// out[i] = 2 * in[i] per element; the feature map is [1, 3]. Records each
// call's batch size; `delay` per call, `fail_when` throws for a batch holding
// that value in its first element.
class FakeBack final : public BackEndpoint {
 public:
  Tensor run(const Tensor& f) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      calls.push_back(f.shape()[0]);
    }
    std::this_thread::sleep_for(delay);
    for (int64_t i = 0; i < f.shape()[0]; ++i)
      if (f.data<float>()[i * 3] == fail_when) fail("the fake back failed on purpose");
    Tensor out(DType::F32, f.shape());
    for (int64_t i = 0; i < f.numel(); ++i) out.data<float>()[i] = 2 * f.data<float>()[i];
    return out;
  }
  std::string describe() const override { return "fake"; }
  std::shared_ptr<std::byte> batch_memory(size_t bytes) override {
    ++allocations;
    return aligned_buffer(bytes);
  }
  std::atomic<int> allocations{0};
  std::vector<int64_t> batches() {
    std::lock_guard<std::mutex> lock(mu);
    return calls;
  }
  std::mutex mu;
  std::vector<int64_t> calls;
  std::chrono::milliseconds delay{0};
  float fail_when = -1;
};

// A request's bytes, kept alive by the returned pointer.
std::shared_ptr<std::vector<float>> feature(float v) {
  return std::make_shared<std::vector<float>>(std::vector<float>{v, v + 1, v + 2});
}
std::span<const uint8_t> bytes(const std::shared_ptr<std::vector<float>>& f) {
  return {reinterpret_cast<const uint8_t*>(f->data()), f->size() * sizeof(float)};
}
constexpr auto kNoDeadline = Clock::time_point::max();

TEST(Batcher, GroupsConcurrentRequestsAndAnswersEachItsOwnRow) {
  FakeBack back;
  back.delay = 20ms * testing::kSlow;  // while one batch runs, the others queue up
  Metrics metrics;
  BackBatcher b(back, {1, 3}, {8, 50ms * testing::kSlow}, &metrics);
  constexpr int kRequests = 64;
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kRequests; ++i)
    clients.emplace_back([&, i] {
      auto f = feature(static_cast<float>(10 * i));
      const Tensor out = b.run(bytes(f), f, kNoDeadline);
      if (out.shape() != Shape{1, 3}) ++wrong;
      for (int k = 0; k < 3; ++k)
        if (out.data<float>()[k] != 2 * (*f)[k]) ++wrong;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  const std::vector<int64_t> calls = back.batches();
  int64_t total = 0;
  for (int64_t n : calls) {
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 8);
    total += n;
  }
  EXPECT_EQ(total, kRequests);
  // 64 requests at once in batches of at most 8: far fewer calls than requests.
  EXPECT_LE(calls.size(), 16u) << "batching did not group requests";
  EXPECT_EQ(b.depth(), 0u);
}

// A back that pads (as a local backend does, to bound its compiled sizes):
// 3 requests run as a batch of 4 whose last row is zeros, and only the 3 real
// rows are answered.
class PaddingBack final : public BackEndpoint {
 public:
  Tensor run(const Tensor& f) override {
    batch = f.clone();
    Tensor out(DType::F32, f.shape());
    for (int64_t i = 0; i < f.numel(); ++i) out.data<float>()[i] = f.data<float>()[i] + 1;
    return out;
  }
  std::string describe() const override { return "padding"; }
  int64_t padded_batch(int64_t n, int64_t max_batch) const override {
    return std::min<int64_t>(4, max_batch) >= n ? 4 : max_batch;
  }
  Tensor batch;
};

TEST(Batcher, PaddedRowsAreZerosAndTheirResultsDropped) {
  PaddingBack back;
  BackBatcher b(back, {1, 3}, {4, 200ms}, nullptr);
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&, i] {
      auto f = feature(static_cast<float>(10 * (i + 1)));
      const Tensor out = b.run(bytes(f), f, kNoDeadline);
      if (out.shape() != Shape{1, 3} || out.data<float>()[0] != (*f)[0] + 1) ++wrong;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  ASSERT_EQ(back.batch.shape(), (Shape{4, 3}));
  for (int k = 0; k < 3; ++k) EXPECT_EQ(back.batch.data<float>()[9 + k], 0.0f);
}

// The local back pads to powers of two, capped at --max-batch.
TEST(Batcher, LocalBackPadsToPowersOfTwo) {
  const std::string dir = testing::make_resnet50_split("batcher", "pad");
  SessionOptions so;
  so.threads = 1;
  auto back = open_local_back(dir + "/split", so);
  EXPECT_EQ(back->padded_batch(1, 8), 1);
  EXPECT_EQ(back->padded_batch(3, 8), 4);
  EXPECT_EQ(back->padded_batch(5, 8), 8);
  EXPECT_EQ(back->padded_batch(5, 6), 6);
  EXPECT_EQ(back->padded_batch(6, 6), 6);
  EXPECT_NE(back->batch_memory(4 * sizeof(float)), nullptr);
}

// With --max-batch 1 every request runs alone; 50 of them one after another
// reuse the two batch buffers made at start (page-locked memory is slow to get
// and to free).
TEST(Batcher, MaxBatchOneRunsEachRequestAloneAndReusesItsBuffers) {
  FakeBack back;
  BackBatcher b(back, {1, 3}, {1, 0ms}, nullptr);
  for (int i = 0; i < 50; ++i) {
    auto f = feature(static_cast<float>(i));
    ASSERT_EQ(b.run(bytes(f), f, kNoDeadline).data<float>()[0], 2.0f * i);
  }
  EXPECT_EQ(back.batches(), std::vector<int64_t>(50, 1));
  EXPECT_LE(back.allocations, 3);
}

TEST(Batcher, WaitsAtMostMaxDelayForCompany) {
  FakeBack back;
  BackBatcher b(back, {1, 3}, {64, 100ms}, nullptr);
  auto f = feature(1);
  const auto t0 = Clock::now();
  b.run(bytes(f), f, kNoDeadline);
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 100ms);  // the batch was held open for others
  EXPECT_LT(waited, 5s);     // and then run, alone
  EXPECT_EQ(back.batches(), std::vector<int64_t>{1});
}

// A batch window does not outlast a deadline: a request with 150 ms to live
// in a 400 ms window is computed (its batch closes at its deadline less twice
// the back partition's recent run time), where waiting out the window would
// have answered DeadlineExceeded; one without a deadline waits the window out.
TEST(Batcher, ANearDeadlineClosesTheBatchEarly) {
  FakeBack back;
  back.delay = 20ms;
  BackBatcher b(back, {1, 3}, {64, 400ms * testing::kSlow}, nullptr);
  auto warm = feature(1);
  auto t0 = Clock::now();
  b.run(bytes(warm), warm, kNoDeadline);  // learns the back's run time (20 ms)
  EXPECT_GE(Clock::now() - t0, 400ms * testing::kSlow) << "no deadline: the window is waited out";
  auto urgent = feature(2);
  t0 = Clock::now();
  const Tensor out = b.run(bytes(urgent), urgent, t0 + 150ms * testing::kSlow);
  const auto took = Clock::now() - t0;
  EXPECT_EQ(out.data<float>()[0], 4.0f);
  EXPECT_LT(took, 300ms * testing::kSlow) << "the batch did not close early";
  EXPECT_EQ(back.batches(), (std::vector<int64_t>{1, 1}));
}

// A request whose deadline passes while it is queued is answered
// DeadlineExceeded, and the back partition never sees it.
TEST(Batcher, ARequestPastItsDeadlineIsNotComputed) {
  FakeBack back;
  back.delay = 300ms;
  Metrics metrics;
  BackBatcher b(back, {1, 3}, {1, 0ms}, &metrics);
  auto first = feature(1), late = feature(100);
  std::thread busy([&] { b.run(bytes(first), first, kNoDeadline); });
  while (back.batches().empty()) std::this_thread::sleep_for(1ms);
  // Queued behind a 300 ms call, with 50 ms to live.
  EXPECT_THROW(b.run(bytes(late), late, Clock::now() + 50ms), DeadlineExceeded);
  busy.join();
  EXPECT_EQ(back.batches(), std::vector<int64_t>{1}) << "the late request reached the back";
  EXPECT_NE(metrics.render().find("teesplit_deadline_exceeded_total{stage=\"back\"} 1"),
            std::string::npos)
      << metrics.render();
}

// Rows are handed out as requests arrive; one whose deadline passes before its
// batch runs leaves a gap, which the rows after it close: the back sees only
// the live requests, and each gets its own result.
TEST(Batcher, ALateRequestsRowIsLeftOutOfItsBatch) {
  FakeBack back;
  back.delay = 300ms * testing::kSlow;
  BackBatcher b(back, {1, 3}, {4, 0ms}, nullptr);
  auto z = feature(1);
  std::thread busy([&] { b.run(bytes(z), z, kNoDeadline); });
  while (back.batches().empty()) std::this_thread::sleep_for(1ms);
  // Queued behind the running batch, in this order: a, late (50 ms to live), c.
  auto a = feature(10), late = feature(20), c = feature(30);
  std::atomic<int> wrong{0}, exceeded{0};
  std::vector<std::thread> clients;
  auto add = [&](const std::shared_ptr<std::vector<float>>& f, Clock::duration ttl) {
    const size_t before = b.depth();
    clients.emplace_back([&, f, ttl] {
      try {
        const Tensor out =
            b.run(bytes(f), f, ttl == Clock::duration::max() ? kNoDeadline : Clock::now() + ttl);
        for (int k = 0; k < 3; ++k)
          if (out.data<float>()[k] != 2 * (*f)[k]) ++wrong;
      } catch (const DeadlineExceeded&) {
        ++exceeded;
      }
    });
    while (b.depth() == before) std::this_thread::sleep_for(1ms);
  };
  add(a, Clock::duration::max());
  add(late, 50ms);
  add(c, Clock::duration::max());
  busy.join();
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(exceeded, 1);
  EXPECT_EQ(back.batches(), (std::vector<int64_t>{1, 2}));
}

// reserve() / finish() / abandon(): the server's path, whose rows are written
// from the worker's socket. A batch waits for every reserved row; an abandoned
// row (its read failed) is left out and its gap closed, the others answered.
TEST(Batcher, ReservedRowsRunWhenWrittenAndAnAbandonedOneIsLeftOut) {
  FakeBack back;
  BackBatcher b(back, {1, 3}, {3, 5000ms}, nullptr);  // a batch runs when its 3 rows are in
  EXPECT_EQ(b.feature_bytes(), 3 * sizeof(float));
  BackBatcher::Reservation r0 = b.reserve(kNoDeadline);
  BackBatcher::Reservation r1 = b.reserve(kNoDeadline);
  BackBatcher::Reservation r2 = b.reserve(kNoDeadline);
  ASSERT_NE(r0.dst, nullptr);
  EXPECT_EQ(r1.dst, r0.dst + b.feature_bytes());  // rows of one buffer, in order
  EXPECT_EQ(r2.dst, r0.dst + 2 * b.feature_bytes());
  auto write = [](BackBatcher::Reservation& r, float v) {
    const float x[3] = {v, v + 1, v + 2};
    std::memcpy(r.dst, x, sizeof(x));
  };
  write(r0, 10);
  write(r2, 30);
  // The batch is full but row 1 is not written yet: nothing runs.
  std::this_thread::sleep_for(50ms * testing::kSlow);
  EXPECT_TRUE(back.batches().empty());
  std::memset(r1.dst, 0xff, b.feature_bytes());  // a partial write that failed (NaN bytes)
  Tensor out0, out2;
  std::thread t0([&] { out0 = b.finish(std::move(r0)); });
  std::thread t2([&] { out2 = b.finish(std::move(r2)); });
  b.abandon(std::move(r1));
  t0.join();
  t2.join();
  // One batch of the two written rows: row 2 moved into row 1's place.
  EXPECT_EQ(back.batches(), (std::vector<int64_t>{2}));
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(out0.data<float>()[k], 2 * (10 + k));
    EXPECT_EQ(out2.data<float>()[k], 2 * (30 + k));
  }
  EXPECT_EQ(b.depth(), 0u);
  // The buffer is reused with nothing left of the abandoned row: a full batch of three.
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&, i] {
      auto f = feature(static_cast<float>(100 + 10 * i));
      const Tensor out = b.run(bytes(f), f, kNoDeadline);
      for (int k = 0; k < 3; ++k)
        if (out.data<float>()[k] != 2 * (*f)[k]) ++wrong;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(back.batches(), (std::vector<int64_t>{2, 3}));
}

// A batch whose only row is abandoned does not call the back at all; stop()
// fails a reservation that is still queued, and reserve() refuses once stopped.
TEST(Batcher, AnAbandonedLoneRowRunsNothingAndStopEndsReservations) {
  FakeBack back;
  BackBatcher b(back, {1, 3}, {1, 0ms}, nullptr);
  b.abandon(b.reserve(kNoDeadline));
  auto f = feature(5);
  const Tensor out = b.run(bytes(f), f, kNoDeadline);  // the next request runs alone
  EXPECT_EQ(out.data<float>()[0], 10);
  EXPECT_EQ(back.batches(), (std::vector<int64_t>{1}));

  FakeBack slow;
  slow.delay = 500ms * testing::kSlow;  // stop() comes while this batch runs
  BackBatcher s(slow, {1, 3}, {1, 0ms}, nullptr);
  auto g = feature(1);
  std::thread busy([&] { s.run(bytes(g), g, kNoDeadline); });
  while (slow.batches().empty()) std::this_thread::sleep_for(1ms);
  BackBatcher::Reservation queued = s.reserve(kNoDeadline);  // behind the running batch
  std::memcpy(queued.dst, g->data(), s.feature_bytes());
  std::thread stopper([&] { s.stop(); });
  try {
    s.finish(std::move(queued));
    ADD_FAILURE() << "a queued reservation was answered after stop()";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shutting down"), std::string::npos) << e.what();
  }
  stopper.join();
  busy.join();
  EXPECT_THROW(s.reserve(kNoDeadline), Error);
}

TEST(Batcher, AFailingBatchFailsItsRequestsAndTheNextBatchRuns) {
  FakeBack back;
  back.fail_when = 7;
  BackBatcher b(back, {1, 3}, {1, 0ms}, nullptr);
  auto bad = feature(7), good = feature(3);
  try {
    b.run(bytes(bad), bad, kNoDeadline);
    FAIL() << "the failure was not passed on";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("on purpose"), std::string::npos) << e.what();
  }
  EXPECT_EQ(b.run(bytes(good), good, kNoDeadline).data<float>()[0], 6.0f);
}

TEST(Batcher, StopAnswersWhatIsQueuedAndRefusesMore) {
  FakeBack back;
  back.delay = 200ms * testing::kSlow;  // t2 must queue while t1's batch runs
  BackBatcher b(back, {1, 3}, {1, 0ms}, nullptr);
  auto f1 = feature(1), f2 = feature(2);
  std::atomic<int> answered{0}, failed{0};
  std::thread t1([&] {
    try {
      b.run(bytes(f1), f1, kNoDeadline);
      ++answered;
    } catch (const Error&) {
      ++failed;
    }
  });
  while (back.batches().empty()) std::this_thread::sleep_for(1ms);
  std::thread t2([&] {
    try {
      b.run(bytes(f2), f2, kNoDeadline);
      ++answered;
    } catch (const Error&) {
      ++failed;
    }
  });
  // Bounded: if t2 came after t1's batch ended, it is not queued and the test fails, not hangs.
  for (int i = 0; i < 5000 * testing::kSlow && b.depth() == 0; ++i)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(b.depth(), 1u) << "the second request was not queued behind the running batch";
  b.stop();
  t1.join();
  t2.join();
  EXPECT_EQ(answered + failed, 2);  // nobody hangs
  EXPECT_EQ(answered, 1);           // the running batch completed
  auto f3 = feature(3);
  EXPECT_THROW(b.run(bytes(f3), f3, kNoDeadline), Error);
}

TEST(Batcher, BadOptionsAndSizesAreRefused) {
  FakeBack back;
  EXPECT_THROW(BackBatcher(back, {1, 3}, {0, 0ms}, nullptr), Error);
  EXPECT_THROW(BackBatcher(back, {1, 3}, {5000, 0ms}, nullptr), Error);
  EXPECT_THROW(BackBatcher(back, {2, 3}, {4, 0ms}, nullptr), Error);
  BackBatcher b(back, {1, 3}, {4, 0ms}, nullptr);
  auto f = std::make_shared<std::vector<float>>(std::vector<float>{1, 2});
  EXPECT_THROW(b.run({reinterpret_cast<const uint8_t*>(f->data()), 8}, f, kNoDeadline), Error);
}

}  // namespace
}  // namespace teesplit::serve
