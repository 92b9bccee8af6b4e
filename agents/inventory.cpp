#include "agents/inventory.hpp"

#include <algorithm>
#include <cmath>

namespace decouple {

InputBid input_bid(double units, double planned, double inventory, double cover, double reservation,
                   double expected, double markup) {
  InputBid b;
  b.quantity = std::max(0.0, units * planned * (1.0 + cover) - inventory);
  const double use = std::max(0.0, units * planned - inventory);
  b.stock_quantity = b.quantity - std::min(b.quantity, use);
  b.stock_reservation = expected > 0.0 && std::isfinite(markup)
                            ? std::min(reservation, (1.0 + markup) * expected)
                            : reservation;
  return b;
}

}  // namespace decouple
