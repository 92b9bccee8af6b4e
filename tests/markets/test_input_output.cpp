#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "markets/input_output.hpp"

using namespace decouple;

TEST(Leontief, TotalRequirementsAlongTheCalibratedChains) {
  // Goods: 0 ree_oxide, 1 magnets (0.3 oxide), 2 autos (0.5 magnets, 2 mature chips),
  // 3 sme, 4 mature_chips (0.1 sme). Per auto: magnets 0.5, oxide 0.15, chips 2, sme 0.2.
  const std::vector<InputCoefficient> a{{0, 1, 0.3}, {1, 2, 0.5}, {4, 2, 2.0}, {3, 4, 0.1}};
  const auto l = leontief_inverse(5, a);
  auto at = [&](int i, int j) { return l[i * 5 + j]; };
  EXPECT_NEAR(at(1, 2), 0.5, 1e-12);
  EXPECT_NEAR(at(0, 2), 0.15, 1e-12);
  EXPECT_NEAR(at(4, 2), 2.0, 1e-12);
  EXPECT_NEAR(at(3, 2), 0.2, 1e-12);
  EXPECT_NEAR(at(2, 2), 1.0, 1e-12);
  EXPECT_NEAR(at(2, 0), 0.0, 1e-12);  // oxide needs no autos
}

TEST(Leontief, SingularStructureIsAnError) {
  EXPECT_THROW(leontief_inverse(2, {{0, 1, 1.0}, {1, 0, 1.0}}), InternalError);
}
