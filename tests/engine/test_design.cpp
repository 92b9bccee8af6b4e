// Ensemble designs (engine/design): grid enumeration, Latin hypercube strata, Sobol points
// against the published sequence, random points within bounds and pure in (config, i).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "engine/design.hpp"

using namespace decouple;

namespace {

EnsembleParameter bounds(std::string key, double lo, double hi, int points = 0) {
  EnsembleParameter p;
  p.key = std::move(key);
  p.min = lo;
  p.max = hi;
  p.points = points;
  return p;
}
EnsembleParameter list(std::string key, std::vector<double> values) {
  EnsembleParameter p;
  p.key = std::move(key);
  p.values = std::move(values);
  return p;
}
EnsembleSpec spec(Design d, int n, std::vector<EnsembleParameter> ps, std::uint64_t seed = 2024) {
  EnsembleSpec e;
  e.present = true;
  e.design = d;
  e.replications = n;
  e.seed = seed;
  e.parameters = std::move(ps);
  return e;
}

}  // namespace

TEST(Design, GridEnumeratesMixedRadixLastFastestAndCycles) {
  const auto e = spec(Design::grid, 20, {list("a", {1, 2}), bounds("b", 0.0, 1.0, 3)});
  ASSERT_EQ(grid_size(e), 6);
  const std::vector<std::vector<double>> want = {{1, 0}, {1, 0.5}, {1, 1}, {2, 0}, {2, 0.5}, {2, 1}};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(parameter_values(e, i), want[i]) << i;
    EXPECT_EQ(parameter_values(e, i + 6), want[i]) << "cycle " << i;  // the grid repeats
  }
  EXPECT_EQ(grid_indices(e, 5), (std::vector<std::int64_t>{1, 2}));
  // Both ends exact, evenly spaced in between, integers rounded.
  auto f = spec(Design::grid, 5, {bounds("c", 0.1, 0.7, 4)});
  EXPECT_EQ(parameter_values(f, 0)[0], 0.1);
  EXPECT_EQ(parameter_values(f, 3)[0], 0.7);
  EXPECT_NEAR(parameter_values(f, 1)[0], 0.3, 1e-15);
  f.parameters[0] = bounds("n", 1, 10, 4);
  f.parameters[0].integer = true;
  EXPECT_EQ(parameter_values(f, 1)[0], 4.0);  // 1 + 3 = 4
  EXPECT_EQ(parameter_values(f, 2)[0], 7.0);
  const auto sets = parameter_overrides(e, 4);
  EXPECT_EQ(sets, (std::vector<std::string>{"a=2", "b=0.5"}));
}

TEST(Design, LatinHypercubeHasOneReplicatePerStratumInEveryDimension) {
  for (int n : {1, 2, 7, 50}) {
    const auto e = spec(Design::latin_hypercube, n, {bounds("a", 0, 1), bounds("b", -5, 5), bounds("c", 10, 20)});
    for (int block = 0; block < 2; ++block) {  // replicates from N on form another hypercube
      std::vector<std::vector<int>> strata(3);
      for (int i = block * n; i < (block + 1) * n; ++i) {
        const auto u = unit_point(e, i);
        const auto v = parameter_values(e, i);
        for (int j = 0; j < 3; ++j) {
          ASSERT_GE(u[j], 0.0);
          ASSERT_LT(u[j], 1.0);
          strata[j].push_back(static_cast<int>(std::floor(u[j] * n)));
          const auto& p = e.parameters[j];
          EXPECT_EQ(v[j], p.min + u[j] * (p.max - p.min));
        }
      }
      for (auto& s : strata) {
        std::sort(s.begin(), s.end());
        for (int k = 0; k < n; ++k) ASSERT_EQ(s[k], k) << "n=" << n << " block " << block;
      }
    }
  }
  // The strata are permuted differently per dimension (not the identity for all).
  const auto e = spec(Design::latin_hypercube, 50, {bounds("a", 0, 1), bounds("b", 0, 1)});
  int same = 0;
  for (int i = 0; i < 50; ++i) {
    const auto u = unit_point(e, i);
    same += std::floor(u[0] * 50) == std::floor(u[1] * 50);
  }
  EXPECT_LT(same, 10);
}

// Joe & Kuo's generator (and SciPy's unscrambled Sobol): the first 8 points in 3 dimensions.
TEST(Design, SobolMatchesThePublishedSequence) {
  const double want[8][3] = {{0, 0, 0},           {0.5, 0.5, 0.5},     {0.75, 0.25, 0.25},
                             {0.25, 0.75, 0.75},  {0.375, 0.375, 0.625}, {0.875, 0.875, 0.125},
                             {0.625, 0.125, 0.875}, {0.125, 0.625, 0.375}};
  for (int i = 0; i < 8; ++i) {
    const auto x = sobol_point(i, 3);
    for (int d = 0; d < 3; ++d) EXPECT_EQ(x[d], want[i][d]) << "point " << i << " dim " << d;
  }
  // Every dimension: the first 2^m points put one point in each interval [k/2^m, (k+1)/2^m).
  for (int m : {4, 7}) {
    const int n = 1 << m;
    std::vector<std::set<int>> cells(kSobolMaxDimensions);
    for (int i = 0; i < n; ++i) {
      const auto x = sobol_point(i, kSobolMaxDimensions);
      for (int d = 0; d < kSobolMaxDimensions; ++d) cells[d].insert(static_cast<int>(x[d] * n));
    }
    for (int d = 0; d < kSobolMaxDimensions; ++d) EXPECT_EQ(cells[d].size(), static_cast<std::size_t>(n)) << "dim " << d;
  }
  // Two-dimensional projections of dims (d, d+1): 2^m points in 2^m cells of the (2^a × 2^b)
  // elementary intervals with a + b = m hold one point each for the first two dimensions.
  const int n = 64;
  std::set<std::pair<int, int>> cells;
  for (int i = 0; i < n; ++i) {
    const auto x = sobol_point(i, 2);
    cells.insert({static_cast<int>(x[0] * 8), static_cast<int>(x[1] * 8)});
  }
  EXPECT_EQ(cells.size(), 64u);
  // The design maps Sobol point i (not skipping the origin) onto the bounds.
  const auto e = spec(Design::sobol, 8, {bounds("a", 10, 20), list("b", {1, 2, 3, 4})});
  EXPECT_EQ(parameter_values(e, 0), (std::vector<double>{10, 1}));
  EXPECT_EQ(parameter_values(e, 2), (std::vector<double>{17.5, 2}));  // (0.75, 0.25)
}

TEST(Design, RandomIsWithinBoundsAndAPureFunctionOfConfigAndIndex) {
  auto e = spec(Design::random, 100, {bounds("a", -1, 3), list("b", {5, 6, 7}), bounds("n", 2, 4)});
  e.parameters[2].integer = true;
  std::set<double> seen_b, seen_n;
  double lo = 1e9, hi = -1e9;
  for (int i = 0; i < 500; ++i) {
    const auto v = parameter_values(e, i);
    EXPECT_GE(v[0], -1.0);
    EXPECT_LT(v[0], 3.0);
    lo = std::min(lo, v[0]);
    hi = std::max(hi, v[0]);
    seen_b.insert(v[1]);
    seen_n.insert(v[2]);
    EXPECT_EQ(v, parameter_values(e, i));  // pure
  }
  EXPECT_LT(lo, -0.9);
  EXPECT_GT(hi, 2.9);
  EXPECT_EQ(seen_b, (std::set<double>{5, 6, 7}));
  EXPECT_EQ(seen_n, (std::set<double>{2, 3, 4}));  // each whole number, max included
  // Depends on the seed and the index; not on anything else (a copy computes the same).
  const EnsembleSpec copy = e;
  EXPECT_EQ(parameter_values(copy, 17), parameter_values(e, 17));
  EXPECT_NE(parameter_values(e, 17), parameter_values(e, 18));
  auto other = e;
  other.seed = 7;
  EXPECT_NE(parameter_values(other, 17), parameter_values(e, 17));
  // Overrides carry the value exactly (shortest round-trip text).
  const auto v = parameter_values(e, 3);
  const auto sets = parameter_overrides(e, 3);
  EXPECT_EQ(std::stod(sets[0].substr(2)), v[0]);
  EXPECT_EQ(sets[2], "n=" + std::to_string(static_cast<long long>(v[2])));
}
