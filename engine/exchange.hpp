// The single firm↔market hand-off of each phase (DESIGN §3 phases 3 and 5).
//
// Offers and bids travel from firm-side arrays (by link / input slot) to market-side slots
// (by market, then firm id); settlements travel back. The slot layout is fixed when the
// world is built, so only values move. On one rank this is a local copy; the distributed
// build replaces the body with one Boost.MPI all-to-all per call using the same layout —
// nothing that calls it changes.
#pragma once

#include <span>

#include "core/scenario.hpp"

namespace decouple {

class Exchange {
 public:
  // to_market[j] = from_firm[index[j]] for every market-side slot j.
  void to_markets(std::span<const Index> index, std::span<const double> from_firm,
                  std::span<double> to_market) const;
  // to_firm[index[j]] = from_market[j].
  void to_firms(std::span<const Index> index, std::span<const double> from_market,
                std::span<double> to_firm) const;
};

}  // namespace decouple
