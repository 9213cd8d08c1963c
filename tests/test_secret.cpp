// core/secret.h: secrets are wiped before their memory is given back, and go
// back to the arena that gave them; tensors live in the arena once one is installed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "core/error.h"
#include "core/secret.h"
#include "core/tensor.h"

namespace teesplit {
namespace {

// A heap arena that records what it hands out and checks, on return, that the
// whole block was wiped.
class CheckingArena : public SecretArena {
 public:
  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, bytes);
    std::memset(p, 0, bytes);
    live[p] = bytes;
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    EXPECT_EQ(live.count(p), 1u);
    EXPECT_EQ(live[p], bytes);
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < bytes; ++i)
      if (b[i] != 0) {
        ++unwiped;
        break;
      }
    live.erase(p);
    std::free(p);
  }
  const char* kind() const override { return "checking"; }
  std::map<void*, size_t> live;
  int unwiped = 0;
};

struct ArenaGuard {
  explicit ArenaGuard(SecretArena* a) { install_secret_arena(a); }
  ~ArenaGuard() { install_secret_arena(nullptr); }
};

TEST(Secret, WipedAndReturnedToItsArena) {
  CheckingArena arena;
  {
    ArenaGuard g(&arena);
    EXPECT_STREQ(secret_memory_kind(), "checking");
    SecretBytes key(32, 0xA5);
    for (int i = 0; i < 1000; ++i) key.push_back(uint8_t(i));  // grows: old blocks wiped too
    EXPECT_EQ(reinterpret_cast<uintptr_t>(key.data()) % 64, 0u);
    Tensor t(DType::F32, {3, 5});
    t.data<float>()[7] = 1.5f;
    EXPECT_GE(arena.live.size(), 2u);
  }
  EXPECT_TRUE(arena.live.empty());
  EXPECT_EQ(arena.unwiped, 0);
  EXPECT_STREQ(secret_memory_kind(), "heap");
}

TEST(Secret, HeapBlocksOutliveAnArenaSwitch) {
  SecretBytes before(100, 0x11);  // from the heap
  CheckingArena arena;
  {
    ArenaGuard g(&arena);
    SecretBytes inside(10, 0x22);
    before.clear();
    before.shrink_to_fit();  // a heap block freed while the arena is installed goes to the heap
    EXPECT_EQ(arena.live.size(), 1u);
  }
  EXPECT_TRUE(arena.live.empty());
}

TEST(Secret, ExhaustedArenaIsAnError) {
  struct Empty : SecretArena {
    void* allocate(size_t) override { return nullptr; }
    void deallocate(void*, size_t) override {}
    const char* kind() const override { return "empty"; }
  } empty;
  ArenaGuard g(&empty);
  try {
    secret_allocate(100);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of secret memory"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace teesplit
