#include "markets/clearing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace decouple {

namespace {

// A bid's quantity at `price` under a linear schedule of relative width `spread`.
inline double bid_at(double price, double q, double r, double spread) {
  if (r <= 0.0) return price <= 0.0 ? q : 0.0;
  if (price >= r) return price == r && spread == 0.0 ? q : 0.0;
  if (spread == 0.0) return q;
  return q * std::min(1.0, (r - price) / (spread * r));
}

// Clearing with linear bid schedules: sweep the price axis downward from the top, where
// demand is 0, through every kink (each bid's r and (1 − s)·r, the intercept a), keeping
// demand's value and slope; interpolate where it reaches the supply.
Clearing clear_smooth(double supply, const LinearDemand& demand, std::span<const double> q,
                      std::span<const double> r, std::span<double> served, double spread) {
  struct Kink {
    double price;
    double rate;  // change of |dD/dP| when passing this price downward
  };
  static thread_local std::vector<Kink> kinks, merged;
  kinks.clear();
  for (std::size_t j = 0; j < q.size(); ++j) {
    if (q[j] <= 0.0) continue;
    if (r[j] <= 0.0) continue;  // demands only at price 0 (handled below)
    const double rate = q[j] / (spread * r[j]);
    kinks.push_back({r[j], rate});
    kinks.push_back({(1.0 - spread) * r[j], -rate});
  }
  if (demand.present) kinks.push_back({demand.a, 1.0 / demand.b});
  // Bids come highest r first, so the tops r and the feet (1 − s)·r are each already in
  // order: merge them (without a branch per step: which head is larger is unpredictable),
  // then put the demand's kink before the first lower price. When every price is distinct the
  // merged order is the only one a sort can give; otherwise (ties, NaN, unsorted input) sort
  // the kinks as before, whatever the merge made of them.
  const std::size_t pairs = (kinks.size() - (demand.present ? 1 : 0)) / 2;
  merged.resize(kinks.size());
  {
    const Kink* K = kinks.data();
    Kink* out = merged.data();
    std::size_t top = 0, foot = 0, k = 0;
    bool demand_left = demand.present;
    const Kink d = demand_left ? kinks.back() : Kink{};
    auto put = [&](const Kink& x) {
      if (demand_left && d.price > x.price) {  // taken once: predictable
        out[k++] = d;
        demand_left = false;
      }
      out[k++] = x;
    };
    while (top < pairs && foot < pairs) {
      const bool take_foot = K[2 * foot + 1].price > K[2 * top].price;
      put(*(take_foot ? &K[2 * foot + 1] : &K[2 * top]));
      foot += take_foot;
      top += !take_foot;
    }
    for (; top < pairs; ++top) put(K[2 * top]);
    for (; foot < pairs; ++foot) put(K[2 * foot + 1]);
    if (demand_left) out[k++] = d;
  }
  bool strict = true;
  for (std::size_t k = 1; k < merged.size(); ++k) strict = strict && merged[k - 1].price > merged[k].price;
  if (strict) kinks.swap(merged);
  else std::sort(kinks.begin(), kinks.end(), [](const Kink& x, const Kink& y) { return x.price > y.price; });
  Clearing out;
  double price = kinks.empty() ? 0.0 : kinks.front().price;
  double value = 0.0, rate = 0.0;
  bool found = false;
  for (const auto& k : kinks) {
    const double next = std::max(k.price, 0.0);
    const double reach = value + rate * (price - next);
    if (reach >= supply && rate > 0.0) {
      price -= (supply - value) / rate;
      found = true;
      break;
    }
    value = reach;
    price = next;
    rate += k.rate;
    if (price <= 0.0) break;
  }
  if (!found && price > 0.0) {
    const double reach = value + rate * price;
    if (reach >= supply && rate > 0.0) {
      price -= (supply - value) / rate;
      found = true;
    } else {
      value = reach;
      price = 0.0;
    }
  }
  if (!found) price = 0.0;
  if (supply <= 0.0) price = kinks.empty() ? 0.0 : std::max(kinks.front().price, 0.0);
  out.price = std::max(price, 0.0);
  out.exogenous = demand.quantity_at(out.price);
  double bids = 0.0;
  for (std::size_t j = 0; j < q.size(); ++j) {
    served[j] = bid_at(out.price, q[j], r[j], spread);
    bids += served[j];
  }
  if (out.price <= 0.0) {
    // At price 0 every schedule with r > 0 is full and exogenous demand takes a/b (the sweep
    // only ends here when supply covers them); bids with r ≤ 0 share what is left, in order.
    out.exogenous = demand.quantity_at(0.0);
    double left = supply - out.exogenous;
    bids = 0.0;
    for (std::size_t j = 0; j < q.size(); ++j)
      if (r[j] > 0.0) {
        served[j] = q[j];
        left -= q[j];
        bids += q[j];
      }
    for (std::size_t j = 0; j < q.size(); ++j)
      if (r[j] <= 0.0) {
        served[j] = std::clamp(left, 0.0, q[j]);
        left -= served[j];
        bids += served[j];
      }
    out.unsold = std::max(left, 0.0);
  }
  out.bids_served = bids;
  return out;
}

// Clearing against a nonlinear (isoelastic) exogenous schedule: demand is continuous and
// strictly falling below the choke price except for steps (the choke, σ = 0 bids), so the price
// is found by bisection on the right-continuous demand, and the supply left at a step goes to
// the buyers whose demand jumps there (the schedule first, then bids in order, as at a step of
// the linear case). Demand is unbounded at price → 0, so there is never a glut.
Clearing clear_general(double supply, const LinearDemand& demand, std::span<const double> q,
                       std::span<const double> r, std::span<double> served, double spread) {
  // Demand just above price p (right limit), and each part of it.
  auto exo_above = [&](double p) { return demand.quantity_at(p); };  // right-continuous already
  auto bid_above = [&](double p, std::size_t j) {
    if (q[j] <= 0.0) return 0.0;
    if (spread > 0.0) return bid_at(p, q[j], r[j], spread);
    return p < r[j] || (r[j] <= 0.0 && p <= 0.0) ? q[j] : 0.0;
  };
  auto total_above = [&](double p) {
    double d = exo_above(p);
    for (std::size_t j = 0; j < q.size(); ++j) d += bid_above(p, j);
    return d;
  };
  Clearing out;
  double top = demand.a;
  for (std::size_t j = 0; j < q.size(); ++j)
    if (q[j] > 0.0) top = std::max(top, r[j]);
  std::fill(served.begin(), served.end(), 0.0);
  if (supply <= 0.0) {
    out.price = std::max(top, 0.0);
    return out;
  }
  // Invariant: demand above lo exceeds supply, demand above hi does not.
  double lo = 0.0, hi = top;
  for (int it = 0; it < 2000; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (!(mid > lo && mid < hi)) break;
    (total_above(mid) > supply ? lo : hi) = mid;
  }
  out.price = hi;
  double left = supply;
  const double exo_hi = exo_above(hi);
  out.exogenous = exo_hi;
  left -= exo_hi;
  for (std::size_t j = 0; j < q.size(); ++j) {
    served[j] = bid_above(hi, j);
    left -= served[j];
  }
  // What is left goes to the buyers whose demand steps up between hi and lo.
  if (left > 0.0) {
    const double more = std::min(left, std::max(0.0, exo_above(lo) - exo_hi));
    out.exogenous += more;
    left -= more;
    for (std::size_t j = 0; j < q.size() && left > 0.0; ++j) {
      const double add = std::min(left, std::max(0.0, bid_above(lo, j) - served[j]));
      served[j] += add;
      left -= add;
    }
    out.exogenous += std::max(left, 0.0);  // bisection's last bit: the schedule is continuous there
  }
  double bids = 0.0;
  for (std::size_t j = 0; j < q.size(); ++j) bids += served[j];
  out.bids_served = bids;
  return out;
}

}  // namespace

double LinearDemand::surplus_at(double price) const {
  if (!present || !(price < a)) return 0.0;
  if (!isoelastic()) return 0.5 * (a - price) * quantity_at(price);
  const double p = std::max(price, 0.0);
  if (elasticity == 1.0) return p > 0.0 ? scale * std::log(a / p) : std::numeric_limits<double>::infinity();
  const double e1 = 1.0 - elasticity;
  return scale * (std::pow(a, e1) - std::pow(p, e1)) / e1;
}

double demand_at(double price, const LinearDemand& demand, std::span<const double> q,
                 std::span<const double> r, double spread) {
  double d = demand.quantity_at(price);
  for (std::size_t j = 0; j < q.size(); ++j) d += bid_at(price, q[j], r[j], spread);
  return d;
}

Clearing clear_market(double supply, const LinearDemand& demand, std::span<const double> q,
                      std::span<const double> r, std::span<double> served, double spread) {
  if (demand.present && demand.isoelastic()) return clear_general(supply, demand, q, r, served, spread);
  if (spread > 0.0) return clear_smooth(supply, demand, q, r, served, spread);
  Clearing out;
  std::fill(served.begin(), served.end(), 0.0);
  // Walk down the price axis. Above bid k's price, bids 0..k-1 are served in full
  // (cumulated in `above`); at price r[k] bid k may be served in part.
  double above = 0.0;
  const std::size_t n = q.size();
  for (std::size_t k = 0; k <= n; ++k) {
    const double low = k < n ? std::max(r[k], 0.0) : 0.0;
    // Inside (low, high): D(P) = exo(P) + above. Is S reached there?
    // (The failed step check below guarantees S > exo(high) + above, so P < high.)
    if (demand.present && supply - above >= 0.0) {
      const double p = demand.a - demand.b * (supply - above);
      if (p >= low) {
        out.price = p;
        out.exogenous = supply - above;
        for (std::size_t j = 0; j < k; ++j) served[j] = q[j];
        out.bids_served = above;
        return out;
      }
    }
    if (k == n) break;
    // At the step P = r[k]: demand ranges over [exo + above, exo + above + q[k]].
    const double exo = demand.quantity_at(low);
    if (supply <= exo + above + q[k]) {
      out.price = low;
      out.exogenous = std::min(exo, std::max(supply - above, 0.0));
      for (std::size_t j = 0; j < k; ++j) served[j] = q[j];
      served[k] = std::max(supply - above - out.exogenous, 0.0);
      out.bids_served = above + served[k];
      return out;
    }
    above += q[k];
  }
  // Every bid served and exogenous demand at price 0 still short of supply.
  out.price = 0.0;
  out.exogenous = demand.quantity_at(0.0);
  for (std::size_t j = 0; j < n; ++j) served[j] = q[j];
  out.bids_served = above;
  out.unsold = std::max(supply - above - out.exogenous, 0.0);
  return out;
}

LocalDemand fit_local_demand(const Clearing& c, double sold, const LinearDemand& demand,
                             std::span<const double> q, std::span<const double> r, double window,
                             double reference_price, const LocalDemand& previous, double spread) {
  if (q.empty() && demand.present && !demand.isoelastic()) return {demand.a, demand.b};
  if (c.price <= 0.0 || sold <= 0.0) {
    // A glut (price 0) or an empty market: keep the slope, move the line through the point.
    const double b = previous.b_hat > 0.0 ? previous.b_hat : 1.0;
    return {c.price + b * sold, b};
  }
  const double delta = window * std::max(c.price, reference_price);
  const double lo = std::max(c.price - delta, 0.0);
  const double hi = c.price + delta;
  const double slope =
      (demand_at(lo, demand, q, r, spread) - demand_at(hi, demand, q, r, spread)) / (hi - lo);
  // Elasticity of demand at the point, kept within [window, 1/window].
  double elasticity = slope * c.price / sold;
  elasticity = std::clamp(elasticity, window, 1.0 / window);
  const double b = c.price / (elasticity * sold);
  return {c.price + b * sold, b};
}

Clearing clear_market_capped(double supply, const LinearDemand& demand, std::span<const double> q,
                             std::span<const double> r, std::span<double> served, double spread,
                             double cap) {
  Clearing out = clear_market(supply, demand, q, r, served, spread);
  if (!(out.price > cap)) return out;
  const double wanted = demand_at(cap, demand, q, r, spread);
  // The clearing price is above the cap, so demand at the cap exceeds supply (> 0).
  const double share = wanted > 0.0 ? std::min(1.0, supply / wanted) : 0.0;
  out.price = cap;
  out.exogenous = demand.quantity_at(cap) * share;
  out.bids_served = 0.0;
  for (std::size_t j = 0; j < q.size(); ++j) {
    served[j] = bid_at(cap, q[j], r[j], spread) * share;
    out.bids_served += served[j];
  }
  out.unsold = 0.0;
  return out;
}

}  // namespace decouple
