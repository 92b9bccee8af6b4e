#include "engine/exchange.hpp"

namespace decouple {

void Exchange::to_markets(std::span<const Index> index, std::span<const double> from_firm,
                          std::span<double> to_market) const {
  for (std::size_t j = 0; j < index.size(); ++j) to_market[j] = from_firm[index[j]];
}

void Exchange::to_firms(std::span<const Index> index, std::span<const double> from_market,
                        std::span<double> to_firm) const {
  for (std::size_t j = 0; j < index.size(); ++j) to_firm[index[j]] = from_market[j];
}

}  // namespace decouple
