// Clearing one market (DESIGN §3 phase 4): Cournot supply meets demand made of an
// exogenous linear schedule P = a − b·Q plus derived demand — firms' input bids, served
// highest reservation price first. Also the local inverse demand (â, b̂) the market
// publishes for next period's best responses.
#pragma once

#include <cmath>
#include <limits>
#include <span>

namespace decouple {

// The exogenous schedule: linear P = a − b·Q, or with elasticity > 0 constant-elasticity
// Q = scale·P^−elasticity below the choke price a (0 from a on). For isoelastic demand `b` is
// the slope at the configured reference point (what a market publishes before its first
// clearing).
struct LinearDemand {
  bool present = false;  // false: the market has only derived demand
  double a = 0.0;
  double b = 0.0;
  double elasticity = 0.0;  // 0: linear
  double scale = 0.0;       // isoelastic: quantity·price^elasticity of the reference point
  bool isoelastic() const { return elasticity > 0.0; }
  double quantity_at(double price) const {
    if (!present || !(price < a)) return 0.0;
    if (isoelastic()) return price > 0.0 ? scale * std::pow(price, -elasticity) : std::numeric_limits<double>::infinity();
    return (a - price) / b;
  }
  // Consumer surplus of the buyers on the schedule at `price`: ∫_price^a Q(p) dp.
  double surplus_at(double price) const;
};

struct Clearing {
  double price = 0.0;         // paid by buyers (tariff-inclusive)
  double exogenous = 0.0;     // quantity taken by the exogenous schedule
  double bids_served = 0.0;   // quantity delivered to bidders
  double unsold = 0.0;        // supply no one wants even at price 0
};

// Bids must be sorted by reservation price, highest first (ties: ascending firm id, so
// the order — and the result — does not depend on where the bids came from).
// `served` receives each bid's delivered quantity.
//
// spread = 0: a bid is a step — its whole quantity at any price up to its reservation
// price r — and bids are served strictly highest r first.
// spread = s in (0, 1): a bid is a schedule falling linearly from its whole quantity at
// (1 − s)·r to 0 at r, so higher reservation prices are still served more fully but
// demand has no vertical steps for a Cournot seller to sit on.
Clearing clear_market(double supply, const LinearDemand& demand,
                      std::span<const double> bid_quantity, std::span<const double> bid_price,
                      std::span<double> served, double spread = 0.0);

// Clearing with the price bounded above by `cap` (a bound on the month's price rise): if the
// market-clearing price exceeds the cap, the price is the cap and every buyer — the exogenous
// schedule and each bid — receives the same share supply / demand(cap) of what it demands at
// the cap (pro-rata allocation, as suppliers allocate under contracts in a shortage).
// With cap = ∞ (or a clearing price below it) the result equals clear_market's.
Clearing clear_market_capped(double supply, const LinearDemand& demand,
                             std::span<const double> bid_quantity, std::span<const double> bid_price,
                             std::span<double> served, double spread, double cap);

// Demand at price p (exogenous + bids).
double demand_at(double price, const LinearDemand& demand, std::span<const double> bid_quantity,
                 std::span<const double> bid_price, double spread = 0.0);

struct LocalDemand {
  double a_hat = 0.0;
  double b_hat = 0.0;
};

// The inverse demand line through the clearing point (sold, price). Exact (a, b) when the
// market has no bids; otherwise the slope of total demand over [p − δ, p + δ],
// δ = window·reference_price, bounded so the local price elasticity stays within
// [window, 1/window] (a step in derived demand never gives an infinite or zero slope).
// `previous` is used where the point carries no information (nothing sold, or price 0).
LocalDemand fit_local_demand(const Clearing& c, double sold, const LinearDemand& demand,
                             std::span<const double> bid_quantity,
                             std::span<const double> bid_price, double window,
                             double reference_price, const LocalDemand& previous,
                             double spread = 0.0);

}  // namespace decouple
