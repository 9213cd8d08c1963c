// Small non-cryptographic hashes whose values are part of teesplit's outputs:
// the zoo's weights and the TON_IoT train/test split depend on them bit for bit.
#pragma once

#include <cstdint>
#include <string_view>

namespace teesplit {

// SplitMix64's output function (Steele, Lea and Flood, 2014) applied to
// x + 0x9E3779B97F4A7C15: a bijective 64-bit mix, used to derive seeds.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// 64-bit FNV-1a over the bytes of s.
constexpr uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  return h;
}

// A double in [0, 1) from the top 53 bits of x.
constexpr double unit_double(uint64_t x) {
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

}  // namespace teesplit
