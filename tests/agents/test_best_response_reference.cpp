// The water-filling best response against an independent reference: μ found by bisection
// on S(μ) evaluated in long double (no kinks, no interpolation), q*(μ) from it. Random
// firms cover priced-out links (the million world's typical export link), zero and finite
// caps, identical links (tied kinks), rising and flat marginal cost, binding capacity
// (zero included) and a binding minimum output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "agents/best_response.hpp"

using namespace decouple;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
using Real = long double;

Real q_of(const LinkTerms& l, Real mu) {
  const Real v = (Real(l.intercept) - Real(l.multiplier) * (Real(l.base_cost) + mu)) / Real(l.slope);
  return std::min<Real>(std::max<Real>(v, 0), Real(l.cap));
}
Real supply(const std::vector<LinkTerms>& links, Real mu) {
  Real s = 0;
  for (const auto& l : links) s += q_of(l, mu);
  return s;
}
// Smallest μ in [lo, hi] with pred(μ) true, pred monotone (false then true).
template <class P>
Real bisect(Real lo, Real hi, P pred) {
  for (int i = 0; i < 200 && hi - lo > 0; ++i) {
    const Real mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    (pred(mid) ? hi : lo) = mid;
  }
  return hi;
}

struct Reference {
  Real mu;
  // False when any μ past the root would do: capacity 0 (S stays 0 above its last kink) or
  // a minimum output out of reach with every link capped.
  bool mu_determined;
};

Reference reference(const std::vector<LinkTerms>& links, double k, double capacity, double min_output) {
  Real top = 1;  // above every kink: S = 0 there
  for (const auto& l : links) top = std::max(top, std::abs(Real(l.intercept) / Real(l.multiplier) - Real(l.base_cost)) + 1);
  // Unconstrained: μ = k·S(μ) on μ ≥ 0.
  Real mu = 0;
  if (k > 0) mu = bisect(0, Real(k) * supply(links, 0) + 1, [&](Real x) { return Real(k) * supply(links, x) <= x; });
  if (supply(links, mu) > Real(capacity)) {
    mu = bisect(mu, 2 * top, [&](Real x) { return supply(links, x) <= Real(capacity); });
    return {mu, capacity > 0.0};
  } else if (min_output > 0 && supply(links, mu) < Real(min_output)) {
    const Real goal = std::min(Real(min_output), Real(capacity));
    if (goal <= 0) return {mu, false};  // capacity 0: nothing ships, whatever μ
    Real lo = -2 * top;
    for (int i = 0; i < 200 && supply(links, lo) < goal; ++i) lo *= 2;
    if (supply(links, lo) < goal) return {lo, false};  // unreachable: every link at its cap
    // Largest μ with S(μ) ≥ goal.
    mu = bisect(lo, mu, [&](Real x) { return supply(links, x) < goal; });
  }
  return {mu, true};
}
// One random firm: links, cost slope k, capacity and minimum output.
struct Firm {
  std::vector<LinkTerms> links;
  double k, capacity, min_output;
};

Firm random_firm(std::mt19937_64& gen) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const bool million = u(gen) < 0.3;
  const int n = 1 + static_cast<int>(u(gen) * (million ? 9 : 12));
  std::vector<LinkTerms> links(n);
  for (int i = 0; i < n; ++i) {
    auto& l = links[i];
    if (million) {  // home link profitable, exports priced out by transport costs
      l = {50.0 + 5.0 * u(gen), i == 0 ? 1.0 : 1.0 + 0.2 * u(gen),
           i == 0 ? 30.0 + 10.0 * u(gen) : 45.0 + 20.0 * u(gen), 0.001 + 0.01 * u(gen), kInf};
      if (u(gen) < 0.05) l.cap = 0.0;
    } else {
      l = {20.0 + 100.0 * u(gen), 1.0 + u(gen), 5.0 + 60.0 * u(gen), 0.5 + 2.0 * u(gen), kInf};
      const double r = u(gen);
      if (r < 0.3) l.cap = 20.0 * u(gen);
      else if (r < 0.4) l.cap = 0.0;
    }
    if (i > 0 && u(gen) < 0.15) l = links[static_cast<int>(u(gen) * i)];  // tied kinks
  }
  const double r1 = u(gen), r2 = u(gen), r3 = u(gen);
  const double k = r1 < 0.4 ? 0.0 : r1 < 0.5 ? 1e-4 * u(gen) : u(gen);
  const double capacity = r2 < 0.4 ? 1e9 : r2 < 0.45 ? 0.0 : 5.0 + 60.0 * u(gen);
  const double min_output = r3 < 0.25 ? 100.0 * u(gen) : 0.0;
  return {std::move(links), k, capacity, min_output};
}
}  // namespace

TEST(BestResponseReference, MatchesBisectionOnRandomFirms) {
  std::mt19937_64 gen(20240611);
  // Tolerance: |Δq| ≤ 1e-9 of the firm's largest shipment (or 1), |Δμ| ≤ 1e-9·max(1, |μ|).
  constexpr double kTol = 1e-9;
  int binding = 0, floors = 0, rising = 0;
  for (int c = 0; c < 20000; ++c) {
    const auto [links, k, capacity, min_output] = random_firm(gen);
    const int n = static_cast<int>(links.size());
    std::vector<double> q(n), scratch(2 * n);
    const auto plan = best_response(links, k, capacity, min_output, q, scratch);
    const auto ref = reference(links, k, capacity, min_output);
    rising += k > 0;
    binding += plan.shadow > 0;
    floors += plan.mu < 0;

    double scale = 1.0, total = 0.0;
    for (int i = 0; i < n; ++i) {
      scale = std::max(scale, std::abs(q[i]));
      total += q[i];
    }
    ASSERT_EQ(plan.total, total) << c;
    if (ref.mu_determined) {
      ASSERT_NEAR(plan.mu, static_cast<double>(ref.mu), kTol * std::max(1.0, std::abs(plan.mu))) << c;
      if (plan.shadow != 0.0) {
        ASSERT_DOUBLE_EQ(plan.shadow, plan.mu - k * capacity) << c;
      }
    }
    // Every link at the reference μ (with μ undetermined, the reference's choice ships the
    // same), and consistent with the solver's own μ.
    for (int i = 0; i < n; ++i) {
      ASSERT_GE(q[i], 0.0) << c;
      ASSERT_NEAR(q[i], static_cast<double>(q_of(links[i], ref.mu)), kTol * scale) << c << " link " << i;
      ASSERT_NEAR(q[i], static_cast<double>(q_of(links[i], Real(plan.mu))), kTol * scale) << c << " link " << i;
    }
  }
  // The draw reaches every regime.
  EXPECT_GT(binding, 1000);
  EXPECT_GT(floors, 100);
  EXPECT_GT(rising, 5000);
}

namespace {
// The solver as first written: S(μ) summed over every link in order, μ by walking the sorted
// kinks upward and interpolating on the segment where h changes sign; then, if S exceeds
// capacity, a second walk from there. The optimised solver (bracketing, reduced sums, the
// uncapped fast path) must give exactly this, bit for bit (no minimum output here).
double q_link(const LinkTerms& l, double mu) {
  return std::min(std::max((l.intercept - l.multiplier * (l.base_cost + mu)) / l.slope, 0.0), l.cap);
}
double walk_root(const std::vector<LinkTerms>& links, double target, double inv_k, double lower,
                 double at_lower) {
  auto S = [&](double mu) {
    double s = 0.0;
    for (const auto& l : links) s += q_link(l, mu);
    return s;
  };
  std::vector<double> kinks;
  for (const auto& l : links) {
    const double alpha = l.intercept / l.multiplier - l.base_cost;
    kinks.push_back(alpha);
    if (std::isfinite(l.cap)) kinks.push_back(alpha - l.cap * l.slope / l.multiplier);
  }
  std::sort(kinks.begin(), kinks.end());
  double x0 = lower, h0 = at_lower - target - x0 * inv_k;
  if (h0 <= 0.0) return x0;
  for (double x1 : kinks) {
    if (x1 <= x0) continue;
    const double h1 = S(x1) - target - x1 * inv_k;
    if (h1 <= 0.0) return x0 + (x1 - x0) * h0 / (h0 - h1);
    x0 = x1;
    h0 = h1;
  }
  return inv_k > 0.0 ? x0 + h0 / inv_k : x0;
}
ShipmentPlan walk(const std::vector<LinkTerms>& links, double k, double capacity, std::vector<double>& q) {
  auto S = [&](double mu) {
    double s = 0.0;
    for (const auto& l : links) s += q_link(l, mu);
    return s;
  };
  ShipmentPlan plan;
  const double inv_k = k > 0.0 ? 1.0 / k : 0.0;
  double mu = 0.0, total = S(0.0);
  if (k > 0.0) {
    mu = walk_root(links, 0.0, inv_k, 0.0, total);
    total = S(mu);
  }
  if (total > capacity) {
    mu = walk_root(links, capacity, 0.0, mu, total);
    plan.shadow = mu - k * capacity;
  }
  plan.mu = mu;
  plan.total = 0.0;
  for (std::size_t i = 0; i < links.size(); ++i) {
    q[i] = q_link(links[i], mu);
    plan.total += q[i];
  }
  return plan;
}
// The million world's shape, which the fast paths take: 1 to max_links links, no caps, rising
// cost, exports priced out at the optimum (or not), ties, a link exactly at v(0) = 0; capacity
// unbounded with probability `unbounded`, else up to `scale`.
void million_shape(Firm& f, std::mt19937_64& gen, int max_links, double unbounded, double scale) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int n = 1 + static_cast<int>(u(gen) * max_links);
  f.links.assign(n, LinkTerms{});
  const double base = u(gen) < 0.5 ? 40.0 : 45.0 + 20.0 * u(gen);
  for (int i = 0; i < n; ++i) {
    auto& l = f.links[i];
    l = {50.0 + 5.0 * u(gen), u(gen) < 0.7 ? 1.0 : 1.0 + 0.2 * u(gen),
         base + (i == 0 ? -10.0 : 15.0 * u(gen) - 5.0), 0.001 + 0.01 * u(gen), kInf};
    if (u(gen) < 0.02) l.intercept = l.base_cost = 0.0;
    if (i > 0 && u(gen) < 0.15) l = f.links[static_cast<int>(u(gen) * i)];
  }
  const double r = u(gen);
  f.k = r < 0.3 ? 1e-3 * u(gen) : r < 0.6 ? u(gen) : r < 0.9 ? 100.0 * u(gen) : 1e6 * u(gen);
  f.capacity = u(gen) < unbounded ? 1e12 : scale * u(gen);
}
}  // namespace

TEST(BestResponseReference, EqualsTheKinkWalkBitForBit) {
  std::mt19937_64 gen(424242);
  auto same = [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; };
  int uncapped_interior = 0;
  for (int c = 0; c < 200000; ++c) {
    Firm f = random_firm(gen);
    if (c % 2 == 0) million_shape(f, gen, 12, 0.8, 1e4);
    f.min_output = 0.0;
    const std::size_t n = f.links.size();
    std::vector<double> q(n), q_ref(n), scratch(2 * n);
    const auto plan = best_response(f.links, f.k, f.capacity, 0.0, q, scratch);
    const auto ref = walk(f.links, f.k, f.capacity, q_ref);
    ASSERT_TRUE(same(plan.mu, ref.mu)) << c << ": " << plan.mu << " vs " << ref.mu;
    ASSERT_TRUE(same(plan.total, ref.total)) << c;
    ASSERT_TRUE(same(plan.shadow, ref.shadow)) << c;
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(same(q[i], q_ref[i])) << c << " link " << i;
    uncapped_interior += c % 2 == 0 && plan.mu > 0.0 && plan.shadow == 0.0;
  }
  EXPECT_GT(uncapped_interior, 50000);  // the fast path's regime is well covered
}

// Four firms at a time, one per SIMD lane: every lane the batch solves must equal the single
// firm's best response bit for bit (q, μ, total, shadow), and its partial adjustment
// adjust_shipments'. Groups mix the million world's
// shape (which the batch takes) with general random firms (which it must leave alone or
// solve identically), and lanes with 1 to 16 links side by side.
TEST(BestResponseReference, BatchEqualsOneFirmAtATime) {
#if defined(__x86_64__) || defined(__i386__)
  if (!__builtin_cpu_supports("avx")) GTEST_SKIP() << "no AVX: the batch solves no lane";
#endif
  std::mt19937_64 gen(777);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto same = [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; };
  int solved = 0, lanes = 0, capped = 0, cut = 0;
  for (int c = 0; c < 50000; ++c) {
    std::vector<Firm> firms;
    for (int k = 0; k < kBatchLanes; ++k) {
      Firm f = random_firm(gen);
      if (f.links.size() > FirmBatch::kMaxLinks) f.links.resize(FirmBatch::kMaxLinks);
      if (u(gen) < 0.8) {
        million_shape(f, gen, 16, 0.5, 100.0);
        f.min_output = 0.0;
      }
      firms.push_back(std::move(f));
    }
    FirmBatch batch;
    ShipmentPlan plan[kBatchLanes];
    std::vector<std::vector<double>> previous(kBatchLanes);
    for (int j = 0; j < kBatchLanes; ++j) {
      const auto& f = firms[j];
      batch.links[j] = f.links.size();
      for (std::size_t i = 0; i < f.links.size(); ++i) {
        batch.set(j, i, f.links[i]);
        previous[j].push_back(u(gen) < 0.3 ? 0.0 : 3000.0 * u(gen));
        batch.previous[i][j] = previous[j][i];
      }
      batch.cost_slope[j] = f.k;
      batch.capacity[j] = f.capacity;
      batch.min_output[j] = f.min_output;
    }
    const unsigned done = best_response_batch(batch, plan);
    const double kappa = u(gen) < 0.5 ? 0.05 : u(gen);
    adjust_batch(batch, done, kappa);
    // The lanes left unsolved keep their links.
    for (int j = 0; j < kBatchLanes; ++j)
      for (std::size_t i = 0; i < firms[j].links.size(); ++i) {
        const LinkTerms l = batch.link(j, i), r = firms[j].links[i];
        ASSERT_TRUE(same(l.intercept, r.intercept) && same(l.multiplier, r.multiplier) && same(l.base_cost, r.base_cost) &&
                    same(l.slope, r.slope) && same(l.cap, r.cap)) << c << " lane " << j << " link " << i;
      }
    for (int j = 0; j < kBatchLanes; ++j) {
      ++lanes;
      if (!(done >> j & 1u)) continue;
      ++solved;
      const std::size_t n = firms[j].links.size();
      std::vector<double> q_ref(n), scratch(2 * n + 2);
      const auto ref = best_response(firms[j].links, firms[j].k, firms[j].capacity, firms[j].min_output, q_ref, scratch);
      ASSERT_TRUE(same(plan[j].mu, ref.mu)) << c << " lane " << j << ": " << plan[j].mu << " vs " << ref.mu;
      ASSERT_TRUE(same(plan[j].total, ref.total)) << c << " lane " << j;
      ASSERT_TRUE(same(plan[j].shadow, ref.shadow)) << c << " lane " << j;
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(same(batch.target[i][j], q_ref[i])) << c << " lane " << j << " link " << i;
      // The partial adjustment, as adjust_shipments gives it.
      std::vector<double> out(n);
      const double planned = adjust_shipments(previous[j], q_ref, firms[j].links, kappa, firms[j].capacity, out);
      ASSERT_TRUE(same(batch.planned[j], planned)) << c << " lane " << j;
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(same(batch.adjusted[i][j], out[i])) << c << " lane " << j << " link " << i;
      double raw = 0.0;  // before the proportional cut
      for (std::size_t i = 0; i < n; ++i) raw += std::max(0.0, previous[j][i] + kappa * (q_ref[i] - previous[j][i]));
      cut += raw > firms[j].capacity;
      capped += ref.shadow != 0.0;
    }
  }
  // The batch's regime is well covered, binding capacity included.
  EXPECT_GT(solved, lanes / 5);
  EXPECT_GT(capped, 2500) << solved << " of " << lanes << " lanes solved";
  EXPECT_GT(cut, 2500) << "adjustments cut to capacity";
}
