#include "agents/best_response.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
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

// The fast paths' (uncapped, lean, batch) case: 1 to kFastLinks links, rising marginal cost,
// no minimum output. One test, so that each takes exactly the firms the others take.
constexpr std::size_t kFastLinks = FirmBatch::kMaxLinks;
bool fast_case(std::size_t links, double cost_slope, double min_output) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  return links > 0 && links <= kFastLinks && cost_slope > 0.0 && cost_slope < kInf && min_output <= 0.0;
}

// The end the two scalar fast paths share, once μ and S(μ) = total are known with μ > 0 or
// S(μ) ≤ capacity: q*(μ) stands unless S(μ) exceeds capacity; then the capacity search from μ
// upward (target K, no k term), over which at most the largest kink κ₁ lies — h there is
// h_top() = S(κ₁) − K — and q* again at its root. fill(μ) writes q*(μ) and returns S(μ).
template <class HTop, class Fill>
void finish_plan(double mu, double total, double top, double capacity, double cost_slope, HTop h_top, Fill fill,
                 ShipmentPlan& plan) {
  plan.shadow = 0.0;
  if (total > capacity) {
    const double hc0 = total - capacity - mu * 0.0;
    double mc = mu;
    if (top > mu) {
      const double hc1 = h_top();
      mc = hc1 <= 0.0 ? mu + (top - mu) * hc0 / (hc0 - hc1) : top;
    }
    plan.shadow = mc - cost_slope * capacity;
    plan.total = fill(mc);
    plan.mu = mc;
    return;
  }
  plan.total = total;
  plan.mu = mu;
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
  constexpr std::size_t kMax = kFastLinks;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::size_t n = links.size();
  if (!fast_case(n, cost_slope, min_output)) return false;
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
  // The capacity search runs as the general one does: above μ > 0 lies at most the largest
  // kink (μ ≥ κ₂, or κ₁ is the only kink above 0). From μ = 0 every kink is above: the general
  // search.
  if (total > capacity && !(mu > 0.0)) return false;
  finish_plan(mu, total, top, capacity, cost_slope,
              [&] { return h(top, capacity, 0.0, shipping, n_rest, nullptr, nullptr); }, fill, plan);
  return true;
}

// best_response_uncapped's common case with a fifth of its divisions. Where this returns true,
// q and the plan are what best_response_uncapped gives, bit for bit; else it decides nothing
// (best_response_uncapped runs). Most links of a large world ship at μ = 0 but are priced out
// at the optimum, which lies between the two largest kinks; the divisions that found every
// link's q(0) and kink are what can be left out:
//
// - with slope in [1e−100, 1e100] and |numerator| in [1e−200, 1e200] for every link, every
//   q(0) before the clamp, numerator/slope, is finite, nonzero and of the numerator's sign, so
//   the links not priced out at 0 (v ≥ 0) are those with a positive numerator and the
//   finiteness test over the v's passes — no division needed to tell;
// - a kink A/mult − base is A − base when mult = 1 (A/1 is A exactly);
// - S(0) = Σ max(v, 0) is then positive (h(0) > 0), and its value is needed only where the
//   root is interpolated from 0 (fewer than two positive kinks): there this returns false;
// - at μ ≥ κ₂ > 0 a link whose numerator is ≤ −1e−200 has v ≤ −1e−300 < 0: its term is +0,
//   which changes no sum that is not −0 (these start at +0), it leaves the kept links, and
//   its q is the +0 the fill starts from. So h and the fill divide only for the other links
//   (those at or above the bracket: one or two).
constexpr double kSlopeLow = 1e-100, kSlopeHigh = 1e100, kNumeratorLow = 1e-200, kNumeratorHigh = 1e200;

bool best_response_lean(std::span<const LinkTerms> links, double cost_slope, double capacity, double min_output,
                        std::span<double> q, ShipmentPlan& plan) {
  constexpr std::size_t kMax = kFastLinks;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::size_t n = links.size();
  if (!fast_case(n, cost_slope, min_output)) return false;
  const double inv_k = 1.0 / cost_slope;
  auto positive = [](double v) { return v < 0.0 ? 0.0 : v; };
  std::uint32_t live[kMax];
  std::size_t n_live = 0;
  double top = -kInf, second = -kInf;
  bool ok = true;
  double finite = 0.0;  // stays 0 while every live kink is finite
  // One link: its numerator at 0 and kink (used only if it is live), branch-free: a link not
  // live enters the kinks as −∞ and the finiteness test as 0.
  auto take = [&](std::size_t i, double numerator, double a) {
    const bool is_live = numerator > 0.0;
    live[n_live] = static_cast<std::uint32_t>(i);
    n_live += is_live;
    finite += 0.0 * (is_live ? a : 0.0);
    const double ranked = is_live ? a : -kInf;
    second = std::max(second, std::min(top, ranked));
    top = std::max(top, ranked);
  };
  std::size_t i = 0;
#if defined(__SSE2__)
  // Two links per step, the tests as packed compares (all lanes must pass).
  {
    const __m128d inf = _mm_set1_pd(kInf), zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0);
    const __m128d slope_low = _mm_set1_pd(kSlopeLow), slope_high = _mm_set1_pd(kSlopeHigh);
    const __m128d num_low = _mm_set1_pd(kNumeratorLow), num_high = _mm_set1_pd(kNumeratorHigh);
    const __m128d magnitude = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
    __m128d pass = _mm_castsi128_pd(_mm_set1_epi64x(-1));
    for (; i + 1 < n; i += 2) {
      const LinkTerms &p = links[i], &r = links[i + 1];
      const __m128d A = _mm_set_pd(r.intercept, p.intercept), M = _mm_set_pd(r.multiplier, p.multiplier);
      const __m128d B = _mm_set_pd(r.base_cost, p.base_cost), D = _mm_set_pd(r.slope, p.slope);
      const __m128d C = _mm_set_pd(r.cap, p.cap);
      const __m128d num = _mm_sub_pd(A, _mm_mul_pd(M, _mm_add_pd(B, zero)));
      const __m128d size = _mm_and_pd(num, magnitude);
      pass = _mm_and_pd(pass, _mm_and_pd(_mm_cmpeq_pd(C, inf), _mm_and_pd(_mm_cmpgt_pd(M, zero), _mm_cmplt_pd(M, inf))));
      pass = _mm_and_pd(pass, _mm_and_pd(_mm_cmpge_pd(D, slope_low), _mm_cmple_pd(D, slope_high)));
      pass = _mm_and_pd(pass, _mm_and_pd(_mm_cmpge_pd(size, num_low), _mm_cmple_pd(size, num_high)));
      // A/1 is A: the division only where a multiplier is not 1 (both lanes then, as DIVPD).
      const __m128d a = _mm_movemask_pd(_mm_cmpneq_pd(M, one)) == 0 ? _mm_sub_pd(A, B)
                                                                   : _mm_sub_pd(_mm_div_pd(A, M), B);
      take(i, _mm_cvtsd_f64(num), _mm_cvtsd_f64(a));
      take(i + 1, _mm_cvtsd_f64(_mm_unpackhi_pd(num, num)), _mm_cvtsd_f64(_mm_unpackhi_pd(a, a)));
    }
    ok = _mm_movemask_pd(pass) == 3;
  }
#endif
  for (; i < n; ++i) {
    const LinkTerms& l = links[i];
    const double numerator = l.intercept - l.multiplier * (l.base_cost + 0.0);  // as Supply(links, 0) forms it
    const double size = std::abs(numerator);
    ok &= (l.cap == kInf) & (l.multiplier > 0.0) & (l.multiplier < kInf) & (l.slope >= kSlopeLow) &
          (l.slope <= kSlopeHigh) & (size >= kNumeratorLow) & (size <= kNumeratorHigh);
    take(i, numerator, l.multiplier == 1.0 ? l.intercept - l.base_cost : l.intercept / l.multiplier - l.base_cost);
  }
  if (!ok || finite != 0.0 || !(second > 0.0) || !(second < top)) return false;
  // h at κ₂ over the live links, keeping those not priced out there (`rest`), and h at κ₁ over
  // `rest`: the same sums in the same order as two evaluations, but a link's two quotients go
  // through one DIVPD, so the second no longer waits for the first (the searches here are one
  // chain of divisions, and its latency is what they take). A kept link priced out at κ₁ adds
  // its +0 as the separate evaluation did; one not kept adds +0 in place of nothing.
  std::uint32_t rest[kMax];
  std::size_t n_rest = 0;
  double at_second = 0.0, at_top = 0.0;  // Σ max(v, 0) at κ₂ (live links) and at κ₁ (rest)
  for (std::size_t j = 0; j < n_live; ++j) {
    const LinkTerms& l = links[live[j]];
    const double numerator = l.intercept - l.multiplier * (l.base_cost + second);
    if (numerator <= -kNumeratorLow) continue;  // priced out at κ₂ (and κ₁): +0, not kept
    const double numerator_top = l.intercept - l.multiplier * (l.base_cost + top);
#if defined(__SSE2__)
    const __m128d v2 = _mm_div_pd(_mm_set_pd(numerator_top, numerator), _mm_set1_pd(l.slope));
    const double v = _mm_cvtsd_f64(v2), v_top = _mm_cvtsd_f64(_mm_unpackhi_pd(v2, v2));
#else
    const double v = numerator / l.slope, v_top = numerator_top / l.slope;
#endif
    at_second += positive(v);
    const bool kept = !(v < 0.0);
    rest[n_rest] = live[j];
    n_rest += kept;
    at_top += kept ? positive(v_top) : 0.0;
  }
  const double h2 = at_second - 0.0 - second * inv_k;
  if (h2 <= 0.0) return false;  // the root lies lower
  const double x0 = second, h0 = h2;
  const double h1 = at_top - 0.0 - top * inv_k;
  const double mu = h1 <= 0.0 ? x0 + (top - x0) * h0 / (h0 - h1) : top + h1 / inv_k;  // > κ₂ > 0
  auto fill = [&](double at) {
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) q[i] = 0.0;  // (std::fill became REP STOSQ: slow to start)
    for (std::size_t j = 0; j < n_rest; ++j) {
      const LinkTerms& l = links[rest[j]];
      const double numerator = l.intercept - l.multiplier * (l.base_cost + at);
      if (numerator <= -kNumeratorLow) continue;  // q stays +0, as positive(v < 0) gives
      q[rest[j]] = positive(numerator / l.slope);
      total += q[rest[j]];
    }
    return total;
  };
  // h at κ₁ for target K is the sum at κ₁ already formed (the same links, the same order).
  finish_plan(mu, fill(mu), top, capacity, cost_slope, [&] { return at_top - capacity - top * 0.0; }, fill, plan);
  return true;
}


// best_response_lean in four lanes (firms) at once. Every lane takes the operations the scalar
// code takes, in the same order, on its own values: IEEE arithmetic per lane, no contraction
// (-ffp-contract=off), std::max(a, b) as MAXPD(b, a) and std::min(a, b) as MINPD(b, a) (the
// operand order that returns the same operand on ties and NaN), max(v, 0) of the scalar code
// (v < 0 ? +0 : v) as a blend. Where the scalar code skips a link (priced out) a lane adds +0
// instead, which changes no sum that is not −0 (every sum starts at +0). A lane whose firm the
// lean path would decline is not solved.
#if defined(__x86_64__) || defined(__i386__)
// Helpers of batch_avx (AVX code in a file built for the baseline ISA; all callers are AVX).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#define DECOUPLE_AVX __attribute__((target("avx"), always_inline)) inline
// Selects by bit masks, not BLENDVPD: GCC 12 turns a blend on a compare into a branch per lane.
DECOUPLE_AVX __m256d avx_select(__m256d mask, __m256d yes, __m256d no) {
  return _mm256_or_pd(_mm256_and_pd(mask, yes), _mm256_andnot_pd(mask, no));
}
DECOUPLE_AVX __m256d avx_positive(__m256d v) {  // v < 0 ? +0 : v per lane (+0 is all zero bits)
  return _mm256_andnot_pd(_mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_LT_OQ), v);
}
DECOUPLE_AVX __m256d avx_max(__m256d a, __m256d b) { return _mm256_max_pd(b, a); }  // std::max(a, b)
DECOUPLE_AVX __m256d avx_min(__m256d a, __m256d b) { return _mm256_min_pd(b, a); }  // std::min(a, b)
// q*(at) for the kept links into qs (link-major), Σ in link order.
DECOUPLE_AVX __m256d avx_fill(std::size_t width, const double (*A)[4], const double (*M)[4], const double (*B)[4],
                              const double (*D)[4], const __m256d* rest, __m256d at, double (*qs)[4]) {
  const __m256d neg_num_low = _mm256_set1_pd(-kNumeratorLow);
  __m256d total = _mm256_setzero_pd();
  for (std::size_t i = 0; i < width; ++i) {
    const __m256d a_ = _mm256_load_pd(A[i]), m_ = _mm256_load_pd(M[i]), b_ = _mm256_load_pd(B[i]);
    const __m256d d_ = _mm256_load_pd(D[i]);
    const __m256d num = _mm256_sub_pd(a_, _mm256_mul_pd(m_, _mm256_add_pd(b_, at)));
    const __m256d ships = _mm256_andnot_pd(_mm256_cmp_pd(num, neg_num_low, _CMP_LE_OQ), rest[i]);
    const __m256d qi = _mm256_and_pd(ships, avx_positive(_mm256_div_pd(num, d_)));
    _mm256_store_pd(qs[i], qi);
    total = _mm256_add_pd(total, qi);
  }
  return total;
}
#undef DECOUPLE_AVX
__attribute__((target("avx"))) unsigned batch_avx(FirmBatch& in, ShipmentPlan plan[kBatchLanes]) {
  constexpr std::size_t kMax = kFastLinks;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  unsigned lanes = 0;
  std::size_t width = 0;  // most links in a lane
  alignas(32) double k_in[kBatchLanes], cap_in[kBatchLanes];
  for (int k = 0; k < kBatchLanes; ++k) {
    const std::size_t n = in.links[k];
    const double cost_slope = in.cost_slope[k];
    const bool takes = fast_case(n, cost_slope, in.min_output[k]);
    lanes |= static_cast<unsigned>(takes) << k;
    k_in[k] = takes ? cost_slope : 1.0;
    cap_in[k] = in.capacity[k];
    if (takes) width = std::max(width, n);
  }
  if (lanes == 0) return 0;
  // A lane with fewer links is padded with a link priced out at 0 (never live: in no sum), so
  // every lane runs `width` steps (a lane not solved keeps its links for best_response).
  for (int k = 0; k < kBatchLanes; ++k)
    for (std::size_t i = std::min(in.links[k], width); i < width; ++i) in.set(k, i, {-1.0, 1.0, 0.0, 1.0, kInf});
  const auto& A = in.intercept;
  const auto& M = in.multiplier;
  const auto& B = in.base_cost;
  const auto& D = in.slope;
  const auto& C = in.cap;
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0), inf = _mm256_set1_pd(kInf);
  const __m256d minus_inf = _mm256_set1_pd(-kInf);
  const __m256d slope_low = _mm256_set1_pd(kSlopeLow), slope_high = _mm256_set1_pd(kSlopeHigh);
  const __m256d num_low = _mm256_set1_pd(kNumeratorLow), num_high = _mm256_set1_pd(kNumeratorHigh);
  const __m256d neg_num_low = _mm256_set1_pd(-kNumeratorLow);
  const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  // Pass 1: which links ship at 0, the two largest kinks, the tests.
  __m256d pass = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
  __m256d finite = zero, top = minus_inf, second = minus_inf;
  __m256d live[kMax];
  for (std::size_t i = 0; i < width; ++i) {
    const __m256d a_ = _mm256_load_pd(A[i]), m_ = _mm256_load_pd(M[i]), b_ = _mm256_load_pd(B[i]);
    const __m256d d_ = _mm256_load_pd(D[i]), c_ = _mm256_load_pd(C[i]);
    const __m256d num = _mm256_sub_pd(a_, _mm256_mul_pd(m_, _mm256_add_pd(b_, zero)));
    const __m256d size = _mm256_and_pd(num, magnitude);
    pass = _mm256_and_pd(pass, _mm256_and_pd(_mm256_cmp_pd(c_, inf, _CMP_EQ_OQ),
                                             _mm256_and_pd(_mm256_cmp_pd(m_, zero, _CMP_GT_OQ),
                                                           _mm256_cmp_pd(m_, inf, _CMP_LT_OQ))));
    pass = _mm256_and_pd(pass, _mm256_and_pd(_mm256_cmp_pd(d_, slope_low, _CMP_GE_OQ),
                                             _mm256_cmp_pd(d_, slope_high, _CMP_LE_OQ)));
    pass = _mm256_and_pd(pass, _mm256_and_pd(_mm256_cmp_pd(size, num_low, _CMP_GE_OQ),
                                             _mm256_cmp_pd(size, num_high, _CMP_LE_OQ)));
    const __m256d is_live = _mm256_cmp_pd(num, zero, _CMP_GT_OQ);
    live[i] = is_live;
    const __m256d kink = _mm256_movemask_pd(_mm256_cmp_pd(m_, one, _CMP_NEQ_UQ)) == 0
                             ? _mm256_sub_pd(a_, b_)
                             : _mm256_sub_pd(_mm256_div_pd(a_, m_), b_);
    finite = _mm256_add_pd(finite, _mm256_mul_pd(zero, _mm256_and_pd(is_live, kink)));
    const __m256d ranked = avx_select(is_live, kink, minus_inf);
    second = avx_max(second, avx_min(top, ranked));
    top = avx_max(top, ranked);
  }
  const __m256d ok = _mm256_and_pd(
      _mm256_and_pd(pass, _mm256_cmp_pd(finite, zero, _CMP_EQ_OQ)),
      _mm256_and_pd(_mm256_cmp_pd(second, zero, _CMP_GT_OQ), _mm256_cmp_pd(second, top, _CMP_LT_OQ)));
  lanes &= static_cast<unsigned>(_mm256_movemask_pd(ok));
  if (lanes == 0) return 0;
  const __m256d slope_k = _mm256_load_pd(k_in), inv_k = _mm256_div_pd(one, slope_k);
  // h at κ₂ over the live links and at κ₁ over those kept (`rest`).
  __m256d at_second = zero, at_top = zero;
  __m256d rest[kMax];
  for (std::size_t i = 0; i < width; ++i) {
    const __m256d a_ = _mm256_load_pd(A[i]), m_ = _mm256_load_pd(M[i]), b_ = _mm256_load_pd(B[i]);
    const __m256d d_ = _mm256_load_pd(D[i]);
    const __m256d num = _mm256_sub_pd(a_, _mm256_mul_pd(m_, _mm256_add_pd(b_, second)));
    const __m256d near = _mm256_andnot_pd(_mm256_cmp_pd(num, neg_num_low, _CMP_LE_OQ), live[i]);
    const __m256d num_top = _mm256_sub_pd(a_, _mm256_mul_pd(m_, _mm256_add_pd(b_, top)));
    const __m256d v = _mm256_div_pd(num, d_), v_top = _mm256_div_pd(num_top, d_);
    at_second = _mm256_add_pd(at_second, _mm256_and_pd(near, avx_positive(v)));
    const __m256d kept = _mm256_andnot_pd(_mm256_cmp_pd(v, zero, _CMP_LT_OQ), near);
    rest[i] = kept;
    at_top = _mm256_add_pd(at_top, _mm256_and_pd(kept, avx_positive(v_top)));
  }
  const __m256d h2 = _mm256_sub_pd(_mm256_sub_pd(at_second, zero), _mm256_mul_pd(second, inv_k));
  lanes &= static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(h2, zero, _CMP_GT_OQ)));
  if (lanes == 0) return 0;
  const __m256d x0 = second, h0 = h2;
  const __m256d h1 = _mm256_sub_pd(_mm256_sub_pd(at_top, zero), _mm256_mul_pd(top, inv_k));
  const __m256d interpolated =
      _mm256_add_pd(x0, _mm256_div_pd(_mm256_mul_pd(_mm256_sub_pd(top, x0), h0), _mm256_sub_pd(h0, h1)));
  const __m256d beyond = _mm256_add_pd(top, _mm256_div_pd(h1, inv_k));
  const __m256d mu = avx_select(_mm256_cmp_pd(h1, zero, _CMP_LE_OQ), interpolated, beyond);
  auto& qs = in.target;
  __m256d total = avx_fill(width, A, M, B, D, rest, mu, qs);
  const __m256d cap = _mm256_load_pd(cap_in);
  __m256d shadow = zero, solution = mu;
  const __m256d binding = _mm256_cmp_pd(total, cap, _CMP_GT_OQ);
  if (_mm256_movemask_pd(binding) & static_cast<int>(lanes)) {
    // The capacity search from μ upward (target K, no k term), then q* again where it binds.
    const __m256d hc0 = _mm256_sub_pd(_mm256_sub_pd(total, cap), _mm256_mul_pd(mu, zero));
    const __m256d hc1 = _mm256_sub_pd(_mm256_sub_pd(at_top, cap), _mm256_mul_pd(top, zero));
    const __m256d to_cap =
        _mm256_add_pd(mu, _mm256_div_pd(_mm256_mul_pd(_mm256_sub_pd(top, mu), hc0), _mm256_sub_pd(hc0, hc1)));
    const __m256d crossed = avx_select(_mm256_cmp_pd(hc1, zero, _CMP_LE_OQ), to_cap, top);
    const __m256d mc = avx_select(_mm256_cmp_pd(top, mu, _CMP_GT_OQ), crossed, mu);
    alignas(32) double q_mu[kMax][kBatchLanes];
    for (std::size_t i = 0; i < width; ++i) _mm256_store_pd(q_mu[i], _mm256_load_pd(qs[i]));
    const __m256d total_mc = avx_fill(width, A, M, B, D, rest, mc, qs);
    for (std::size_t i = 0; i < width; ++i)
      _mm256_store_pd(qs[i], avx_select(binding, _mm256_load_pd(qs[i]), _mm256_load_pd(q_mu[i])));
    total = avx_select(binding, total_mc, total);
    shadow = avx_select(binding, _mm256_sub_pd(mc, _mm256_mul_pd(slope_k, cap)), zero);
    solution = avx_select(binding, mc, mu);
  }
  alignas(32) double out_total[kBatchLanes], out_mu[kBatchLanes], out_shadow[kBatchLanes];
  _mm256_store_pd(out_total, total);
  _mm256_store_pd(out_mu, solution);
  _mm256_store_pd(out_shadow, shadow);
  for (int k = 0; k < kBatchLanes; ++k) {
    if (!(lanes >> k & 1u)) continue;
    plan[k].total = out_total[k];
    plan[k].mu = out_mu[k];
    plan[k].shadow = out_shadow[k];
  }
  return lanes;
}
// adjust_shipments per lane: v = prev + κ·(q* − prev), clamp_cap's MAXSD/MINSD as MAXPD/MINPD
// with the same operand order, Σ in link order, then the proportional cut where Σ exceeds
// capacity. A padded link (prev +0, q* +0, cap ∞) gives +0: no change to any sum.
__attribute__((target("avx"))) void adjust_avx(FirmBatch& in, unsigned lanes, double kappa) {
  std::size_t width = 0;
  for (int k = 0; k < kBatchLanes; ++k)
    if (lanes >> k & 1u) width = std::max(width, in.links[k]);
  const __m256d zero = _mm256_setzero_pd(), kv = _mm256_set1_pd(kappa);
  alignas(32) double count[kBatchLanes];
  for (int k = 0; k < kBatchLanes; ++k) count[k] = static_cast<double>(in.links[k]);
  const __m256d n = _mm256_load_pd(count);
  __m256d total = zero;
  for (std::size_t i = 0; i < width; ++i) {
    const __m256d prev = _mm256_load_pd(in.previous[i]);
    const __m256d v = _mm256_add_pd(prev, _mm256_mul_pd(kv, _mm256_sub_pd(_mm256_load_pd(in.target[i]), prev)));
    // Past a lane's last link: +0, whatever the entries hold.
    const __m256d link = _mm256_cmp_pd(_mm256_set1_pd(static_cast<double>(i)), n, _CMP_LT_OQ);
    const __m256d out = _mm256_and_pd(link, _mm256_min_pd(_mm256_load_pd(in.cap[i]), _mm256_max_pd(zero, v)));
    _mm256_store_pd(in.adjusted[i], out);
    total = _mm256_add_pd(total, out);
  }
  alignas(32) double cap_in[kBatchLanes];
  for (int k = 0; k < kBatchLanes; ++k) cap_in[k] = in.capacity[k];
  const __m256d capacity = _mm256_load_pd(cap_in);
  const __m256d over = _mm256_cmp_pd(total, capacity, _CMP_GT_OQ);
  if (_mm256_movemask_pd(over) & static_cast<int>(lanes)) {
    const __m256d ratio = _mm256_div_pd(capacity, total);
    const __m256d scale = avx_select(_mm256_cmp_pd(capacity, zero, _CMP_GT_OQ), ratio, zero);
    __m256d scaled_total = zero;
    for (std::size_t i = 0; i < width; ++i) {
      const __m256d a = _mm256_load_pd(in.adjusted[i]);
      const __m256d scaled = _mm256_mul_pd(a, scale);
      _mm256_store_pd(in.adjusted[i], avx_select(over, scaled, a));
      scaled_total = _mm256_add_pd(scaled_total, scaled);
    }
    total = avx_select(over, scaled_total, total);
  }
  alignas(32) double sums[kBatchLanes];
  _mm256_store_pd(sums, total);
  for (int k = 0; k < kBatchLanes; ++k)
    if (lanes >> k & 1u) in.planned[k] = sums[k];
}
#pragma GCC diagnostic pop
#endif
}  // namespace

ShipmentPlan best_response(std::span<const LinkTerms> links, double cost_slope, double capacity,
                           double min_output, std::span<double> q, std::span<double> scratch) {
  ShipmentPlan plan;
  if (best_response_lean(links, cost_slope, capacity, min_output, q, plan)) return plan;
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

unsigned best_response_batch(FirmBatch& batch, ShipmentPlan plan[kBatchLanes]) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx = __builtin_cpu_supports("avx");
  if (avx) return batch_avx(batch, plan);
#endif
  (void)batch, (void)plan;
  return 0;
}

void adjust_batch(FirmBatch& batch, unsigned lanes, double kappa) {
#if defined(__x86_64__) || defined(__i386__)
  if (lanes != 0) adjust_avx(batch, lanes, kappa);
#else
  (void)batch, (void)lanes, (void)kappa;
#endif
}

namespace {
template <class Cap>
double adjust(std::span<const double> previous, std::span<const double> target, Cap cap, double kappa,
              double capacity, std::span<double> out) {
  double total = 0.0;
  for (std::size_t m = 0; m < out.size(); ++m) {
    const double v = previous[m] + kappa * (target[m] - previous[m]);
    out[m] = clamp_cap(v, cap(m));
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
}  // namespace

double adjust_shipments(std::span<const double> previous, std::span<const double> target,
                        std::span<const LinkTerms> links, double kappa, double capacity,
                        std::span<double> out) {
  return adjust(previous, target, [&](std::size_t m) { return links[m].cap; }, kappa, capacity, out);
}

double adjust_shipments(std::span<const double> previous, std::span<const double> target,
                        std::span<const double> caps, double kappa, double capacity, std::span<double> out) {
  return adjust(previous, target, [&](std::size_t m) { return caps[m]; }, kappa, capacity, out);
}

}  // namespace decouple
