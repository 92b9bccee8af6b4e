// The adaptive dynamics against closed forms (CALIBRATION.md §4, DESIGN.md §7).
// Each test runs the whole period loop on one market until it settles, then compares
// with the closed form. Tolerance: 1e-6 absolute on prices and quantities unless stated;
// with κ = 0.3 the error contracts by ≥ 0.7 per period for N ≤ 3, so 400 periods leave
// ~1e-60 of the initial gap: any larger error is a modelling error, not slow convergence.
#include <gtest/gtest.h>

#include <cmath>

#include "support/builder.hpp"

using namespace decouple;
using namespace decouple::testing;

namespace {
constexpr double kTol = 1e-6;

}  // namespace

TEST(Cournot, ThreeAsymmetricFirmsAndAPricedOutFourth) {
  Builder b;
  const Index home = b.region("HOME", Bloc::west);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  for (double c : {10.0, 20.0, 30.0, 40.0}) b.firm("f" + std::to_string(int(c)), home, g, FirmKind::western, c, {home});
  Simulation sim(b.s);
  run(sim);
  // P* = (100 + 10 + 20 + 30)/4 = 40; q = (30, 20, 10); the c = 40 firm ships exactly 0.
  EXPECT_NEAR(sim.world().market_price[0], 40.0, kTol);
  EXPECT_NEAR(shipped(sim, 0), 30.0, kTol);
  EXPECT_NEAR(shipped(sim, 1), 20.0, kTol);
  EXPECT_NEAR(shipped(sim, 2), 10.0, kTol);
  EXPECT_NEAR(shipped(sim, 3), 0.0, kTol);
  EXPECT_NEAR(sim.markets().hhi_firms[0], 10000.0 * (9.0 + 4.0 + 1.0) / 36.0, 1e-3);  // 3,888.9
  // Profit b·q² for each active firm.
  EXPECT_NEAR(sim.world().firm_profit[0], 900.0, 1e-4);
  EXPECT_NEAR(sim.world().firm_profit[2], 100.0, 1e-4);
}

TEST(Cournot, AdValoremTariffOnImports) {
  Builder b;
  const Index home = b.region("HOME", Bloc::west);
  const Index abroad = b.region("ABROAD", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  b.firm("home", home, g, FirmKind::western, 10.0, {home});
  b.firm("abroad", abroad, g, FirmKind::western, 10.0, {home});
  b.gov(home).tariffs.push_back({g, abroad, 0.5, 0.0});
  Simulation sim(b.s);
  run(sim);
  // ĉ = (10, 15): P = 125/3, q = (31.67, 26.67); revenue 0.5·(P/1.5)·q₂ = 370.37.
  EXPECT_NEAR(sim.world().market_price[0], 125.0 / 3.0, kTol);
  EXPECT_NEAR(shipped(sim, 0), 95.0 / 3.0, kTol);
  EXPECT_NEAR(shipped(sim, 1), 80.0 / 3.0, kTol);
  EXPECT_NEAR(sim.accounts().tariff_revenue[home], 0.5 * (125.0 / 3.0 / 1.5) * (80.0 / 3.0), 1e-5);
  EXPECT_NEAR(sim.accounts().tariff_revenue[home], 370.37, 0.01);
}

TEST(Fringe, PriceTakingFirmSetsPriceToMarginalCostBesideACournotFirm) {
  // P = 100 − Q; Cournot firm c = 10: P − q_c = 10; price-taking fringe c = 20, k = 1:
  // P = 20 + q_f. So P = 130/3, q_c = 100/3, q_f = 70/3.
  for (double tariff : {0.0, 0.5}) {
    Builder b;
    const Index home = b.region("HOME", Bloc::west);
    const Index abroad = b.region("ABROAD", Bloc::china);
    const Index g = b.good("widget");
    b.market(g, home, 100.0, 1.0);
    b.firm("cournot", home, g, FirmKind::western, 10.0, {home});
    const Index f = b.firm("fringe", abroad, g, FirmKind::western, 20.0, {home});
    b.firm_spec(f).price_taking = true;
    b.firm_spec(f).cost_slope = 1.0;
    if (tariff > 0.0) b.gov(home).tariffs.push_back({g, abroad, tariff, 0.0});
    Simulation sim(b.s);
    run(sim);
    // With an ad-valorem tariff m − 1 on the fringe: P = m·(20 + q_f), so q_c = P − 10,
    // q_f = P/m − 20 and P = 100 − q_c − q_f = 130 − P − P/m ⇒ P = 130/(2 + 1/m).
    const double m = 1.0 + tariff;
    const double p = 130.0 / (2.0 + 1.0 / m);
    EXPECT_NEAR(sim.world().market_price[0], p, kTol) << "tariff " << tariff;
    EXPECT_NEAR(shipped(sim, 0), p - 10.0, kTol);
    EXPECT_NEAR(shipped(sim, f), p / m - 20.0, kTol);
  }
}

TEST(Cournot, SpecificTariffAddsToCost) {
  Builder b;
  const Index home = b.region("HOME", Bloc::west);
  const Index abroad = b.region("ABROAD", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  b.firm("home", home, g, FirmKind::western, 10.0, {home});
  b.firm("abroad", abroad, g, FirmKind::western, 10.0, {home});
  b.gov(home).tariffs.push_back({g, abroad, 0.0, 5.0});
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 125.0 / 3.0, kTol);
  EXPECT_NEAR(shipped(sim, 1), 80.0 / 3.0, kTol);
  EXPECT_NEAR(sim.accounts().tariff_revenue[home], 5.0 * 80.0 / 3.0, 1e-5);
}

TEST(Cournot, SmallestScenarioOfTheDesign) {
  // DESIGN §7: ĉ = 10 and 1.2·(12 − 5) = 8.4 → P* = 138.4/3 ≈ 46.13, q ≈ 72.3 and 75.5.
  Builder b(300);
  const Index home = b.region("HOME", Bloc::west);
  const Index abroad = b.region("ABROAD", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, 120.0, 0.5);
  b.firm("home-1", home, g, FirmKind::western, 10.0, {home}, 1000.0);
  const Index soe = b.firm("abroad-1", abroad, g, FirmKind::soe, 12.0, {home}, 1000.0);
  b.firm_spec(soe).output_weight = 5.0;
  b.gov(home).tariffs.push_back({g, abroad, 0.2, 0.0});
  Simulation sim(b.s);
  run(sim);
  const double p = 138.4 / 3.0;
  EXPECT_NEAR(sim.world().market_price[0], p, kTol);
  EXPECT_NEAR(shipped(sim, 0), (p - 10.0) / 0.5, kTol);
  EXPECT_NEAR(shipped(sim, 1), (p - 8.4) / 0.5, kTol);
  EXPECT_NEAR(shipped(sim, 0), 72.27, 0.01);
  EXPECT_NEAR(shipped(sim, 1), 75.47, 0.01);
}

TEST(Soe, OutputWeightActsAsACostReduction) {
  // SOE c = 30, θ = 20 vs private c = 20: q = (33.33, 23.33), P = 43.33.
  Builder b;
  const Index home = b.region("HOME", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  const Index soe = b.firm("soe", home, g, FirmKind::soe, 30.0, {home});
  b.firm("private", home, g, FirmKind::western, 20.0, {home});
  b.firm_spec(soe).output_weight = 20.0;
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 130.0 / 3.0, kTol);
  EXPECT_NEAR(shipped(sim, 0), 100.0 / 3.0, kTol);
  EXPECT_NEAR(shipped(sim, 1), 70.0 / 3.0, kTol);
  EXPECT_NEAR(sim.accounts().soe_support[home], 0.0, kTol);  // SOE still profitable
}

TEST(Soe, HighOutputWeightDrivesThePrivateFirmOutAndDrawsOnTheSoftBudget) {
  // θ = 90: the SOE acts as a monopolist with cost −60: q = 80, P = 20 = private cost,
  // private ships 0, and the SOE loses (20 − 30)·80 = 800 a month, covered by its government.
  Builder b;
  const Index home = b.region("HOME", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  const Index soe = b.firm("soe", home, g, FirmKind::soe, 30.0, {home});
  b.firm("private", home, g, FirmKind::western, 20.0, {home});
  b.firm_spec(soe).output_weight = 90.0;
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 20.0, kTol);
  EXPECT_NEAR(shipped(sim, 0), 80.0, kTol);
  EXPECT_NEAR(shipped(sim, 1), 0.0, kTol);
  EXPECT_NEAR(sim.world().firm_profit[0], -800.0, 1e-4);
  EXPECT_NEAR(sim.accounts().soe_support[home], 800.0, 1e-4);
}

TEST(Soe, OwnerGovernmentSetsThetaWhenTheFirmDoesNot) {
  Builder b;
  const Index home = b.region("HOME", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  b.firm("soe", home, g, FirmKind::soe, 30.0, {home});
  b.firm("private", home, g, FirmKind::western, 20.0, {home});
  b.gov(home).output_weight = 20.0;
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 130.0 / 3.0, kTol);
}

// Mixed oligopoly (costs c·q + k·q²/2; the SOE maximises λW + (1−λ)π; n = 2 private firms):
// m = P − c = (a − c)/[1 + b/(k + (1−λ)b) + n·b/(b + k)], q₀ = m/(k + (1−λ)b), qᵢ = m/(b + k).
class MixedOligopoly : public ::testing::TestWithParam<double> {};

TEST_P(MixedOligopoly, MatchesTheClosedForm) {
  const double lambda = GetParam();
  const double a = 100, bb = 1, c = 10, k = 1;
  const int n = 2;
  Builder b(600);
  const Index home = b.region("HOME", Bloc::china);
  const Index g = b.good("widget");
  b.market(g, home, a, bb);
  const Index soe = b.firm("soe", home, g, FirmKind::soe, c, {home});
  b.firm_spec(soe).welfare_weight = lambda;
  b.firm_spec(soe).output_weight = 0.0;
  b.firm_spec(soe).cost_slope = k;
  for (int i = 0; i < n; ++i) {
    const Index f = b.firm("p" + std::to_string(i), home, g, FirmKind::western, c, {home});
    b.firm_spec(f).cost_slope = k;
  }
  Simulation sim(b.s);
  run(sim);
  const double m = (a - c) / (1 + bb / (k + (1 - lambda) * bb) + n * bb / (bb + k));
  EXPECT_NEAR(sim.world().market_price[0], c + m, kTol);
  EXPECT_NEAR(shipped(sim, 0), m / (k + (1 - lambda) * bb), kTol);
  EXPECT_NEAR(shipped(sim, 1), m / (bb + k), kTol);
  EXPECT_NEAR(shipped(sim, 2), m / (bb + k), kTol);
}
INSTANTIATE_TEST_SUITE_P(WelfareWeights, MixedOligopoly, ::testing::Values(0.0, 0.5, 1.0));

TEST(MixedOligopolyAnchors, PublishedValues) {
  // CALIBRATION §4: λ = 1 → P = 40, q₀ = 30, qᵢ = 15; λ = 0 → P = 46; λ = 0.5 → P = 43.75.
  auto price = [](double lambda) {
    Builder b(600);
    const Index home = b.region("HOME", Bloc::china);
    const Index g = b.good("widget");
    b.market(g, home, 100, 1);
    const Index soe = b.firm("soe", home, g, FirmKind::soe, 10, {home});
    b.firm_spec(soe).welfare_weight = lambda;
    b.firm_spec(soe).output_weight = 0.0;
    b.firm_spec(soe).cost_slope = 1;
    for (int i = 0; i < 2; ++i) b.firm_spec(b.firm("p" + std::to_string(i), home, g, FirmKind::western, 10, {home})).cost_slope = 1;
    Simulation sim(b.s);
    run(sim);
    return sim.world().market_price[0];
  };
  EXPECT_NEAR(price(1.0), 40.0, kTol);
  EXPECT_NEAR(price(0.0), 46.0, kTol);
  EXPECT_NEAR(price(0.5), 43.75, kTol);
}

TEST(CapacityWaterFilling, ShadowPriceSplitsCapacityAcrossMarkets) {
  // One firm, two monopoly markets a = (100, 80), b = 1, c = 10, capacity 50: unconstrained
  // q = (45, 35) = 80 > 50. Water-filling: 100 − 2q₁ = 80 − 2q₂ = 10 + λ, q₁ + q₂ = 50
  // → q₁ = 30, q₂ = 20, λ = 30.
  Builder b;
  const Index r1 = b.region("R1", Bloc::west);
  const Index r2 = b.region("R2", Bloc::west);
  const Index g = b.good("widget");
  b.market(g, r1, 100.0, 1.0);
  b.market(g, r2, 80.0, 1.0);
  b.firm("f", r1, g, FirmKind::western, 10.0, {r1, r2}, 50.0);
  Simulation sim(b.s);
  run(sim);
  const auto& w = sim.world();
  EXPECT_NEAR(w.link_q[0], 30.0, kTol);
  EXPECT_NEAR(w.link_q[1], 20.0, kTol);
  EXPECT_NEAR(w.firm_shadow[0], 30.0, kTol);
}

TEST(Convergence, PlainBestResponseCyclesForThreeFirmsPartialAdjustmentConverges) {
  // CALIBRATION §4: κ = 1 cycles for N ≥ 3; κ < 4/(N+1) converges.
  auto gap_after = [](double kappa) {
    Builder b(200, kappa);
    const Index home = b.region("HOME", Bloc::west);
    const Index g = b.good("widget");
    b.market(g, home, 100.0, 1.0);
    for (int i = 0; i < 3; ++i) b.firm("f" + std::to_string(i), home, g, FirmKind::western, 10.0, {home});
    Simulation sim(b.s);
    run(sim);
    return std::abs(sim.world().market_price[0] - 32.5);  // (100 + 30)/4
  };
  EXPECT_LT(gap_after(0.3), 1e-9);
  EXPECT_GT(gap_after(1.0), 1.0);
}

TEST(Cournot, PassThroughUnderConstantElasticityDemand) {
  // N symmetric Cournot firms, marginal cost c, demand Q = A·P^−ε: P − P/(N·η) = c, so
  // P = c/(1 − 1/(N·η)) and a cost shift passes through by 1/(1 − 1/(N·η)) > 1 (Bulow and
  // Pfleiderer 1983; Weyl and Fabinger 2013), where η is the elasticity firms read from the
  // market's published line: the finite-difference (secant) elasticity over ±ω·P,
  // η = ((1 − ω)^−ε − (1 + ω)^−ε)/(2ω) — exact for the model, → ε as ω → 0 (linear demand
  // passes through N/(N + 1) instead).
  const int n = 3;
  const double eps = 2.0, window = 0.01;
  const double eta = (std::pow(1.0 - window, -eps) - std::pow(1.0 + window, -eps)) / (2.0 * window);
  auto price = [&](double cost, double tariff) {
    Builder b(600);
    b.s.behaviour.demand_window = window;
    const Index home = b.region("HOME", Bloc::west);
    const Index abroad = b.region("ABROAD", Bloc::china);
    const Index g = b.good("widget");
    MarketSpec m{g, home, 1000.0, 0.0};
    m.elasticity = eps;
    m.price = 12.0;
    m.quantity = 100.0;
    b.s.markets.push_back(m);
    for (int i = 0; i < n; ++i) b.firm("f" + std::to_string(i), abroad, g, FirmKind::western, cost, {home});
    if (tariff > 0.0) b.gov(home).tariffs.push_back({g, abroad, tariff, 0.0});
    Simulation sim(b.s);
    run(sim);
    return sim.world().market_price[0];
  };
  const double p10 = price(10.0, 0.0);
  EXPECT_NEAR(p10, 10.0 / (1.0 - 1.0 / (n * eta)), 1e-6);
  EXPECT_NEAR(p10, 10.0 / (1.0 - 1.0 / (n * eps)), 2e-3);  // textbook ε: 12.0
  // A 10% ad-valorem tariff on every seller: the price rises by 1/(1 − 1/(Nη)) of the wedge.
  const double pass = (price(10.0, 0.1) - p10) / (0.1 * 10.0);
  EXPECT_NEAR(pass, 1.0 / (1.0 - 1.0 / (n * eta)), 1e-5);
  EXPECT_NEAR(pass, 1.2, 1e-3);
}
