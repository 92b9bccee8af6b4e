#include "engine/design.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/rng.hpp"

namespace decouple {

const char* to_string(Design d) {
  switch (d) {
    case Design::grid: return "grid";
    case Design::random: return "random";
    case Design::latin_hypercube: return "latin_hypercube";
    case Design::sobol: return "sobol";
  }
  return "?";
}

namespace {

// new-joe-kuo-6.21201 (S. Joe and F. Y. Kuo, SIAM J. Sci. Comput. 30, 2635–2654, 2008), the
// rows for dimensions 2..21: degree s, polynomial coefficients a, initial m_1..m_s.
struct JoeKuo {
  int s;
  unsigned a;
  std::array<unsigned, 7> m;
};
constexpr JoeKuo kJoeKuo[kSobolMaxDimensions - 1] = {
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
};

constexpr int kBits = 32;
using Directions = std::array<std::uint32_t, kBits>;  // V_1..V_32, scaled by 2^32

// Direction numbers of dimension d (0-based; 0 is van der Corput).
Directions directions(int d) {
  Directions v{};
  if (d == 0) {
    for (int k = 0; k < kBits; ++k) v[k] = std::uint32_t{1} << (kBits - 1 - k);
    return v;
  }
  const JoeKuo& jk = kJoeKuo[d - 1];
  const int s = jk.s;
  for (int k = 0; k < s; ++k) v[k] = jk.m[k] << (kBits - 1 - k);
  for (int k = s; k < kBits; ++k) {
    std::uint32_t x = v[k - s] ^ (v[k - s] >> s);
    for (int j = 1; j < s; ++j)
      if ((jk.a >> (s - 1 - j)) & 1u) x ^= v[k - j];
    v[k] = x;
  }
  return v;
}

double map_unit(const EnsembleParameter& p, double u) {
  if (!p.values.empty()) {
    const auto n = static_cast<std::int64_t>(p.values.size());
    return p.values[static_cast<std::size_t>(std::min(n - 1, static_cast<std::int64_t>(u * static_cast<double>(n))))];
  }
  if (p.integer) {
    const double levels = p.max - p.min + 1.0;
    return std::min(p.max, p.min + std::floor(u * levels));
  }
  return p.min + u * (p.max - p.min);
}

std::int64_t levels(const EnsembleParameter& p) {
  return p.values.empty() ? p.points : static_cast<std::int64_t>(p.values.size());
}

// Within-block stratum of replicate i for parameter j: the rank of its random key among the
// block's N keys (a uniformly random permutation; each key depends on one replicate only).
std::int64_t lhs_stratum(const EnsembleSpec& e, std::int64_t i, std::uint32_t j) {
  const std::int64_t n = e.replications;
  const std::int64_t first = (i / n) * n;
  auto key = [&](std::int64_t r) {
    const auto w = random_words({e.seed, static_cast<std::uint64_t>(r), 1, Purpose::sampling, j});
    return static_cast<std::uint64_t>(w[0]) << 32 | w[1];
  };
  const std::uint64_t mine = key(i);
  std::int64_t below = 0;
  for (std::int64_t r = first; r < first + n; ++r) {
    const std::uint64_t k = key(r);
    below += k < mine || (k == mine && r < i);
  }
  return below;
}

}  // namespace

std::vector<double> sobol_point(std::uint64_t i, int dims) {
  if (dims < 1 || dims > kSobolMaxDimensions)
    throw InternalError(fmt::format("sobol_point: {} dimensions (1..{})", dims, kSobolMaxDimensions));
  if (i >> kBits) throw InternalError(fmt::format("sobol_point: index {} beyond 2^32", i));
  const std::uint64_t gray = i ^ (i >> 1);
  std::vector<double> x(static_cast<std::size_t>(dims));
  for (int d = 0; d < dims; ++d) {
    const Directions v = directions(d);
    std::uint32_t bits = 0;
    for (int k = 0; k < kBits; ++k)
      if ((gray >> k) & 1u) bits ^= v[k];
    x[d] = static_cast<double>(bits) * 0x1.0p-32;
  }
  return x;
}

std::vector<double> unit_point(const EnsembleSpec& e, std::int64_t i) {
  if (i < 0) throw InternalError(fmt::format("replicate {} < 0", i));
  const auto d = static_cast<std::uint32_t>(e.parameters.size());
  std::vector<double> u(d);
  switch (e.design) {
    case Design::random:
      for (std::uint32_t j = 0; j < d; ++j)
        u[j] = uniform01({e.seed, static_cast<std::uint64_t>(i), 0, Purpose::sampling, j});
      return u;
    case Design::latin_hypercube: {
      if (e.replications < 1) throw InternalError("latin_hypercube without replications");
      const auto n = static_cast<double>(e.replications);
      for (std::uint32_t j = 0; j < d; ++j) {
        const double jitter = uniform01({e.seed, static_cast<std::uint64_t>(i), 0, Purpose::sampling, j});
        // (k + jitter)/N rounds to at most the stratum's top; keep it inside [0, 1).
        u[j] = std::min((static_cast<double>(lhs_stratum(e, i, j)) + jitter) / n, std::nextafter(1.0, 0.0));
      }
      return u;
    }
    case Design::sobol:
      if (d == 0) return u;
      return sobol_point(static_cast<std::uint64_t>(i), static_cast<int>(d));
    case Design::grid: break;
  }
  throw InternalError("unit_point: the grid design has no unit coordinates");
}

std::int64_t grid_size(const EnsembleSpec& e) {
  std::int64_t n = 1;
  for (const auto& p : e.parameters) {
    const std::int64_t l = levels(p);
    if (l < 1) throw InternalError(fmt::format("grid parameter {} has no levels", p.key));
    if (n > (std::int64_t{1} << 62) / l) throw InternalError("grid larger than 2^62 points");
    n *= l;
  }
  return n;
}

std::vector<std::int64_t> grid_indices(const EnsembleSpec& e, std::int64_t i) {
  if (i < 0) throw InternalError(fmt::format("replicate {} < 0", i));
  std::int64_t k = i % grid_size(e);
  std::vector<std::int64_t> idx(e.parameters.size());
  for (std::size_t j = e.parameters.size(); j-- > 0;) {
    const std::int64_t l = levels(e.parameters[j]);
    idx[j] = k % l;
    k /= l;
  }
  return idx;
}

std::vector<double> parameter_values(const EnsembleSpec& e, std::int64_t i) {
  std::vector<double> v(e.parameters.size());
  if (e.design == Design::grid) {
    const auto idx = grid_indices(e, i);
    for (std::size_t j = 0; j < v.size(); ++j) {
      const auto& p = e.parameters[j];
      if (!p.values.empty()) {
        v[j] = p.values[static_cast<std::size_t>(idx[j])];
        continue;
      }
      // Evenly spaced, both ends exact.
      const double x = idx[j] + 1 == p.points
                           ? p.max
                           : p.min + static_cast<double>(idx[j]) * (p.max - p.min) / (p.points - 1);
      v[j] = p.integer ? std::round(x) : x;
    }
    return v;
  }
  const auto u = unit_point(e, i);
  for (std::size_t j = 0; j < v.size(); ++j) v[j] = map_unit(e.parameters[j], u[j]);
  return v;
}

std::vector<std::string> parameter_overrides(const EnsembleSpec& e, std::int64_t i) {
  const auto v = parameter_values(e, i);
  std::vector<std::string> sets;
  for (std::size_t j = 0; j < v.size(); ++j) {
    const auto& p = e.parameters[j];
    // Shortest round-trip text: the key receives exactly this double. A float written
    // without a fraction ("5") reads as an integer, which numeric float keys accept.
    sets.push_back(p.integer ? fmt::format("{}={}", p.key, static_cast<std::int64_t>(v[j]))
                             : fmt::format("{}={}", p.key, v[j]));
  }
  return sets;
}

}  // namespace decouple
