#include "markets/clearing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace decouple {

double demand_at(double price, const LinearDemand& demand, std::span<const double> q,
                 std::span<const double> r) {
  double d = demand.quantity_at(price);
  for (std::size_t j = 0; j < q.size() && r[j] >= price; ++j) d += q[j];
  return d;
}

Clearing clear_market(double supply, const LinearDemand& demand, std::span<const double> q,
                      std::span<const double> r, std::span<double> served) {
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
                             double reference_price, const LocalDemand& previous) {
  if (q.empty() && demand.present) return {demand.a, demand.b};
  if (c.price <= 0.0 || sold <= 0.0) {
    // A glut (price 0) or an empty market: keep the slope, move the line through the point.
    const double b = previous.b_hat > 0.0 ? previous.b_hat : 1.0;
    return {c.price + b * sold, b};
  }
  const double delta = window * std::max(c.price, reference_price);
  const double lo = std::max(c.price - delta, 0.0);
  const double hi = c.price + delta;
  const double slope = (demand_at(lo, demand, q, r) - demand_at(hi, demand, q, r)) / (hi - lo);
  // Elasticity of demand at the point, kept within [window, 1/window].
  double elasticity = slope * c.price / sold;
  elasticity = std::clamp(elasticity, window, 1.0 / window);
  const double b = c.price / (elasticity * sold);
  return {c.price + b * sold, b};
}

}  // namespace decouple
