// Instruments through the whole period loop: underpricing directives and limit pricing,
// price floors and their fiscal cost, export controls cutting a supply chain, and the
// accounting identities that must hold every period.
#include <gtest/gtest.h>

#include <cmath>

#include "agents/entry.hpp"
#include "support/builder.hpp"

using namespace decouple;
using namespace decouple::testing;

namespace {

// An SOE incumbent (c = 10) alone in a market a = 100, b = 1, and a pool of one western
// entrant with c = 10 and a monthly fixed cost F = 100 (no capex), as in CALIBRATION §4:
// the limit output x_L = (a − c − 2√(bF))/b = 70, limit price 30.
Builder limit_pricing_world(int periods) {
  Builder b(periods);
  const Index home = b.region("HOME", Bloc::west);
  const Index cn = b.region("CN", Bloc::china);
  const Index g = b.good("oxide");
  b.market(g, home, 100.0, 1.0);
  const Index soe = b.firm("soe", cn, g, FirmKind::soe, 10.0, {home});
  b.firm_spec(soe).output_weight = 0.0;
  EntrantPoolSpec pool;
  pool.id = "entrant";
  pool.good = g;
  pool.region = home;
  pool.kind = FirmKind::western;
  pool.candidates = 1;
  pool.capex = 0.0;
  pool.capacity = 1000.0;
  pool.marginal_cost = 10.0;
  pool.fixed_cost = 100.0;
  pool.first_period = 50;  // after the incumbent has settled
  pool.sells_to = {home};
  b.s.entrant_pools.push_back(pool);
  return b;
}

// An event's common fields; the instrument's own ones are set by the caller.
EventSpec event(int period, Index government, Instrument instrument, Index good, Index partner = kNone) {
  EventSpec e;
  e.period = period;
  e.government = government;
  e.instrument = instrument;
  e.good = good;
  e.partner = partner;
  return e;
}
}  // namespace

TEST(LimitPricing, ClosedFormAnchors) {
  // x_L = (a − c − 2√(bF))/b: c = 10, F = 100 → 70, P = 30, entrant profit exactly 0.
  EXPECT_DOUBLE_EQ(limit_price(10.0, 1.0, 100.0), 30.0);
  EXPECT_NEAR(entrant_operating_profit(30.0, 1.0, 10.0, 1e9) - 100.0, 0.0, 1e-12);
  EXPECT_GT(entrant_operating_profit(31.0, 1.0, 10.0, 1e9) - 100.0, 0.0);
}

TEST(LimitPricing, WithoutADirectiveTheMonopolyPriceInvitesEntry) {
  auto b = limit_pricing_world(120);
  Simulation sim(b.s);
  run(sim);
  // Monopoly P = 55 > 30: the candidate enters in period 50.
  EXPECT_EQ(sim.world().firm_entry_period[1], 50);
  EXPECT_NE(sim.world().firm_status[1], FirmStatus::candidate);
}

TEST(LimitPricing, AFixedLimitPriceDirectiveShipsTheLimitOutputAndDetersEntry) {
  auto b = limit_pricing_world(120);
  b.gov(1).underpricing.push_back({0, 0, 29.5, 0.0});  // CN directs its SOE in HOME's market
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 29.5, 1e-9);
  EXPECT_NEAR(shipped(sim, 0), 70.5, 1e-9);
  EXPECT_EQ(sim.world().firm_status[1], FirmStatus::candidate);  // deterred
}

TEST(LimitPricing, AutomaticLimitPriceIsTheEntrantsBreakEvenPrice) {
  auto b = limit_pricing_world(120);
  UnderpricingSpec u;
  u.good = 0;
  u.market = 0;
  u.margin = 0.01;  // 1% below break-even: 29.7
  b.gov(1).underpricing.push_back(u);
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 30.0 * 0.99, 1e-9);
  EXPECT_NEAR(shipped(sim, 0), 100.0 - 29.7, 1e-9);
  EXPECT_EQ(sim.world().firm_status[1], FirmStatus::candidate);
}

TEST(LimitPricing, UnderpricingBelowOwnCostDrawsOnTheSoftBudget) {
  auto b = limit_pricing_world(120);
  b.s.firms[0].marginal_cost = 35.0;  // the SOE loses (29.5 − 35)·70.5 a month
  b.gov(1).underpricing.push_back({0, 0, 29.5, 0.0});
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.accounts().soe_support[1], (35.0 - 29.5) * 70.5, 1e-6);
}

TEST(PriceFloor, FiscalCostIsCoveredVolumeTimesTheGap) {
  // Monopolist c = 10, a = 100, b = 1 would ship 45 at P = 55. A floor of 80 on 60 units a
  // month: the firm ships its covered 60 (each unit earns ≥ 80 > c), P = 40, and the
  // government pays 60·(80 − 40) = 2,400 a month (CALIBRATION §4: Q·(p_f − P)⁺).
  Builder b(200);
  const Index home = b.region("HOME", Bloc::west);
  const Index g = b.good("oxide");
  b.market(g, home, 100.0, 1.0);
  b.firm("mp", home, g, FirmKind::western, 10.0, {home});
  b.gov(home).price_floors.push_back({g, 80.0, 60.0, 1000, {}});
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 40.0, 1e-9);
  EXPECT_NEAR(shipped(sim, 0), 60.0, 1e-9);
  EXPECT_NEAR(sim.accounts().floor_outlay[home], 2400.0, 1e-6);
  EXPECT_NEAR(sim.world().firm_floor_payment[0], 2400.0, 1e-6);
  // Profit = 60·40 + 2,400 − 10·60.
  EXPECT_NEAR(sim.world().firm_profit[0], 4200.0, 1e-6);
}

TEST(PriceFloor, MpMaterialsAnchor) {
  // CALIBRATION §2: at a $60 market price a $110/kg floor on ≈ 1,300 t a year of NdPr costs
  // ≈ $65M a year. Per month: 1.3e6/12 kg · $50.
  const double monthly_kg = 1.3e6 / 12.0;
  Builder b(60);
  const Index us = b.region("US", Bloc::west);
  const Index g = b.good("ndpr");
  // Demand chosen so that the covered firm's volume clears at $60/kg: a − b·Q = 60.
  const double bslope = 1e-4;
  b.market(g, us, 60.0 + bslope * monthly_kg, bslope);
  b.firm("mp", us, g, FirmKind::western, 30.0, {us}, monthly_kg);
  b.gov(us).price_floors.push_back({g, 110.0, monthly_kg, 120, {}});
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.world().market_price[0], 60.0, 1e-6);
  EXPECT_NEAR(12.0 * sim.accounts().floor_outlay[us], 65e6, 1e-3 * 65e6);
}

namespace {
// HOME assembles `autos` from 1 unit of `magnets` each; magnets come only from CN.
// Inventory cover 2 months. CN bans magnet exports to HOME at period `ban`, lifts at `lift`.
Builder supply_chain(int ban, int lift, int periods = 160, int burn_in = 300) {
  Builder b(periods);
  b.s.run.burn_in = burn_in;  // settle before period 0: events start at period 0
  const Index home = b.region("HOME", Bloc::west);
  const Index cn = b.region("CN", Bloc::china);
  const Index magnets = b.good("magnets", {}, 2.0);
  const Index autos = b.good("autos", {{magnets, 1.0}}, 2.0);
  b.market(autos, home, 200.0, 0.5);
  b.market(magnets, home, 60.0, 1.0);  // other uses of magnets in HOME
  b.firm("cn-magnets", cn, magnets, FirmKind::western, 10.0, {home}, 500.0);
  b.firm("home-autos", home, autos, FirmKind::western, 40.0, {home}, 1000.0);
  EventSpec e = event(ban, cn, Instrument::export_control, magnets, home);
  e.kind = ControlKind::ban;
  b.event(e);
  e.period = lift;
  e.kind = ControlKind::none;
  b.event(e);
  return b;
}
}  // namespace

TEST(ExportBan, DownstreamStopsOnlyAfterTheBufferRunsOutAndRecoversAfterTheLift) {
  const int ban = 60, lift = 100;
  auto b = supply_chain(ban, lift);
  Simulation sim(b.s);
  std::vector<double> autos(b.s.run.periods), magnets_in(b.s.run.periods), lost(b.s.run.periods);
  run(sim, [&](Simulation& s, int t) {
    if (t < 0) return;
    autos[t] = s.world().firm_output[1];
    magnets_in[t] = s.link_sold(0);
    lost[t] = s.accounts().output_lost[0];
  });
  const double before = autos[ban - 1];
  ASSERT_GT(before, 10.0);
  // Flows stop at once.
  EXPECT_EQ(magnets_in[ban], 0.0);
  // The stock (2 months of cover plus the month in hand) carries production for two months...
  EXPECT_GT(autos[ban], 0.9 * before);
  EXPECT_GT(autos[ban + 1], 0.9 * before);
  // ...then the plant stops and the loss is counted.
  EXPECT_EQ(autos[ban + 4], 0.0);
  EXPECT_GT(lost[ban + 4], 0.0);
  EXPECT_EQ(lost[ban - 1], 0.0);
  // After the lift flows resume and output recovers within a few months.
  EXPECT_GT(magnets_in[lift + 1], 0.0);
  EXPECT_GT(autos[lift + 6], 0.9 * before);
  EXPECT_NEAR(autos[b.s.run.periods - 1], before, 1e-3 * before);
  // Before the ban the world was at rest (the burn-in settled it).
  EXPECT_NEAR(autos[0], before, 1e-3 * before);
}

TEST(Tariff, AnEventTakesEffectInItsMonthAndStays) {
  // Border terms are recomputed only in months when the instruments change: a tariff set in
  // month 30 must show in that month's trade panel and tariff revenue, not before, and stay
  // in force in the later months that reuse the terms.
  const int at = 30, periods = 60;
  Builder b(periods);
  b.s.run.burn_in = 100;
  const Index home = b.region("HOME", Bloc::west);
  const Index cn = b.region("CN", Bloc::china);
  const Index magnets = b.good("magnets");
  b.market(magnets, home, 60.0, 1.0);
  b.firm("cn-magnets", cn, magnets, FirmKind::western, 10.0, {home}, 500.0);
  EventSpec e = event(at, home, Instrument::tariff, magnets, cn);
  e.ad_valorem = 0.5;
  e.specific = 0.0;
  b.event(e);
  Simulation sim(b.s);
  Index pair = kNone;
  const auto& w = sim.world();
  for (Index t = 0; t < w.trades; ++t)
    if (w.trade_good[t] == magnets && w.trade_origin[t] == cn && w.trade_destination[t] == home) pair = t;
  ASSERT_NE(pair, kNone);
  std::vector<double> rate(periods), revenue(periods), price(periods);
  run(sim, [&](Simulation& s, int t) {
    if (t < 0) return;
    rate[t] = s.trades().tariff_rate[pair];
    revenue[t] = s.accounts().tariff_revenue[home];
    price[t] = s.world().market_price[0];
  });
  EXPECT_EQ(rate[at - 1], 0.0);
  EXPECT_EQ(revenue[at - 1], 0.0);
  EXPECT_EQ(rate[at], 0.5);
  EXPECT_GT(revenue[at], 0.0);
  EXPECT_EQ(rate[periods - 1], 0.5);
  EXPECT_GT(revenue[periods - 1], 0.0);
  // The seller passes part of it on: the price rises over the months after the event.
  EXPECT_GT(price[periods - 1], price[at - 1] + 1.0);
}

TEST(ExportControl, QuotaCapsTheFlow) {
  auto b = supply_chain(60, 1000, 100, 0);
  b.s.events[0].kind = ControlKind::quota;
  b.s.events[0].quantity = 5.0;
  Simulation sim(b.s);
  run(sim);
  EXPECT_NEAR(sim.link_sold(0), 5.0, 1e-9);
  EXPECT_EQ(sim.trades().controlled[0], static_cast<int>(ControlKind::quota));
}

TEST(ExportControl, LicencesPassAtTheirApprovalRate) {
  // 40 exporters; each month each one's licence is approved with probability 0.3 after a
  // delay of 2: the approved share over 100 months must be 0.3 ± 0.03 (sd ≈ 0.007).
  Builder b(160);
  const Index home = b.region("HOME", Bloc::west);
  const Index cn = b.region("CN", Bloc::china);
  const Index g = b.good("magnets");
  b.market(g, home, 100.0, 0.1);
  for (int i = 0; i < 40; ++i) b.firm("cn" + std::to_string(i), cn, g, FirmKind::western, 10.0, {home});
  EventSpec e = event(50, cn, Instrument::export_control, g, home);
  e.kind = ControlKind::license;
  e.approval = 0.3;
  e.delay = 2;
  b.event(e);
  Simulation sim(b.s);
  int open = 0, total = 0;
  run(sim, [&](Simulation& s, int t) {
    if (t == 50 || t == 51) {
      for (Index l = 0; l < s.world().links; ++l) EXPECT_EQ(s.world().link_cap[l], 0.0);  // delay
    }
    if (t >= 60)
      for (Index l = 0; l < s.world().links; ++l) {
        open += std::isinf(s.world().link_cap[l]);
        ++total;
      }
  });
  EXPECT_NEAR(static_cast<double>(open) / total, 0.3, 0.03);
}

TEST(SourcingMandate, BanOnTheAdversaryShiftsSupplyToAllies) {
  Builder b(200);
  const Index home = b.region("HOME", Bloc::west);
  const Index cn = b.region("CN", Bloc::china);
  const Index g = b.good("magnets");
  b.market(g, home, 100.0, 1.0);
  b.firm("cn", cn, g, FirmKind::western, 10.0, {home});
  b.firm("home", home, g, FirmKind::western, 20.0, {home});
  EventSpec e = event(100, home, Instrument::sourcing_mandate, g);
  e.ban_adversary = true;
  b.event(e);
  Simulation sim(b.s);
  double dep_before = 0;
  run(sim, [&](Simulation& s, int t) {
    if (t == 99) dep_before = s.markets().dependency_share[0];
  });
  EXPECT_NEAR(dep_before, 10.0 / 17.0, 1e-6);  // Cournot q = (33.3, 23.3): CN share 10/17
  EXPECT_EQ(sim.markets().dependency_share[0], 0.0);
  EXPECT_NEAR(sim.world().market_price[0], 60.0, 1e-6);  // home monopoly (100 + 20)/2
}

TEST(SourcingMandate, MinimumAlliedShareBoundsTheAdversaryShare) {
  Builder b(400);
  const Index home = b.region("HOME", Bloc::west);
  const Index cn = b.region("CN", Bloc::china);
  const Index g = b.good("magnets");
  b.market(g, home, 100.0, 1.0);
  b.firm("cn", cn, g, FirmKind::western, 10.0, {home});
  b.firm("home", home, g, FirmKind::western, 20.0, {home});
  b.gov(home).sourcing_mandates.push_back({g, 0.6, false});
  Simulation sim(b.s);
  run(sim);
  EXPECT_LE(sim.markets().dependency_share[0], 0.4 + 1e-6);
  EXPECT_GT(sim.markets().dependency_share[0], 0.35);
}

TEST(Accounting, IdentitiesHoldEveryPeriod) {
  // A busy world: tariffs (both kinds), transport, a chain with shortages, subsidies, a
  // floor, an SOE, entry. Every period: shipped = sold + unsold; buyers' payments =
  // sellers' receipts + tariffs + transport; government outlays = what firms record.
  auto b = supply_chain(40, 70, 120, 0);
  const Index home = 0, cn = 1, magnets = 0, autos = 1;
  b.s.routes.push_back({cn, home, kNone, 1.5});
  b.gov(home).tariffs.push_back({magnets, cn, 0.25, 2.0});
  b.gov(home).production_subsidies.push_back({autos, 3.0});
  b.gov(home).price_floors.push_back({autos, 150.0, 20.0, 200, {}});
  const Index soe = b.firm("cn-soe", cn, magnets, FirmKind::soe, 25.0, {home, cn}, 100.0);
  b.firm_spec(soe).output_weight = 3.0;
  b.market(magnets, cn, 80.0, 1.0);
  Simulation sim(b.s);
  int checked = 0;
  run(sim, [&](Simulation& s, int) {
    const auto& w = s.world();
    const auto& mm = s.markets();
    ASSERT_GE(w.firms, 3);
    for (Index m = 0; m < w.markets; ++m) {
      double shipped = 0.0, sold = 0.0;
      for (int j = w.offer_begin[m]; j < w.offer_begin[m + 1]; ++j) {
        shipped += w.link_q[w.offer_link[j]];
        sold += s.link_sold(w.offer_link[j]);
      }
      EXPECT_NEAR(shipped, mm.sold[m] + mm.unsold[m], 1e-9 * (1 + shipped));
      EXPECT_NEAR(sold, mm.sold[m], 1e-9 * (1 + sold));
      const double paid = w.market_price[m] * mm.sold[m];
      EXPECT_NEAR(paid, mm.receipts[m] + mm.tariff_revenue[m] + mm.transport_paid[m], 1e-9 * (1 + paid));
    }
    double subsidies = 0.0, floors = 0.0, soe_losses = 0.0, gov_sub = 0.0, gov_floor = 0.0,
           gov_soe = 0.0, tariffs = 0.0, gov_tariffs = 0.0;
    for (Index f = 0; f < w.firms; ++f) {
      subsidies += w.firm_subsidy[f];
      floors += w.firm_floor_payment[f];
      if (w.firm_kind[f] == FirmKind::soe) soe_losses += std::max(0.0, -w.firm_profit[f]);
    }
    for (Index m = 0; m < w.markets; ++m) tariffs += mm.tariff_revenue[m];
    const auto& a = s.accounts();
    for (Index r = 0; r < w.regions; ++r) {
      gov_sub += a.subsidy_outlay[r];
      gov_floor += a.floor_outlay[r];
      gov_soe += a.soe_support[r];
      gov_tariffs += a.tariff_revenue[r];
    }
    EXPECT_NEAR(gov_sub, subsidies, 1e-9 * (1 + subsidies));  // no entry here: production only
    EXPECT_NEAR(gov_floor, floors, 1e-9 * (1 + floors));
    EXPECT_NEAR(gov_soe, soe_losses, 1e-9 * (1 + soe_losses));
    EXPECT_NEAR(gov_tariffs, tariffs, 1e-9 * (1 + tariffs));
    ++checked;
  });
  EXPECT_EQ(checked, 120);
  // The world did exercise what the identities cover.
  EXPECT_GT(sim.accounts().tariff_revenue[0], 0.0);
  EXPECT_GT(sim.accounts().subsidy_outlay[0], 0.0);
}

TEST(Entry, NpvAndCapitalRecoveryAnchors) {
  // CALIBRATION §2: CRF at 8% over 10 years = 0.14903; $1bn over 10,000 t/yr ≈ $14.90/kg.
  EXPECT_NEAR(capital_recovery_factor(0.08, 10), 0.14903, 5e-6);
  EXPECT_NEAR(1e9 * capital_recovery_factor(0.08, 10) / 1e7, 14.90, 0.005);
  // An annuity's NPV at the monthly equivalent rate repays exactly its capital.
  const double r = monthly_rate(0.08);
  const double pmt = 1e9 * capital_recovery_factor(r, 120);
  EXPECT_NEAR(project_npv(pmt, 0.08, 120, 0), 1e9, 1e-3);
  // A build lag discounts it.
  EXPECT_NEAR(project_npv(pmt, 0.08, 120, 12), 1e9 / 1.08, 1e-3);
}

TEST(Learning, ProgressRatioPointEight) {
  // CALIBRATION §2: 100 → 80 → 64 at 2× and 4×, 47.65 at 10×.
  EXPECT_NEAR(100 * learning_multiplier(2, 1, 0.8, 0.1), 80.0, 1e-9);
  EXPECT_NEAR(100 * learning_multiplier(4, 1, 0.8, 0.1), 64.0, 1e-9);
  EXPECT_NEAR(100 * learning_multiplier(10, 1, 0.8, 0.1), 47.65, 0.005);
  EXPECT_NEAR(100 * learning_multiplier(10, 1, 0.8, 0.6), 60.0, 1e-9);  // floored
}

TEST(Learning, SettledAtTheFloorStaysThere) {
  // dynamics skips the power once a firm's learning is settled at its floor; settled must
  // mean the floor for every larger cumulative output, and must not be claimed at the floor's
  // edge. 0.8^log2(x) = 0.85 at x = 2^(log 0.85 / log 0.8) ≈ 1.657.
  bool settled = true;
  EXPECT_EQ(learning_multiplier(1.5, 1.0, 0.8, 0.85, &settled), std::pow(1.5, std::log2(0.8)));
  EXPECT_FALSE(settled);
  const double edge = std::pow(2.0, std::log(0.85) / std::log(0.8));
  learning_multiplier(edge, 1.0, 0.8, 0.85, &settled);
  EXPECT_FALSE(settled);  // within rounding of the floor
  learning_multiplier(1.0, 1.0, 0.8, 0.85, &settled);
  EXPECT_FALSE(settled);  // no learning yet (cumulative ≤ scale)
  int first = -1;
  for (int k = 0; k < 2000; ++k) {
    const double x = 1.0 + 0.001 * k;
    const double m = learning_multiplier(x, 1.0, 0.8, 0.85, &settled);
    if (settled && first < 0) first = k;
    if (first >= 0) {
      EXPECT_TRUE(settled) << x;
      EXPECT_EQ(m, 0.85) << x;
    }
  }
  EXPECT_GE(first, 656);  // just past the edge (x ≈ 1.6569)
  EXPECT_LE(first, 658);
}

TEST(Exit, WesternFirmExitsAfterSustainedLossesSoeDoesNot) {
  Builder b(100);
  const Index home = b.region("HOME", Bloc::west);
  const Index g = b.good("widget");
  b.market(g, home, 100.0, 1.0);
  const Index w1 = b.firm("western", home, g, FirmKind::western, 10.0, {home});
  const Index s1 = b.firm("soe", home, g, FirmKind::soe, 10.0, {home});
  b.firm_spec(w1).fixed_cost = 5000.0;  // never covered: Cournot profit is 900
  b.firm_spec(s1).fixed_cost = 5000.0;
  b.s.behaviour.exit_after = 6;
  Simulation sim(b.s);
  std::vector<FirmStatus> status;
  run(sim, [&](Simulation& s, int) { status.push_back(s.world().firm_status[0]); });
  EXPECT_EQ(status[4], FirmStatus::active);
  EXPECT_EQ(status[5], FirmStatus::exited);  // 6th month of losses
  EXPECT_EQ(sim.world().firm_status[1], FirmStatus::active);
  EXPECT_NEAR(sim.world().market_price[0], 55.0, 1e-6);  // the SOE alone (θ = 0)
}
