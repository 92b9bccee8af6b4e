#include "core/rng.hpp"

#include <cmath>
#include <numbers>

namespace decouple {
namespace {
constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

inline void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

inline double to_unit(std::uint32_t hi, std::uint32_t lo) {
  // 53 bits → [0, 1)
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}
}  // namespace

Philox4x32Counter philox4x32_10(Philox4x32Counter c, Philox4x32Key k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c[0], hi0, lo0);
    mulhilo(kM1, c[2], hi1, lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

std::array<std::uint32_t, 4> random_words(const Draw& d) {
  const auto period = static_cast<std::uint64_t>(d.period);
  const Philox4x32Counter counter{
      static_cast<std::uint32_t>(d.entity), static_cast<std::uint32_t>(d.entity >> 32),
      static_cast<std::uint32_t>(period),
      (static_cast<std::uint32_t>(d.purpose) << 24) ^ (d.sub & 0x00FFFFFFu) ^
          (static_cast<std::uint32_t>(period >> 32) << 16)};
  const Philox4x32Key key{static_cast<std::uint32_t>(d.seed),
                          static_cast<std::uint32_t>(d.seed >> 32)};
  return philox4x32_10(counter, key);
}

double uniform01(const Draw& d) {
  const auto w = random_words(d);
  return to_unit(w[0], w[1]);
}

double standard_normal(const Draw& d) {
  const auto w = random_words(d);
  // 1 - u keeps the log argument in (0, 1].
  const double u1 = 1.0 - to_unit(w[0], w[1]);
  const double u2 = to_unit(w[2], w[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace decouple
