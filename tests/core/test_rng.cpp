// Philox4x32-10 against the published known-answer vectors (Random123 kat_vectors),
// and the properties the model relies on: a draw depends only on its key.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/rng.hpp"

using namespace decouple;

TEST(Philox, KnownAnswerZeros) {
  const auto out = philox4x32_10({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(out, (Philox4x32Counter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
}

TEST(Philox, KnownAnswerOnes) {
  const auto out = philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                 {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(out, (Philox4x32Counter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
}

TEST(Philox, KnownAnswerPi) {
  const auto out = philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                                 {0xa4093822u, 0x299f31d0u});
  EXPECT_EQ(out, (Philox4x32Counter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Draws, SameKeySameDrawDifferentKeyDifferentDraw) {
  const Draw a{7, 42, 3, Purpose::entry_capex, 0};
  EXPECT_EQ(uniform01(a), uniform01(a));
  std::set<double> seen;
  for (std::uint64_t seed : {7u, 8u})
    for (std::uint64_t e : {0u, 1u, 42u})
      for (std::int64_t p : {0, 1, 3})
        for (auto purpose : {Purpose::entry_cost, Purpose::entry_capex, Purpose::license})
          seen.insert(uniform01({seed, e, p, purpose, 0}));
  EXPECT_EQ(seen.size(), 2u * 3u * 3u * 3u);  // no two keys collide
}

TEST(Draws, UniformAndNormalMoments) {
  // 200k draws: mean of U[0,1) within 0.005 of 1/2 (sd of the mean 0.00065),
  // normal mean within 0.01 of 0 and variance within 0.02 of 1 (≈ 7 and 4.5 sd).
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = uniform01({1, static_cast<std::uint64_t>(i), 0, Purpose::sampling, 0});
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    const double z = standard_normal({1, static_cast<std::uint64_t>(i), 0, Purpose::entry_cost, 0});
    ASSERT_TRUE(std::isfinite(z));
    sn += z;
    sn2 += z * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.005);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n - (sn / n) * (sn / n), 1.0, 0.02);
}
