// The water-filling best response against brute force: maximise the firm's profit over a
// fine grid of shipment vectors is too slow; instead check the KKT conditions directly.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "agents/best_response.hpp"

using namespace decouple;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
// Marginal profit of link m at shipments q (per unit, in the firm's own terms).
double marginal(const LinkTerms& l, double q, double mu) {
  return l.intercept - l.slope * q - l.multiplier * (l.base_cost + mu);
}
}  // namespace

TEST(BestResponse, KktConditionsHoldOnRandomFirms) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int k = 0; k < 5000; ++k) {
    const int n = 1 + static_cast<int>(u(gen) * 8);
    std::vector<LinkTerms> links(n);
    for (auto& l : links) {
      l.intercept = 20.0 + 100.0 * u(gen);
      l.multiplier = 1.0 + u(gen);
      l.base_cost = 5.0 + 30.0 * u(gen);
      l.slope = 0.5 + 2.0 * u(gen);
      l.cap = u(gen) < 0.3 ? 20.0 * u(gen) : kInf;
    }
    const double k_slope = u(gen) < 0.5 ? 0.0 : u(gen);
    const double capacity = u(gen) < 0.5 ? 1e9 : 5.0 + 60.0 * u(gen);
    const double min_output = u(gen) < 0.2 ? 30.0 * u(gen) : 0.0;
    std::vector<double> q(n), scratch(2 * n);
    const auto plan = best_response(links, k_slope, capacity, min_output, q, scratch);
    double total = 0.0;
    for (double x : q) total += x;
    ASSERT_NEAR(total, plan.total, 1e-9);
    ASSERT_LE(total, capacity + 1e-9);
    // Each link: interior → marginal profit 0; at 0 → ≤ 0; at cap → ≥ 0 (with the common μ).
    for (int m = 0; m < n; ++m) {
      const double g = marginal(links[m], q[m], plan.mu);
      if (q[m] <= 1e-12) ASSERT_LE(g, 1e-7) << k;
      else if (q[m] >= links[m].cap - 1e-12) ASSERT_GE(g, -1e-7) << k;
      else ASSERT_NEAR(g, 0.0, 1e-7) << k;
    }
    // μ = λ + k·Q with λ ≥ 0 and λ·(capacity − Q) = 0, unless a minimum output binds.
    if (min_output <= 0.0 || total > min_output + 1e-9) {
      const double lambda = plan.mu - k_slope * total;
      ASSERT_GE(lambda, -1e-7) << k;
      if (capacity - total > 1e-7) {
        ASSERT_NEAR(lambda, 0.0, 1e-7) << k;
      }
    }
  }
}

TEST(BestResponse, PartialAdjustmentRespectsCapsAndCapacity) {
  std::vector<LinkTerms> links(2);
  links[0].cap = 3.0;
  std::vector<double> prev{10.0, 10.0}, target{0.0, 30.0}, out(2);
  const double total = adjust_shipments(prev, target, links, 0.5, 100.0, out);
  EXPECT_EQ(out[0], 3.0);   // 10 + 0.5·(0 − 10) = 5, capped at 3
  EXPECT_EQ(out[1], 20.0);  // 10 + 0.5·(30 − 10)
  EXPECT_EQ(total, 23.0);
  // A capacity cut scales shipments down proportionally.
  const double cut = adjust_shipments(prev, target, links, 0.5, 11.5, out);
  EXPECT_NEAR(cut, 11.5, 1e-12);
  EXPECT_NEAR(out[1] / out[0], 20.0 / 3.0, 1e-12);
}
