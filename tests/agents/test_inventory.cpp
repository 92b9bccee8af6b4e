// Input bids: the restocking part and its price (MODEL §3.3 g).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

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

// stock_covers decides without a division that inventory/units ≥ planned: whenever it says
// so the quotient must not fall short, for stocks a few ulps around the product and around
// the margin's threshold, over many magnitudes (with a margin of 1 this fails: tried). It does
// say so for stocks that plainly cover, and never for an unusable product (0, subnormal, NaN).
TEST(StockCovers, NeverClaimsAStockThatFallsShort) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> mantissa(1.0, 2.0);
  std::uniform_int_distribution<int> exponent(-40, 40);
  std::size_t claimed = 0;
  for (int i = 0; i < 200000; ++i) {
    const double planned = std::ldexp(mantissa(rng), exponent(rng)), units = std::ldexp(mantissa(rng), exponent(rng));
    const double use = planned * units;
    for (const double centre : {use, use * (1.0 + 0x1p-50)}) {
      double inventory = centre;
      for (int k = 0; k < 4; ++k) inventory = std::nextafter(inventory, 0.0);
      for (int k = 0; k < 9; ++k, inventory = std::nextafter(inventory, kInf)) {
        if (!stock_covers(inventory, units, planned)) continue;
        ++claimed;
        ASSERT_GE(inventory / units, planned) << std::hexfloat << inventory << " " << units << " " << planned;
      }
    }
    EXPECT_TRUE(stock_covers(2.0 * use, units, planned));
  }
  EXPECT_GT(claimed, 100000u);
  EXPECT_FALSE(stock_covers(1.0, 0.5, 0.0));
  EXPECT_FALSE(stock_covers(1.0, 1e-300, 1e-300));  // product subnormal
  EXPECT_FALSE(stock_covers(1.0, std::numeric_limits<double>::quiet_NaN(), 1.0));
  EXPECT_FALSE(stock_covers(std::numeric_limits<double>::quiet_NaN(), 1.0, 1.0));
}
