// Market clearing against a slow reference (bisection on the price) and hand-worked cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "markets/clearing.hpp"

using namespace decouple;

namespace {
// Reference: the lowest price at which demand does not exceed supply, by bisection on a
// monotone demand function (60 halvings of [0, top]).
double reference_price(double supply, const LinearDemand& d, const std::vector<double>& q,
                       const std::vector<double>& r, double spread) {
  double top = d.present ? d.a : 0.0;
  for (double x : r) top = std::max(top, x);
  if (demand_at(0.0, d, q, r, spread) <= supply) return 0.0;
  double lo = 0.0, hi = top + 1.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (demand_at(mid, d, q, r, spread) > supply ? lo : hi) = mid;
  }
  return hi;
}
}  // namespace

TEST(Clearing, LinearDemandOnly) {
  std::vector<double> none;
  const auto c = clear_market(30.0, {true, 100.0, 2.0}, none, none, none);
  EXPECT_DOUBLE_EQ(c.price, 40.0);
  EXPECT_DOUBLE_EQ(c.exogenous, 30.0);
  EXPECT_EQ(c.unsold, 0.0);
  // A glut: demand at price 0 is 50.
  const auto g = clear_market(80.0, {true, 100.0, 2.0}, none, none, none);
  EXPECT_EQ(g.price, 0.0);
  EXPECT_DOUBLE_EQ(g.unsold, 30.0);
}

TEST(Clearing, StepBidsHighestReservationFirst) {
  // Bids 10 @ 90, 10 @ 50, 10 @ 20; no exogenous demand. Supply 15: P = 50, bid 1 full,
  // bid 2 gets 5, bid 3 nothing.
  std::vector<double> q{10, 10, 10}, r{90, 50, 20}, served(3);
  const auto c = clear_market(15.0, {}, q, r, served);
  EXPECT_EQ(c.price, 50.0);
  EXPECT_EQ(served, (std::vector<double>{10, 5, 0}));
  // Supply 35 exceeds every bid: price 0, 5 unsold.
  const auto g = clear_market(35.0, {}, q, r, served);
  EXPECT_EQ(g.price, 0.0);
  EXPECT_DOUBLE_EQ(g.unsold, 5.0);
}

TEST(Clearing, StepBidsOnTopOfLinearDemand) {
  // a = 100, b = 1 plus a bid of 20 @ 70. Supply 40: at P ∈ (70, 100) demand is 100 − P
  // (< 30), so the step binds at 70 with exogenous 30 and the bid served 10.
  std::vector<double> q{20}, r{70}, served(1);
  const auto c = clear_market(40.0, {true, 100.0, 1.0}, q, r, served);
  EXPECT_EQ(c.price, 70.0);
  EXPECT_DOUBLE_EQ(c.exogenous, 30.0);
  EXPECT_DOUBLE_EQ(served[0], 10.0);
  // Supply 60: bid served in full, exogenous takes 40 at P = 60.
  const auto d = clear_market(60.0, {true, 100.0, 1.0}, q, r, served);
  EXPECT_DOUBLE_EQ(d.price, 60.0);
  EXPECT_DOUBLE_EQ(served[0], 20.0);
}

TEST(Clearing, MatchesTheReferenceOnRandomMarkets) {
  // 2,000 random markets, steps and schedules: price within 1e-9 of bisection, and the
  // quantities taken add up to what was sold.
  std::mt19937_64 gen(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int k = 0; k < 2000; ++k) {
    const int n = static_cast<int>(u(gen) * 12);
    std::vector<double> q(n), r(n), served(n);
    for (int j = 0; j < n; ++j) {
      q[j] = 1.0 + 20.0 * u(gen);
      r[j] = 5.0 + 200.0 * u(gen);
    }
    std::sort(r.begin(), r.end(), std::greater<>());
    const LinearDemand d = u(gen) < 0.7 ? LinearDemand{true, 50.0 + 100.0 * u(gen), 0.2 + 2.0 * u(gen)} : LinearDemand{};
    const double supply = 150.0 * u(gen);
    for (double spread : {0.0, 0.3, 0.5}) {
      const auto c = clear_market(supply, d, q, r, served, spread);
      const double ref = reference_price(supply, d, q, r, spread);
      ASSERT_NEAR(c.price, ref, 1e-9 * (1.0 + ref)) << "market " << k << " spread " << spread;
      double taken = c.exogenous;
      for (double s : served) taken += s;
      ASSERT_NEAR(taken + c.unsold, supply, 1e-9 * (1.0 + supply)) << "market " << k << " spread " << spread;
      for (int j = 0; j < n; ++j) {
        ASSERT_GE(served[j], 0.0);
        ASSERT_LE(served[j], q[j] * (1 + 1e-12));
      }
    }
  }
}

TEST(LocalDemand, ExactForLinearDemandAndBoundedAtSteps) {
  std::vector<double> none;
  const LinearDemand d{true, 120.0, 0.5};
  const auto c = clear_market(100.0, d, none, none, none);
  const auto fit = fit_local_demand(c, 100.0, d, none, none, 0.1, c.price, {1, 1});
  EXPECT_EQ(fit.a_hat, 120.0);
  EXPECT_EQ(fit.b_hat, 0.5);
  // A vertical step inside the window: the slope stays finite, elasticity ≤ 1/window.
  std::vector<double> q{50}, r{70}, served(1);
  const auto s = clear_market(50.0, {}, q, r, served);
  const auto f = fit_local_demand(s, 50.0, {}, q, r, 0.1, s.price, {1, 1});
  EXPECT_GT(f.b_hat, 0.0);
  EXPECT_GE(s.price / (f.b_hat * 50.0), 0.1 - 1e-12);
  EXPECT_LE(s.price / (f.b_hat * 50.0), 10.0 + 1e-9);
  EXPECT_NEAR(f.a_hat - f.b_hat * 50.0, s.price, 1e-9);  // the line passes through the point
}

TEST(Clearing, ZeroReservationBidsShareOnlyWhatIsLeftAtPriceZero) {
  // A bid with reservation price 0 is served only from supply no one else wants: never
  // more than was shipped (regression: schedules once served it in full).
  for (double spread : {0.0, 0.5}) {
    std::vector<double> q{10}, r{0}, served(1);
    const auto c = clear_market(5.0, {}, q, r, served, spread);
    EXPECT_EQ(c.price, 0.0);
    EXPECT_DOUBLE_EQ(served[0], 5.0) << spread;
    EXPECT_EQ(c.unsold, 0.0);
    std::vector<double> q2{10, 4}, r2{50, 0}, served2(2);
    const auto d = clear_market(12.0, {}, q2, r2, served2, spread);
    EXPECT_EQ(d.price, 0.0);
    EXPECT_DOUBLE_EQ(served2[0], 10.0) << spread;
    EXPECT_DOUBLE_EQ(served2[1], 2.0) << spread;
  }
}

TEST(Clearing, CappedPriceRationsEveryBuyerProRata) {
  // a = 100, b = 1 plus bids 20 @ 90 and 20 @ 60 (schedules, spread 0.5: a bid falls from full
  // at r/2 to 0 at r). Supply 10 clears far above 50; with the cap at 50 demand is 50
  // (exogenous) + 20·(90−50)/45 + 20·(60−50)/30, and every buyer gets supply / demand(50).
  std::vector<double> q{20, 20}, r{90, 60}, served(2), free(2);
  const double spread = 0.5, cap = 50.0, supply = 10.0;
  const auto uncapped = clear_market(supply, {true, 100.0, 1.0}, q, r, free, spread);
  ASSERT_GT(uncapped.price, cap);
  const auto c = clear_market_capped(supply, {true, 100.0, 1.0}, q, r, served, spread, cap);
  EXPECT_EQ(c.price, cap);
  const double b1 = 20.0 * (90.0 - 50.0) / 45.0, b2 = 20.0 * (60.0 - 50.0) / 30.0;
  const double share = supply / (50.0 + b1 + b2);
  EXPECT_NEAR(c.exogenous, 50.0 * share, 1e-12);
  EXPECT_NEAR(served[0], b1 * share, 1e-12);
  EXPECT_NEAR(served[1], b2 * share, 1e-12);
  EXPECT_NEAR(c.exogenous + c.bids_served, supply, 1e-12);
  EXPECT_EQ(c.unsold, 0.0);
  // A cap above the clearing price changes nothing.
  const auto same = clear_market_capped(supply, {true, 100.0, 1.0}, q, r, served, spread, uncapped.price + 1.0);
  EXPECT_EQ(same.price, uncapped.price);
  EXPECT_EQ(served, free);
}

// Constant-elasticity exogenous demand Q = A·P^−e below the choke price a.
TEST(ClearIsoelastic, PriceSolvesDemandEqualsSupplyWithBidsServedFirst) {
  LinearDemand d;
  d.present = true;
  d.a = 1000.0;
  d.elasticity = 2.0;
  d.scale = 100.0 * 144.0;  // through (12, 100)
  // No bids: P = (A/S)^(1/e).
  std::vector<double> none;
  auto c = clear_market(100.0, d, none, none, std::span<double>(), 0.05);
  EXPECT_NEAR(c.price, 12.0, 1e-9);
  EXPECT_NEAR(c.exogenous, 100.0, 1e-9);
  EXPECT_DOUBLE_EQ(c.unsold, 0.0);  // demand is unbounded as P → 0: no glut
  // A bid far above the price is served in full; the schedule takes the rest.
  for (double spread : {0.0, 0.05}) {
    const std::vector<double> q{44.0}, r{500.0};
    std::vector<double> served(1);
    c = clear_market(100.0, d, q, r, served, spread);
    EXPECT_NEAR(c.price, 12.0 * std::sqrt(100.0 / 56.0), 1e-9) << spread;
    EXPECT_NEAR(served[0], 44.0, 1e-9);
    EXPECT_NEAR(c.exogenous + c.bids_served, 100.0, 1e-9);
  }
  // σ = 0: a step the schedule alone cannot absorb prices the market at the bid (served in part).
  {
    const std::vector<double> q{200.0}, r{20.0};
    std::vector<double> served(1);
    c = clear_market(100.0, d, q, r, served, 0.0);
    EXPECT_NEAR(c.price, 20.0, 1e-9);
    EXPECT_NEAR(c.exogenous, 36.0, 1e-6);  // 14,400/400
    EXPECT_NEAR(served[0], 64.0, 1e-6);
  }
  // Below the schedule's demand at the choke price, the price is the choke.
  c = clear_market(0.001, d, none, none, std::span<double>(), 0.05);
  EXPECT_DOUBLE_EQ(c.price, 1000.0);
  EXPECT_NEAR(c.exogenous, 0.001, 1e-12);
  // Consumer surplus ∫_P^a A p^−2 dp = A (1/P − 1/a).
  EXPECT_NEAR(d.surplus_at(12.0), 14400.0 * (1.0 / 12.0 - 1.0 / 1000.0), 1e-9);
}
