#include "agents/best_response.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

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

// One link's q(μ), as the scalar code has always computed it.
inline double link_q(const LinkTerms& l, double mu) {
  return clamp_cap((l.intercept - l.multiplier * (l.base_cost + mu)) / l.slope, l.cap);
}

// S(μ) = Σ_m clamp(α_m − β_m·μ, 0, cap_m) with α = (A − mult·base)/slope, β = mult/slope,
// summed in link order, for μ ≥ `from`.
//
// A link is priced out at `from` when v(from) = (A − mult·(base + from))/slope < 0 with
// 0 < mult < ∞, slope > 0, A and base finite and cap not negative. Each rounded step of v
// is monotone in μ then, so v(μ) ≤ v(from) < 0 and its term is exactly +0 for every
// μ ≥ from; the running sum is never −0 (it starts at +0 and adds terms ≥ +0), so adding
// that +0 changes nothing and the link is left out of every later sum, bit for bit. So are
// the links with a zero cap and a finite v(from) (their term is ±0). The links that remain
// are held by field, so two go through one DIVPD: each lane rounds as the scalar code does,
// and the sum still adds the links one at a time in their order.
//
// Firms with more than kMaxLinks links are evaluated in full.
constexpr std::size_t kMaxLinks = 32;

struct Supply {
  std::span<const LinkTerms> links;
  double from;
  double at_from = 0.0;  // S(from), every link summed
  bool compact;
  std::size_t n_live = 0;  // links not priced out at `from`, in order
  std::size_t n_sum = 0;   // of those, the ones whose term can be nonzero
  std::size_t n_zero = 0;  // the others (zero cap): q is ±0
  std::uint32_t live[kMaxLinks], sum[kMaxLinks], zero[kMaxLinks];
  alignas(16) double a[kMaxLinks], m[kMaxLinks], c[kMaxLinks], d[kMaxLinks], k[kMaxLinks];
  double q_from[kMaxLinks];  // q(from) per link

  Supply(std::span<const LinkTerms> l, double from_) : links(l), from(from_), compact(l.size() <= kMaxLinks) {
    const std::size_t n = l.size();
    if (!compact) {
      at_from = full(from);
      return;
    }
    double v[kMaxLinks];
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128d x = _mm_set1_pd(from);
    for (; i + 1 < n; i += 2) {
      const LinkTerms &p = l[i], &r = l[i + 1];
      const __m128d vv = _mm_div_pd(
          _mm_sub_pd(_mm_set_pd(r.intercept, p.intercept),
                     _mm_mul_pd(_mm_set_pd(r.multiplier, p.multiplier),
                                _mm_add_pd(_mm_set_pd(r.base_cost, p.base_cost), x))),
          _mm_set_pd(r.slope, p.slope));
      _mm_storeu_pd(v + i, vv);
    }
#endif
    for (; i < n; ++i) v[i] = (l[i].intercept - l[i].multiplier * (l[i].base_cost + from)) / l[i].slope;
    constexpr double kInf = std::numeric_limits<double>::infinity();
    double s = 0.0;
    for (i = 0; i < n; ++i) {
      const LinkTerms& t = l[i];
      q_from[i] = clamp_cap(v[i], t.cap);
      s += q_from[i];
      const bool priced_out = v[i] < 0.0 && t.multiplier > 0.0 && t.multiplier < kInf && t.slope > 0.0 &&
                              !(t.cap < 0.0) && std::isfinite(t.intercept) && std::isfinite(t.base_cost);
      if (priced_out) continue;
      live[n_live++] = static_cast<std::uint32_t>(i);
      if (t.cap == 0.0 && std::isfinite(v[i])) {
        zero[n_zero++] = static_cast<std::uint32_t>(i);
        continue;
      }
      sum[n_sum] = static_cast<std::uint32_t>(i);
      a[n_sum] = t.intercept;
      m[n_sum] = t.multiplier;
      c[n_sum] = t.base_cost;
      d[n_sum] = t.slope;
      k[n_sum] = t.cap;
      ++n_sum;
    }
    at_from = s;
  }

  double full(double mu) const {
    double s = 0.0;
    for (const auto& l : links) s += link_q(l, mu);
    return s;
  }

  // Whether μ lies where the reduced sums hold (false for NaN).
  bool covers(double mu) const { return compact && mu >= from; }

  // Σ_m q_m(μ) over the summed links in order; each q_m into out[sum[m]] when out is given.
  double reduced(double mu, double* out) const {
    double s = 0.0;
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128d zero_pd = _mm_setzero_pd(), x = _mm_set1_pd(mu);
    for (; i + 1 < n_sum; i += 2) {
      const __m128d v = _mm_div_pd(
          _mm_sub_pd(_mm_load_pd(a + i), _mm_mul_pd(_mm_load_pd(m + i), _mm_add_pd(_mm_load_pd(c + i), x))),
          _mm_load_pd(d + i));
      const __m128d q = _mm_min_pd(_mm_load_pd(k + i), _mm_max_pd(zero_pd, v));  // clamp_cap per lane
      const double q0 = _mm_cvtsd_f64(q), q1 = _mm_cvtsd_f64(_mm_unpackhi_pd(q, q));
      s += q0;
      s += q1;
      if (out) {
        out[sum[i]] = q0;
        out[sum[i + 1]] = q1;
      }
    }
#endif
    for (; i < n_sum; ++i) {
      const double q = clamp_cap((a[i] - m[i] * (c[i] + mu)) / d[i], k[i]);
      s += q;
      if (out) out[sum[i]] = q;
    }
    return s;
  }

  double at(double mu) const { return covers(mu) ? reduced(mu, nullptr) : full(mu); }

  // The kinks of S: per link, μ where q hits 0 and (finite cap) where it hits the cap. With
  // `live_only`, only those of the links not priced out at `from` (for from = 0 the others'
  // kinks are ≤ 0: A < fl(mult·base) makes A/mult < base exactly, so fl(A/mult) − base ≤ 0).
  std::size_t kinks(std::span<double> out, bool live_only) const {
    std::size_t n = 0;
    auto add = [&](const LinkTerms& l) {
      const double alpha = l.intercept / l.multiplier - l.base_cost;  // μ where q hits 0
      out[n++] = alpha;
      if (std::isfinite(l.cap)) out[n++] = alpha - l.cap * l.slope / l.multiplier;  // μ where q hits cap
    };
    if (live_only && compact) {
      for (std::size_t j = 0; j < n_live; ++j) add(links[live[j]]);
    } else {
      for (const auto& l : links) add(l);
    }
    return n;
  }

  // q*(μ) into q, returns Σq in link order (= at(μ): the priced-out and zero-cap links add
  // ±0 to a sum that is not −0).
  double fill(double mu, std::span<double> q) const {
    const std::size_t n = links.size();
    if (compact && mu == from && std::signbit(mu) == std::signbit(from)) {
      std::copy(q_from, q_from + n, q.begin());
      return at_from;
    }
    if (covers(mu)) {
      std::fill(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n), 0.0);
      for (std::size_t j = 0; j < n_zero; ++j) q[zero[j]] = link_q(links[zero[j]], mu);
      return reduced(mu, q.data());
    }
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      q[i] = link_q(links[i], mu);
      total += q[i];
    }
    return total;
  }
};

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

// Root of h(μ) = S(μ) − target − μ·inv_k on [lower, ∞), h non-increasing and piecewise
// linear with kinks at `kinks` (any order; reordered here). lower ≥ s.from, S(lower) =
// supply_at_lower. Exact up to rounding: interpolation on the segment containing the sign
// change, between the last kink (or lower) with h > 0 and the first with h ≤ 0.
//
// Each rounded step of h is monotone in μ, so the computed h is non-increasing too and the
// first kink with h ≤ 0 is the same whether found by walking the sorted kinks upward (as
// this solver did) or by bracketing; the interpolation uses h at the same two points
// either way, so the result is the same bit for bit. Only kinks above lower matter, and
// usually there are none or one: they are picked out first and never sorted.
double solve(const Supply& s, double target, double inv_k, std::span<double> kinks, double lower,
             double supply_at_lower) {
  auto h = [&](double mu) { return s.at(mu) - target - mu * inv_k; };
  double x0 = lower;
  double h0 = supply_at_lower - target - x0 * inv_k;  // h(lower), S(lower) known
  if (h0 <= 0.0) return x0;
  std::size_t n = 0;
  bool nan = false;
  for (std::size_t i = 0; i < kinks.size(); ++i) {
    const double x = kinks[i];
    if (x > lower) {
      kinks[i] = kinks[n];
      kinks[n++] = x;
    } else {
      nan |= x != x;
    }
  }
  if (nan) {
    // The old walk over every kink, NaN included, for identical results.
    sort_kinks(kinks);
    for (double x1 : kinks) {
      if (x1 <= x0) continue;
      const double h1 = h(x1);
      if (h1 <= 0.0) return x0 + (x1 - x0) * h0 / (h0 - h1);
      x0 = x1;
      h0 = h1;
    }
  } else {
    // Bracket the sign change between kinks: h at a pivot kink moves the lower end (h > 0)
    // or the upper end (h ≤ 0) to it, and only the kinks strictly inside the bracket are
    // kept. When none are left the ends are the last kink with h > 0 (or lower) and the
    // first with h ≤ 0, the points the upward walk would interpolate between. Expected
    // O(log n) evaluations of h and O(n) comparisons; the kinks are only permuted (the
    // capacity search reuses them).
    bool bracketed = false;
    double x1 = 0.0, h1 = 0.0;
    while (n > 0) {
      const double p = kinks[n / 2];
      const double hp = h(p);
      std::size_t kept = 0;
      if (hp <= 0.0) {
        bracketed = true;
        x1 = p;
        h1 = hp;
        for (std::size_t i = 0; i < n; ++i)
          if (kinks[i] < p) std::swap(kinks[kept++], kinks[i]);
      } else {
        x0 = p;
        h0 = hp;
        for (std::size_t i = 0; i < n; ++i)
          if (kinks[i] > p) std::swap(kinks[kept++], kinks[i]);
      }
      n = kept;
    }
    if (bracketed) return x0 + (x1 - x0) * h0 / (h0 - h1);
  }
  // Past the last kink S is constant (every link at 0 or at its cap).
  if (inv_k > 0.0) return x0 + h0 / inv_k;
  return x0;  // target unreachable (above the sum of caps): stay at the last kink
}

// The common case in large worlds, in few instructions: no caps, rising marginal cost, no
// minimum output, and the root above every kink but the largest (a firm's exports priced out
// at its optimum, only its home link shipping: 98% of the million world's firms). Gives what
// the general code below gives, bit for bit, or false (then the general code runs):
//
// - S(0) is summed over every link in order and the kinks α = A/mult − base of the links not
//   priced out at 0 are formed exactly as Supply and kinks() form them;
// - h at the second-largest kink κ₂ > 0 (else at 0, from S(0)) and at the largest κ₁ are
//   what the general solve evaluates there (sums over the same links in the same order);
//   with h(κ₂) > 0 ≥ h(κ₁) the bracketing and the walk both interpolate between κ₂ and κ₁
//   (every kink below κ₂ has h ≥ h(κ₂) > 0); with h(κ₂) ≤ 0 the root is lower: false;
// - links priced out at κ₂ (v < 0) are priced out for every μ ≥ κ₂ (each rounded step of v
//   is monotone) and add +0 to a sum that is never −0, so h(κ₁) and q*(μ ≥ κ₂) skip them;
// - with S(μ) above capacity, the capacity search from μ > 0 has at most κ₁ above it (the same
//   one or two evaluations of h, target K); from μ = 0: false.
bool best_response_uncapped(std::span<const LinkTerms> links, double cost_slope, double capacity,
                            double min_output, std::span<double> q, ShipmentPlan& plan) {
  constexpr std::size_t kMax = 16;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::size_t n = links.size();
  if (n == 0 || n > kMax || !(cost_slope > 0.0 && cost_slope < kInf) || !(min_output <= 0.0)) return false;
  const double inv_k = 1.0 / cost_slope;
  // clamp_cap(v, +inf) for v not NaN (v < 0 → +0, else v, −0 included), without the SSE moves.
  auto positive = [](double v) { return v < 0.0 ? 0.0 : v; };
  double v0[kMax];
  std::uint32_t live[kMax];
  std::size_t n_live = 0;
  double s0 = 0.0, top = -kInf, second = -kInf;
  bool ok = true;
  double finite = 0.0;  // stays 0 while every v and kink is finite (0·±inf and 0·NaN are NaN)
  // One link, in order: v = q(0) before the clamp, a = its kink (used only if it is live).
  auto take = [&](std::size_t i, double v, double a) {
    const LinkTerms& l = links[i];
    ok &= (l.cap == kInf) & (l.multiplier > 0.0) & (l.multiplier < kInf) & (l.slope > 0.0);
    v0[i] = v;
    finite += 0.0 * v;
    s0 += positive(v);
    if (!(v < 0.0)) {
      finite += 0.0 * a;
      live[n_live++] = static_cast<std::uint32_t>(i);
      second = std::max(second, std::min(top, a));
      top = std::max(top, a);
    }
  };
  std::size_t i = 0;
#if defined(__SSE2__)
  // Two links per step: their v (as Supply(links, 0) forms it) and kinks (as kinks() forms
  // them) in one DIVPD each, every lane rounding as the scalar code does; the divisions were a
  // fifth of this function's time. A kink is formed for a priced-out link too, and not used.
  for (; i + 1 < n; i += 2) {
    const LinkTerms &p = links[i], &r = links[i + 1];
    const __m128d A = _mm_set_pd(r.intercept, p.intercept), M = _mm_set_pd(r.multiplier, p.multiplier);
    const __m128d B = _mm_set_pd(r.base_cost, p.base_cost);
    const __m128d v = _mm_div_pd(_mm_sub_pd(A, _mm_mul_pd(M, _mm_add_pd(B, _mm_setzero_pd()))),
                                 _mm_set_pd(r.slope, p.slope));
    const __m128d a = _mm_sub_pd(_mm_div_pd(A, M), B);
    take(i, _mm_cvtsd_f64(v), _mm_cvtsd_f64(a));
    take(i + 1, _mm_cvtsd_f64(_mm_unpackhi_pd(v, v)), _mm_cvtsd_f64(_mm_unpackhi_pd(a, a)));
  }
#endif
  for (; i < n; ++i) {
    const LinkTerms& l = links[i];
    const double v = (l.intercept - l.multiplier * (l.base_cost + 0.0)) / l.slope;  // Supply(links, 0)
    take(i, v, v < 0.0 ? 0.0 : l.intercept / l.multiplier - l.base_cost);     // kinks()
  }
  // Finite A and base give finite v and kinks unless they overflow; either way: general code.
  if (!ok || finite != 0.0) return false;
  // h(μ) over the live links (their order), keeping those not priced out at μ in `keep`.
  auto h = [&](double mu, double target, double ik, const std::uint32_t* idx, std::size_t m, std::uint32_t* keep,
               std::size_t* kept) {
    double sum = 0.0;
    std::size_t k = 0;
    for (std::size_t j = 0; j < m; ++j) {
      const LinkTerms& l = links[idx[j]];
      const double v = (l.intercept - l.multiplier * (l.base_cost + mu)) / l.slope;
      sum += positive(v);
      if (keep) {
        keep[k] = idx[j];
        k += !(v < 0.0);
      }
    }
    if (kept) *kept = k;
    return sum - target - mu * ik;
  };
  double mu;
  std::uint32_t rest[kMax];
  std::size_t n_rest = n_live;
  const std::uint32_t* shipping = live;  // links that can ship at μ
  double x0 = 0.0, h0 = s0 - 0.0 - 0.0 * inv_k;
  if (h0 <= 0.0) {
    mu = x0;
  } else {
    if (second > 0.0 && second < top) {
      const double h2 = h(second, 0.0, inv_k, live, n_live, rest, &n_rest);
      if (h2 <= 0.0) return false;  // the root lies lower
      x0 = second;
      h0 = h2;
      shipping = rest;
    } else if (second > 0.0) {
      return false;  // the largest kink twice: leave ties to the general search
    }
    if (top > 0.0) {
      const double h1 = h(top, 0.0, inv_k, shipping, n_rest, nullptr, nullptr);
      mu = h1 <= 0.0 ? x0 + (top - x0) * h0 / (h0 - h1) : top + h1 / inv_k;
    } else {
      mu = x0 + h0 / inv_k;
    }
  }
  // q*(μ) and S(μ), as Supply::fill gives them (μ ≥ κ₂ unless μ = 0).
  auto fill = [&](double at) {
    double total = 0.0;
    if (at == 0.0 && !std::signbit(at)) {
      for (std::size_t i = 0; i < n; ++i) q[i] = positive(v0[i]);
      return s0;
    }
    std::fill(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n), 0.0);
    for (std::size_t j = 0; j < n_rest; ++j) {
      const LinkTerms& l = links[shipping[j]];
      q[shipping[j]] = positive((l.intercept - l.multiplier * (l.base_cost + at)) / l.slope);
      total += q[shipping[j]];
    }
    return total;
  };
  const double total = fill(mu);
  plan.shadow = 0.0;
  if (total > capacity) {
    // The capacity search from μ upward, as the general one runs it (target K, no k term):
    // above μ > 0 lies at most the largest kink (μ ≥ κ₂, or κ₁ is the only kink above 0).
    // From μ = 0 every kink is above: the general search.
    if (!(mu > 0.0)) return false;
    const double hc0 = total - capacity - mu * 0.0;
    double mc = mu;
    if (top > mu) {
      const double hc1 = h(top, capacity, 0.0, shipping, n_rest, nullptr, nullptr);
      mc = hc1 <= 0.0 ? mu + (top - mu) * hc0 / (hc0 - hc1) : top;
    }
    plan.shadow = mc - cost_slope * capacity;
    plan.total = fill(mc);
    plan.mu = mc;
    return true;
  }
  plan.total = total;
  plan.mu = mu;
  return true;
}

}  // namespace

ShipmentPlan best_response(std::span<const LinkTerms> links, double cost_slope, double capacity,
                           double min_output, std::span<double> q, std::span<double> scratch) {
  ShipmentPlan plan;
  if (best_response_uncapped(links, cost_slope, capacity, min_output, q, plan)) return plan;
  // Links priced out at μ = 0 ship nothing at any μ ≥ 0 and have no kink above 0: the
  // searches from 0 upward leave them out.
  const Supply s(links, 0.0);
  const double inv_k = cost_slope > 0.0 ? 1.0 / cost_slope : 0.0;
  double mu = 0.0;
  double total = s.at_from;
  std::size_t n_kinks = 0;
  bool have_kinks = false, filled = false;
  if (cost_slope > 0.0) {
    // Unconstrained: μ = k·S(μ) (μ = 0 without rising cost).
    n_kinks = s.kinks(scratch, true);
    have_kinks = true;
    mu = solve(s, 0.0, inv_k, scratch.first(n_kinks), 0.0, total);
    total = s.fill(mu, q);  // S(μ), and q*(μ) should it stand
    filled = true;
  }
  if (total > capacity) {
    if (!have_kinks) n_kinks = s.kinks(scratch, true);
    mu = solve(s, capacity, 0.0, scratch.first(n_kinks), mu, total);
    plan.shadow = mu - cost_slope * capacity;
    filled = false;
  } else if (total < min_output && min_output > 0.0) {
    // Commitment to ship at least min_output: a negative increment (start the search
    // below every kink, where S is at its largest).
    n_kinks = s.kinks(scratch, false);
    double lowest = 0.0;
    for (double x : scratch.first(n_kinks)) lowest = std::min(lowest, x);
    const double goal = std::min(min_output, capacity);
    const double start = lowest - 1.0 - std::abs(lowest);
    const Supply below(links, start);
    const double at_start = below.at_from;
    if (at_start < goal) {
      // Left of every kink S is linear: uncapped links fall at mult/slope per unit of μ.
      double rate = 0.0;
      for (const auto& l : links)
        if (!std::isfinite(l.cap)) rate += l.multiplier / l.slope;
      mu = rate > 0.0 ? start - (goal - at_start) / rate : start;
    } else {
      mu = solve(below, goal, 0.0, scratch.first(n_kinks), start, at_start);
    }
    plan.total = below.fill(mu, q);
    plan.mu = mu;
    return plan;
  }
  plan.total = filled ? total : s.fill(mu, q);
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
