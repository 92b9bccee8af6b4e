#include "agents/best_response.hpp"

#include <algorithm>
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace decouple {
namespace {

// std::clamp(v, 0.0, cap) bit for bit — std::min(std::max(v, 0.0), cap), NaN and signed
// zeros included — as MAXSD/MINSD (DEST > SRC ? DEST : SRC, DEST < SRC ? DEST : SRC), so
// the links that switch off as μ rises cost no mispredicted branch.
inline double clamp_cap(double v, double cap) {
#if defined(__SSE2__)
  const __m128d lo = _mm_max_sd(_mm_setzero_pd(), _mm_set_sd(v));  // v < 0 ? 0 : v
  return _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(cap), lo));          // cap < x ? cap : x
#else
  return std::clamp(v, 0.0, cap);
#endif
}

// Σ_m clamp(α_m − β_m·μ, 0, cap_m) with α = (A − mult·base)/slope, β = mult/slope.
// Up to kPacked links are also held by field (intercept, multiplier, base, slope, cap) so
// two links go through one DIVPD: each lane rounds as the scalar code does, and the sum
// still adds the links one at a time in their order.
constexpr std::size_t kPacked = 32;

struct Supply {
  std::span<const LinkTerms> links;
#if defined(__SSE2__)
  alignas(16) double a[kPacked], m[kPacked], c[kPacked], d[kPacked], k[kPacked];
  bool packed = false;

  explicit Supply(std::span<const LinkTerms> l) : links(l), packed(l.size() <= kPacked) {
    if (!packed) return;
    for (std::size_t i = 0; i < l.size(); ++i) {
      a[i] = l[i].intercept;
      m[i] = l[i].multiplier;
      c[i] = l[i].base_cost;
      d[i] = l[i].slope;
      k[i] = l[i].cap;
    }
  }
#else
  explicit Supply(std::span<const LinkTerms> l) : links(l) {}
#endif

  double at(double mu) const {
    double s = 0.0;
    std::size_t i = 0;
#if defined(__SSE2__)
    if (packed) {
      const __m128d zero = _mm_setzero_pd(), x = _mm_set1_pd(mu);
      for (; i + 1 < links.size(); i += 2) {
        const __m128d v = _mm_div_pd(
            _mm_sub_pd(_mm_load_pd(a + i), _mm_mul_pd(_mm_load_pd(m + i), _mm_add_pd(_mm_load_pd(c + i), x))),
            _mm_load_pd(d + i));
        const __m128d q = _mm_min_pd(_mm_load_pd(k + i), _mm_max_pd(zero, v));  // clamp_cap per lane
        s += _mm_cvtsd_f64(q);
        s += _mm_cvtsd_f64(_mm_unpackhi_pd(q, q));
      }
    }
#endif
    for (; i < links.size(); ++i) {
      const auto& l = links[i];
      const double v = (l.intercept - l.multiplier * (l.base_cost + mu)) / l.slope;
      s += clamp_cap(v, l.cap);
    }
    return s;
  }
};

// Root of h(μ) = S(μ) − target − μ·inv_k on [lower, ∞), h non-increasing and piecewise
// linear with kinks at `kinks` (sorted). Exact up to rounding: interpolation on the
// segment containing the sign change.
double solve(const Supply& s, double target, double inv_k, std::span<double> kinks,
             double lower, double supply_at_lower) {
  auto h = [&](double mu) { return s.at(mu) - target - mu * inv_k; };
  double x0 = lower;
  double h0 = supply_at_lower - target - x0 * inv_k;  // h(lower), S(lower) known
  if (h0 <= 0.0) return x0;
  for (double x1 : kinks) {
    if (x1 <= x0) continue;
    const double h1 = h(x1);
    if (h1 <= 0.0) return x0 + (x1 - x0) * h0 / (h0 - h1);
    x0 = x1;
    h0 = h1;
  }
  // Past the last kink S is constant (every link at 0 or at its cap).
  if (inv_k > 0.0) return x0 + h0 / inv_k;
  return x0;  // target unreachable (above the sum of caps): stay at the last kink
}

// Ascending, as std::sort. With no NaN and no zero (the one value with two encodings)
// equal kinks are identical, so the sorted sequence is unique: a few kinks are placed by
// rank (branch-free counting) instead of an insertion sort's mispredicted branches.
void sort_kinks(std::span<double> kinks) {
  constexpr std::size_t kMaxRanked = 16;
  const std::size_t n = kinks.size();
  bool plain = n <= kMaxRanked;
  for (std::size_t i = 0; plain && i < n; ++i) plain = kinks[i] == kinks[i] && kinks[i] != 0.0;
  if (!plain) {
    std::sort(kinks.begin(), kinks.end());
    return;
  }
  double v[kMaxRanked];
  std::copy(kinks.begin(), kinks.end(), v);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t rank = 0;
    for (std::size_t j = 0; j < n; ++j)
      rank += static_cast<std::size_t>(v[j] < v[i]) + static_cast<std::size_t>(v[j] == v[i] && j < i);
    kinks[rank] = v[i];
  }
}

}  // namespace

ShipmentPlan best_response(std::span<const LinkTerms> links, double cost_slope, double capacity,
                           double min_output, std::span<double> q, std::span<double> scratch) {
  const Supply s(links);
  std::size_t n = 0;
  double lowest = 0.0;
  for (const auto& l : links) {
    const double alpha = l.intercept / l.multiplier - l.base_cost;  // μ where q hits 0
    scratch[n++] = alpha;
    lowest = std::min(lowest, alpha);
    if (std::isfinite(l.cap)) {
      const double at_cap = alpha - l.cap * l.slope / l.multiplier;  // μ where q hits cap
      scratch[n++] = at_cap;
      lowest = std::min(lowest, at_cap);
    }
  }
  std::span<double> kinks = scratch.first(n);
  sort_kinks(kinks);

  ShipmentPlan plan;
  const double inv_k = cost_slope > 0.0 ? 1.0 / cost_slope : 0.0;
  // Unconstrained: μ = k·S(μ) (μ = 0 without rising cost).
  double mu = cost_slope > 0.0 ? solve(s, 0.0, inv_k, kinks, 0.0, s.at(0.0)) : 0.0;
  double total = s.at(mu);
  if (total > capacity) {
    mu = solve(s, capacity, 0.0, kinks, mu, total);
    plan.shadow = mu - cost_slope * capacity;
  } else if (total < min_output && min_output > 0.0) {
    // Commitment to ship at least min_output: a negative increment (start the search
    // below every kink, where S is at its largest).
    const double goal = std::min(min_output, capacity);
    const double start = lowest - 1.0 - std::abs(lowest);
    const double at_start = s.at(start);
    if (at_start < goal) {
      // Left of every kink S is linear: uncapped links fall at mult/slope per unit of μ.
      double rate = 0.0;
      for (const auto& l : links)
        if (!std::isfinite(l.cap)) rate += l.multiplier / l.slope;
      mu = rate > 0.0 ? start - (goal - at_start) / rate : start;
    } else {
      mu = solve(s, goal, 0.0, kinks, start, at_start);
    }
  }
  total = 0.0;
  for (std::size_t m = 0; m < links.size(); ++m) {
    const auto& l = links[m];
    q[m] = clamp_cap((l.intercept - l.multiplier * (l.base_cost + mu)) / l.slope, l.cap);
    total += q[m];
  }
  plan.total = total;
  plan.mu = mu;
  return plan;
}

double adjust_shipments(std::span<const double> previous, std::span<const double> target,
                        std::span<const LinkTerms> links, double kappa, double capacity,
                        std::span<double> out) {
  double total = 0.0;
  for (std::size_t m = 0; m < out.size(); ++m) {
    const double v = previous[m] + kappa * (target[m] - previous[m]);
    out[m] = clamp_cap(v, links[m].cap);
    total += out[m];
  }
  if (total > capacity) {
    const double scale = capacity > 0.0 ? capacity / total : 0.0;
    total = 0.0;
    for (auto& v : out) {
      v *= scale;
      total += v;
    }
  }
  return total;
}

}  // namespace decouple
