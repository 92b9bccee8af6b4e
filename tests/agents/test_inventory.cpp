// Input bids: the restocking part and its price (MODEL §3.3 g).
#include <gtest/gtest.h>

#include <limits>

#include "agents/inventory.hpp"

using namespace decouple;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

TEST(InputBid, AFullBufferOnlyRestocksAndBidsNearTheExpectedPrice) {
  // 0.8 t per unit, 100 units planned, cover 0.75: stock target 140 t. A full buffer after a
  // month's use holds 60 t, less than next month's 80 t of use: 20 t of the bid is use.
  const auto b = input_bid(0.8, 100.0, 60.0, 0.75, 4000.0, 60.0, 0.5);
  EXPECT_DOUBLE_EQ(b.quantity, 80.0);
  EXPECT_DOUBLE_EQ(b.stock_quantity, 60.0);     // the other 60 t rebuild the buffer
  EXPECT_DOUBLE_EQ(b.stock_reservation, 90.0);  // (1 + 0.5)·60
  // Cover ≥ 1: the stock on hand covers next month's use, the whole bid restocks.
  const auto c = input_bid(1.0, 100.0, 150.0, 1.5, 4000.0, 60.0, 0.5);
  EXPECT_DOUBLE_EQ(c.quantity, 100.0);
  EXPECT_DOUBLE_EQ(c.stock_quantity, 100.0);
}

TEST(InputBid, AnEmptyBufferBidsNextMonthsUseAtTheReservationPrice) {
  const auto b = input_bid(0.8, 100.0, 0.0, 0.75, 4000.0, 60.0, 0.5);
  EXPECT_DOUBLE_EQ(b.quantity, 140.0);
  EXPECT_DOUBLE_EQ(b.stock_quantity, 60.0);  // 80 t of use at 4,000, 60 t of buffer at 90
  // More stock than the target: no bid at all.
  const auto none = input_bid(0.8, 100.0, 200.0, 0.75, 4000.0, 60.0, 0.5);
  EXPECT_DOUBLE_EQ(none.quantity, 0.0);
  EXPECT_DOUBLE_EQ(none.stock_quantity, 0.0);
}

TEST(InputBid, TheRestockingPriceNeverExceedsTheReservationPriceAndFallsBackWithoutAForecast) {
  EXPECT_DOUBLE_EQ(input_bid(1.0, 10.0, 0.0, 1.0, 70.0, 60.0, 0.5).stock_reservation, 70.0);
  EXPECT_DOUBLE_EQ(input_bid(1.0, 10.0, 0.0, 1.0, 70.0, 0.0, 0.5).stock_reservation, 70.0);  // no price yet
  EXPECT_DOUBLE_EQ(input_bid(1.0, 10.0, 0.0, 1.0, 70.0, 60.0, kInf).stock_reservation, 70.0);  // off
}
