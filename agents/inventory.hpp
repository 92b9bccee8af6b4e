// Input bids (MODEL §3.3 g): how much of an input a firm bids for and at what price.
#pragma once

#include <limits>

namespace decouple {

struct InputBid {
  double quantity = 0.0;           // restores the stock to one month of planned use + cover
  double stock_quantity = 0.0;     // of which rebuilds the buffer (the stock on hand covers next month's use first)
  double stock_reservation = 0.0;  // the price that part bids at, ≤ the firm's reservation price
};

// A firm that plans `planned` units of output, uses `units` of the input per unit, keeps
// `cover` months beyond next month's use and holds `inventory` after this month's use bids
// for (units·planned·(1 + cover) − inventory)⁺. The part beyond next month's use not covered
// by the stock, (units·planned − inventory)⁺, bids at `reservation` (the price at which its
// margin is zero); the rest rebuilds the buffer and bids at most (1 + markup)·`expected`
// (competitive storage: a buffer is rebuilt near the price the firm expects, drawn down
// while the price is far above it). expected ≤ 0 (no price known yet) or markup = ∞: the
// whole bid at `reservation`.
InputBid input_bid(double units, double planned, double inventory, double cover, double reservation,
                   double expected, double markup);

// Whether a stock of `inventory` plainly covers `planned` output at `units` per unit, decided
// without a division: true guarantees fl(inventory / units) ≥ planned, so that quotient cannot
// lower min(planned, ·) (false says nothing). It holds when inventory ≥ fl(fl(planned·units)·
// (1 + 2⁻⁵⁰)) and the product is a normal number: each rounding errs by at most 2⁻⁵³, so the
// left side exceeds the exact product. Saves the division in most months (plan_offers).
inline bool stock_covers(double inventory, double units, double planned) {
  constexpr double kMargin = 1.0 + 0x1p-50;
  const double use = planned * units;
  return use >= std::numeric_limits<double>::min() && use * kMargin <= inventory;
}

}  // namespace decouple
