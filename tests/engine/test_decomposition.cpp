// The decomposition (who owns what, DESIGN §5) as a pure function: coverage, contiguity,
// the stated balance bounds on random inputs, determinism, degenerate rank counts, and
// co-location where the input makes it possible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "core/errors.hpp"
#include "engine/decomposition.hpp"
#include "engine/world.hpp"
#include "support/builder.hpp"

using namespace decouple;

namespace {

// Owns the arrays a DecompositionInput points into.
struct Case {
  Index regions = 0;
  std::vector<Index> market_region, firm_region;
  std::vector<std::int64_t> market_weight, firm_work;
  DecompositionInput input(int ranks, double tolerance = 0.10) const {
    DecompositionInput in;
    in.ranks = ranks;
    in.regions = regions;
    in.market_region = market_region;
    in.market_weight = market_weight;
    in.firm_region = firm_region;
    in.firm_work = firm_work;
    in.tolerance = tolerance;
    return in;
  }
};

Case random_case(unsigned seed, Index regions, Index markets, Index firms) {
  std::mt19937 rng(seed);
  Case c;
  c.regions = regions;
  std::uniform_int_distribution<Index> region(0, regions - 1);
  std::uniform_int_distribution<std::int64_t> weight(0, 200), work(0, 40);
  for (Index m = 0; m < markets; ++m) {
    c.market_region.push_back(region(rng));
    c.market_weight.push_back(weight(rng));
  }
  for (Index f = 0; f < firms; ++f) {
    c.firm_region.push_back(region(rng));
    c.firm_work.push_back(work(rng));
  }
  return c;
}

// Every invariant that holds for any input.
void check_invariants(const Case& c, const Decomposition& d, int P, double tolerance) {
  ASSERT_EQ(d.ranks, P);
  ASSERT_EQ(d.market_rank.size(), c.market_region.size());
  ASSERT_EQ(d.region_rank.size(), static_cast<std::size_t>(c.regions));
  ASSERT_EQ(d.firm_begin.size(), static_cast<std::size_t>(P) + 1);
  // Every market exactly once, on its region's rank.
  for (std::size_t m = 0; m < c.market_region.size(); ++m) {
    ASSERT_GE(d.market_rank[m], 0);
    ASSERT_LT(d.market_rank[m], P);
    EXPECT_EQ(d.market_rank[m], d.region_rank[c.market_region[m]]);
  }
  // Firms: contiguous ranges that cover 0..F exactly once, in rank order.
  const auto F = static_cast<Index>(c.firm_region.size());
  EXPECT_EQ(d.firm_begin.front(), 0);
  EXPECT_EQ(d.firm_begin.back(), F);
  for (int r = 0; r < P; ++r) EXPECT_LE(d.firm_begin[r], d.firm_begin[r + 1]);
  const std::vector<int> owner = d.firm_rank();
  ASSERT_EQ(owner.size(), static_cast<std::size_t>(F));
  for (Index f = 0; f < F; ++f) {
    EXPECT_EQ(d.rank_of_firm(f), owner[f]);
    EXPECT_GE(f, d.firm_begin[owner[f]]);
    EXPECT_LT(f, d.firm_begin[owner[f] + 1]);
  }
  // Market balance: LPT's bound, largest load ≤ W/P + largest region (·P to stay integral).
  std::vector<std::int64_t> region_weight(c.regions, 0);
  for (std::size_t m = 0; m < c.market_region.size(); ++m) region_weight[c.market_region[m]] += c.market_weight[m];
  const std::int64_t MW = std::accumulate(region_weight.begin(), region_weight.end(), std::int64_t{0});
  const std::int64_t max_region = region_weight.empty() ? 0 : *std::max_element(region_weight.begin(), region_weight.end());
  for (int r = 0; r < P; ++r) EXPECT_LE(d.market_weight_of_rank[r] * P, MW + max_region * P);
  EXPECT_EQ(std::accumulate(d.market_weight_of_rank.begin(), d.market_weight_of_rank.end(), std::int64_t{0}), MW);
  // Firm balance: |work_r − W/P| ≤ tolerance·W/P + largest firm.
  std::int64_t W = std::accumulate(c.firm_work.begin(), c.firm_work.end(), std::int64_t{0});
  std::int64_t max_work = c.firm_work.empty() ? 0 : *std::max_element(c.firm_work.begin(), c.firm_work.end());
  if (W == 0) {  // balanced by count
    W = F;
    max_work = F > 0 ? 1 : 0;
  }
  for (int r = 0; r < P; ++r) {
    const double dev = std::abs(static_cast<double>(d.firm_work_of_rank[r]) * P - static_cast<double>(W));
    EXPECT_LE(dev, tolerance * W + static_cast<double>(max_work) * P + 1e-9) << "rank " << r;
  }
}

}  // namespace

TEST(Decomposition, OneRankOwnsEverything) {
  const Case c = random_case(1, 5, 40, 300);
  const Decomposition d = decompose(c.input(1));
  check_invariants(c, d, 1, 0.10);
  for (int r : d.market_rank) EXPECT_EQ(r, 0);
  EXPECT_EQ(d.firm_begin, (std::vector<Index>{0, 300}));
  for (Index f = 0; f < 300; ++f) EXPECT_EQ(d.rank_of_firm(f), 0);
}

TEST(Decomposition, RandomInputsMeetTheStatedBounds) {
  for (unsigned seed = 0; seed < 60; ++seed)
    for (int P : {2, 3, 4, 7})
      for (double tol : {0.0, 0.05, 0.10}) {
        const Case c = random_case(seed, 1 + seed % 9, 5 + seed * 3, 10 + seed * 37);
        SCOPED_TRACE(::testing::Message() << "seed " << seed << " P " << P << " tol " << tol);
        check_invariants(c, decompose(c.input(P, tol)), P, tol);
      }
}

TEST(Decomposition, AlignedBoundariesAreChunkMultiplesNearBalance) {
  for (unsigned seed = 0; seed < 40; ++seed)
    for (int P : {2, 3, 5})
      for (Index align : {2, 7, 64}) {
        const Case c = random_case(seed, 1 + seed % 7, 5 + seed, 50 + seed * 53);
        SCOPED_TRACE(::testing::Message() << "seed " << seed << " P " << P << " align " << align);
        DecompositionInput in = c.input(P);
        in.firm_align = align;
        const Decomposition d = decompose(in);
        const auto F = static_cast<Index>(c.firm_region.size());
        EXPECT_EQ(d.firm_begin.front(), 0);
        EXPECT_EQ(d.firm_begin.back(), F);
        for (int r = 1; r < P; ++r) {
          EXPECT_LE(d.firm_begin[r - 1], d.firm_begin[r]);
          EXPECT_TRUE(d.firm_begin[r] % align == 0 || d.firm_begin[r] == F) << "boundary " << d.firm_begin[r];
        }
        // Each boundary moved ≤ align/2 firms from the unaligned one: a rank's work moves by
        // at most align · the largest firm's work.
        const std::int64_t W = std::accumulate(c.firm_work.begin(), c.firm_work.end(), std::int64_t{0});
        const std::int64_t max_work = *std::max_element(c.firm_work.begin(), c.firm_work.end());
        for (int r = 0; r < P; ++r) {
          const double dev = std::abs(static_cast<double>(d.firm_work_of_rank[r]) * P - static_cast<double>(W));
          EXPECT_LE(dev, 0.10 * W + static_cast<double>(max_work) * P * (1 + align) + 1e-9) << "rank " << r;
        }
      }
  const Case c = random_case(3, 4, 10, 100);
  DecompositionInput in = c.input(2);
  in.firm_align = 0;
  EXPECT_THROW(decompose(in), InternalError);
}

TEST(Decomposition, LptIsWithinFourThirdsOfTheBestPacking) {
  // Brute force over every region → rank assignment on small cases.
  for (unsigned seed = 0; seed < 40; ++seed) {
    const Case c = random_case(100 + seed, 1 + seed % 7, 12, 20);
    for (int P : {2, 3}) {
      std::vector<std::int64_t> rw(c.regions, 0);
      for (std::size_t m = 0; m < c.market_region.size(); ++m) rw[c.market_region[m]] += c.market_weight[m];
      std::int64_t best = INT64_MAX;
      std::vector<int> a(c.regions, 0);
      for (;;) {
        std::vector<std::int64_t> load(P, 0);
        for (Index g = 0; g < c.regions; ++g) load[a[g]] += rw[g];
        best = std::min(best, *std::max_element(load.begin(), load.end()));
        Index g = 0;
        while (g < c.regions && ++a[g] == P) a[g++] = 0;
        if (g == c.regions) break;
      }
      const Decomposition d = decompose(c.input(P));
      const auto worst = *std::max_element(d.market_weight_of_rank.begin(), d.market_weight_of_rank.end());
      EXPECT_LE(3 * worst, 4 * best) << "seed " << seed << " P " << P;
    }
  }
}

TEST(Decomposition, IsDeterministic) {
  const Case c = random_case(7, 6, 80, 2000);
  for (int P : {2, 3, 5}) {
    const Decomposition a = decompose(c.input(P)), b = decompose(c.input(P));
    EXPECT_EQ(a.market_rank, b.market_rank);
    EXPECT_EQ(a.region_rank, b.region_rank);
    EXPECT_EQ(a.firm_begin, b.firm_begin);
  }
  // Ties between equal regions and equal firms go to the lower id / lower rank.
  Case even;
  even.regions = 4;
  even.market_region = {0, 1, 2, 3};
  even.market_weight = {5, 5, 5, 5};
  even.firm_region = {0, 1, 2, 3};
  even.firm_work = {1, 1, 1, 1};
  const Decomposition d = decompose(even.input(2, 0.0));
  EXPECT_EQ(d.firm_begin, (std::vector<Index>{0, 2, 4}));
  EXPECT_EQ(d.region_rank, (std::vector<int>{0, 0, 1, 1}));  // equal regions follow their firms
  EXPECT_EQ(d.colocated_work, 4);
}

TEST(Decomposition, RegionsFollowFirmsInBlocksOfIds) {
  // A synthetic world's layout: 200 regions of similar market weight, each region's firms a
  // block of ids. Regions go to the rank holding their firms (boundaries sit at region
  // changes, inside the tolerance window) as far as the market balance allows: at 2 ranks
  // all firm work is co-located, at more ranks a few regions whose firms' rank is already
  // full go elsewhere. LPT alone spread the regions regardless of the firms (about 1/P).
  Case c;
  c.regions = 200;
  for (Index g = 0; g < c.regions; ++g) {
    c.market_region.push_back(g);
    c.market_weight.push_back(100 + g % 7);
    for (int i = 0; i < 50; ++i) {
      c.firm_region.push_back(g);
      c.firm_work.push_back(5 + (g * 50 + i) % 11);
    }
  }
  const std::int64_t W = std::accumulate(c.firm_work.begin(), c.firm_work.end(), std::int64_t{0});
  for (int P : {2, 3, 4, 7}) {
    const Decomposition d = decompose(c.input(P));
    check_invariants(c, d, P, 0.10);
    if (P == 2) {
      EXPECT_EQ(d.colocated_work, W);
    }
    EXPECT_GE(d.colocated_work, W * 94 / 100) << P << " ranks";
  }
}

TEST(Decomposition, MoreRanksThanEntities) {
  Case c;
  c.regions = 2;
  c.market_region = {0, 1, 1};
  c.market_weight = {3, 2, 2};
  c.firm_region = {1, 0, 1};
  c.firm_work = {2, 1, 2};
  for (int P : {4, 10, 20000}) {
    const Decomposition d = decompose(c.input(P));
    check_invariants(c, d, P, 0.10);
    int ranks_with_firms = 0;
    for (int r = 0; r < P; ++r) ranks_with_firms += d.firm_begin[r + 1] > d.firm_begin[r];
    EXPECT_LE(ranks_with_firms, 3);
  }
  // Nothing at all.
  const Case empty;
  const Decomposition d = decompose(empty.input(3));
  check_invariants(empty, d, 3, 0.10);
  EXPECT_EQ(d.firm_begin, (std::vector<Index>{0, 0, 0, 0}));
}

TEST(Decomposition, ZeroWorkFirmsAreBalancedByCount) {
  Case c;
  c.regions = 1;
  c.market_region = {0};
  c.market_weight = {0};
  c.firm_region.assign(9, 0);
  c.firm_work.assign(9, 0);
  const Decomposition d = decompose(c.input(3, 0.0));
  check_invariants(c, d, 3, 0.0);
  EXPECT_EQ(d.firm_begin, (std::vector<Index>{0, 3, 6, 9}));
}

TEST(Decomposition, BoundariesMoveToTheRegionChangeWhenBalanceAllows) {
  // Firms 0..51 at home in region A (work 1 each), 52..99 in region B: the balanced boundary
  // (50) splits region A. A 10% tolerance lets it move to 52, co-locating everything.
  Case c;
  c.regions = 2;
  c.market_region = {0, 1};
  c.market_weight = {10, 9};
  for (Index f = 0; f < 100; ++f) {
    c.firm_region.push_back(f < 52 ? 0 : 1);
    c.firm_work.push_back(1);
  }
  const Decomposition tight = decompose(c.input(2, 0.0));
  const Decomposition loose = decompose(c.input(2, 0.10));
  check_invariants(c, tight, 2, 0.0);
  check_invariants(c, loose, 2, 0.10);
  EXPECT_EQ(tight.firm_begin[1], 50);
  EXPECT_EQ(tight.colocated_work, 98);
  EXPECT_EQ(loose.firm_begin[1], 52);
  EXPECT_EQ(loose.colocated_work, 100);
  for (Index f = 0; f < 100; ++f) EXPECT_EQ(loose.rank_of_firm(f), loose.region_rank[c.firm_region[f]]);
  // Too far for the tolerance: a 30/70 split stays balanced.
  for (Index f = 0; f < 100; ++f) c.firm_region[f] = f < 30 ? 0 : 1;
  const Decomposition far = decompose(c.input(2, 0.10));
  // Moved to the window's edge towards 30: |2·b − 100| ≤ 0.10·100 / 2 + 1 (one firm) → b = 47.
  EXPECT_EQ(far.firm_begin[1], 47);
}

TEST(Decomposition, RankLabelsFollowTheFirmOrder) {
  // Region 1's firms come first in id order, but region 0 is the heavier market region
  // (LPT packs it first): the labels are swapped so both regions' firms are co-located.
  Case c;
  c.regions = 3;
  c.market_region = {0, 0, 1, 2};
  c.market_weight = {50, 50, 60, 30};
  for (Index f = 0; f < 30; ++f) {
    c.firm_region.push_back(f < 10 ? 1 : f < 20 ? 2 : 0);
    c.firm_work.push_back(1);
  }
  const Decomposition d = decompose(c.input(2, 0.0));
  check_invariants(c, d, 2, 0.0);
  EXPECT_EQ(d.region_rank[0], 1);  // LPT bin {0} alone (100) vs {1, 2} (90)
  EXPECT_EQ(d.region_rank[1], 0);
  EXPECT_EQ(d.region_rank[2], 0);
  EXPECT_EQ(d.firm_begin, (std::vector<Index>{0, 15, 30}));
  EXPECT_EQ(d.colocated_work, 25);  // firms 15..19 (region 2) are on rank 1; balance wins at tolerance 0
  const Decomposition loose = decompose(c.input(2, 0.7));  // window reaches b = 20
  EXPECT_EQ(loose.firm_begin[1], 20);
  EXPECT_EQ(loose.colocated_work, 30);
}

TEST(Decomposition, RejectsInconsistentInput) {
  Case c = random_case(3, 3, 10, 10);
  EXPECT_THROW(decompose(c.input(0)), InternalError);
  c.market_region[2] = 3;
  EXPECT_THROW(decompose(c.input(2)), InternalError);
  c = random_case(3, 3, 10, 10);
  c.firm_work.pop_back();
  EXPECT_THROW(decompose(c.input(2)), InternalError);
}

TEST(Decomposition, FromAWorldAndExpandedOwners) {
  const auto b = decouple::testing::ore_metal_world(4, false);
  const World w = build_world(b.s);
  for (int P : {1, 2, 3, 5}) {
    const Decomposition d = decompose(w, P);
    ASSERT_EQ(d.market_rank.size(), static_cast<std::size_t>(w.markets));
    ASSERT_EQ(d.firms(), w.firms);
    const std::vector<int> link_rank = expand_owner(w.link_begin, d.firm_rank());
    const std::vector<int> offer_rank = expand_owner(w.offer_begin, d.market_rank);
    ASSERT_EQ(link_rank.size(), static_cast<std::size_t>(w.links));
    ASSERT_EQ(offer_rank.size(), w.offer_link.size());
    for (Index l = 0; l < w.links; ++l) EXPECT_EQ(link_rank[l], d.rank_of_firm(w.link_firm(l)));
    for (std::size_t j = 0; j < w.offer_link.size(); ++j)
      EXPECT_EQ(offer_rank[j], d.market_rank[w.link_market[w.offer_link[j]]]);
  }
}
