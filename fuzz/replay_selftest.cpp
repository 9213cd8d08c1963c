// A deliberately faulty fuzz entry point that checks fuzz_replay itself: each
// CTest test (fuzz/CMakeLists.txt) feeds one input and expects the verdict
// written beside it. The first byte picks the fault:
//   'o' fine;  'm' one 2 GiB allocation;  'r' 768 MiB resident in 1 MiB pieces;
//   's' a segmentation fault;  't' an endless loop;  'e' an escaping exception;
//   'b' an allocation that fails (beyond the address-space limit) and is caught
//       as an error.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

namespace {
volatile uint64_t g_sink = 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0]) {
    case 'm': {
      void* p = std::malloc(size_t{2} << 30);
      g_sink = reinterpret_cast<uintptr_t>(p);
      std::free(p);
      break;
    }
    case 'r': {
      std::vector<char*> pieces;
      for (int i = 0; i < 768; ++i) {
        pieces.push_back(static_cast<char*>(std::malloc(1 << 20)));
        if (pieces.back()) std::memset(pieces.back(), 1, 1 << 20);
      }
      for (char* p : pieces) std::free(p);
      break;
    }
    case 's':
      g_sink = *reinterpret_cast<volatile int*>(static_cast<uintptr_t>(g_sink) + 8);
      break;
    case 't':
      for (;;) g_sink = g_sink + 1;
    case 'e':
      throw std::runtime_error("escaped");
    case 'b': {
      // Two untouched 600 MiB blocks: each under --malloc-limit-mb, together over
      // the 1 GiB address space; the failure is caught, as code under test may do.
      char* a = nullptr;
      char* b = nullptr;
      try {
        a = new char[size_t{600} << 20];
        g_sink = reinterpret_cast<uintptr_t>(a);  // not elided
        b = new char[size_t{600} << 20];
        g_sink = reinterpret_cast<uintptr_t>(b);
      } catch (const std::bad_alloc&) {
      }
      delete[] a;
      delete[] b;
      break;
    }
    default:
      break;
  }
  return 0;
}
