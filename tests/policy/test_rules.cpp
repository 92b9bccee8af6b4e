// Each rule's decisions on hand-built aggregates (no simulation): retaliation after the
// lag, truce at the pain threshold, ladder steps, thwarting, sunset, breach → suspension,
// and the policy-uncertainty measure.
#include <gtest/gtest.h>

#include <cmath>

#include "policy/rules.hpp"

using namespace decouple;

namespace {
// Regions US (west), CN (china), ROW (third); goods magnets, sme.
constexpr Index US = 0, CN = 1, ROW = 2, MAG = 0, SME = 1;

struct World {
  Scenario sc;
  PolicyState policy;
  RuleState state;
  PolicyView view;
  std::vector<PolicyRecord> history, log;
  std::vector<std::string> names{"scheduled"};

  World() {
    sc.run = {"rules", 120, 1, "2024-01", 2024, 1, 0};
    sc.regions = {{"US", Bloc::west}, {"CN", Bloc::china}, {"ROW", Bloc::third}};
    sc.goods.resize(2);
    sc.goods[0].id = "magnets";
    sc.goods[1].id = "sme";
    for (Index r = 0; r < 3; ++r) {
      sc.governments.emplace_back();
      sc.governments.back().region = r;
    }
  }
  void ready() {
    policy = initial_policy(sc);
    state = initial_rule_state(sc);
    view.regions = 3;
    view.goods = 2;
    view.region_bloc = {Bloc::west, Bloc::china, Bloc::third};
    view.dependency.assign(6, 0.0);
    view.hhi_origins.assign(6, 0.0);
    view.bloc_price.assign(6, 100.0);
    view.bloc_quantity.assign(6, 1000.0);
    view.output_lost_share.assign(3, 0.0);
    view.home_price.assign(6, 100.0);
    view.soe_below_cost.assign(6, 0);
  }
  // One period of the rules; the new records join the history afterwards.
  void step(int period) {
    view.period = period;
    log.clear();
    CauseTable table(names);
    run_rules(sc, view, history, policy, state, table, log, names);
    history.insert(history.end(), log.begin(), log.end());
  }
  // A move by `gov` at `period` (as a scheduled event would make it).
  void move(int period, const EventSpec& e) {
    std::vector<PolicyRecord> out;
    apply_event(policy, e, period, 0, out);
    history.insert(history.end(), out.begin(), out.end());
  }
  std::size_t count(Instrument i, Index gov) const {
    std::size_t n = 0;
    for (const auto& r : log) n += r.instrument == i && r.government == gov;
    return n;
  }
  std::string cause(const PolicyRecord& r) const { return names[r.cause]; }
};

EventSpec tariff(Index gov, Index good, Index partner, double rate) {
  EventSpec e;
  e.government = gov;
  e.instrument = Instrument::tariff;
  e.good = good;
  e.partner = partner;
  e.ad_valorem = rate;
  return e;
}

EventSpec control(Index gov, Index good, Index partner, ControlKind kind) {
  EventSpec e;
  e.government = gov;
  e.instrument = Instrument::export_control;
  e.good = good;
  e.partner = partner;
  e.kind = kind;
  return e;
}
}  // namespace

TEST(Reactive, TariffRiseAnsweredAfterTheLagAndNotBefore) {
  World w;
  auto& cn = w.sc.governments[CN];
  cn.rule = Rule::reactive;
  cn.reactive.lag = 2;
  cn.reactive.tariff_ratio = 1.0;
  w.ready();
  w.move(10, tariff(US, MAG, CN, 0.30));  // from 0 to 0.30
  w.step(11);
  EXPECT_EQ(w.count(Instrument::tariff, CN), 0u);  // lag not over
  w.step(12);
  ASSERT_EQ(w.count(Instrument::tariff, CN), 1u);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(CN, MAG, US)], 0.30);
  EXPECT_EQ(w.cause(w.log[0]), "reactive: answer to a tariff rise");
  w.step(13);
  EXPECT_EQ(w.count(Instrument::tariff, CN), 0u);  // answered once
}

TEST(Reactive, AnswersAreCappedAndTariffCutsReciprocated) {
  World w;
  auto& cn = w.sc.governments[CN];
  cn.rule = Rule::reactive;
  cn.reactive.lag = 1;
  cn.reactive.max_tariff = 1.25;
  w.ready();
  w.move(5, tariff(US, MAG, CN, 1.45));
  w.step(6);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(CN, MAG, US)], 1.25);
  w.move(20, tariff(US, MAG, CN, 0.30));  // cut by 1.15
  w.step(21);
  EXPECT_NEAR(w.policy.tariff_ad_valorem[w.policy.tariff_at(CN, MAG, US)], 0.10, 1e-12);
  EXPECT_EQ(w.cause(w.log[0]), "reactive: answer to a tariff cut");
}

TEST(Reactive, ExportControlAnsweredAcrossDomains) {
  // The US controls SME to China; China answers with magnet licences to the US.
  World w;
  auto& cn = w.sc.governments[CN];
  cn.rule = Rule::reactive;
  cn.reactive.lag = 1;
  cn.reactive.leverage_goods = {MAG};
  cn.reactive.control = ControlKind::license;
  cn.reactive.approval = 0.1;
  cn.reactive.delay = 2;
  w.ready();
  w.move(7, control(US, SME, CN, ControlKind::ban));
  w.step(8);
  const auto at = w.policy.control_at(CN, MAG, US);
  EXPECT_EQ(w.policy.control_kind[at], ControlKind::license);
  EXPECT_DOUBLE_EQ(w.policy.control_approval[at], 0.1);
  EXPECT_EQ(w.policy.control_delay[at], 2);
  EXPECT_EQ(w.policy.control_since[at], 8);
  // The US lifts its control: China lifts its answer a lag later.
  w.move(15, control(US, SME, CN, ControlKind::none));
  w.step(16);
  EXPECT_EQ(w.policy.control_kind[at], ControlKind::none);
}

TEST(Reactive, TariffAboveTheThresholdAlsoAnsweredWithControls) {
  // April 2025: US tariffs above 60% are answered with tariffs and with magnet licences; when
  // the US tariff falls back under the threshold (Geneva), the licences are lifted.
  World w;
  auto& cn = w.sc.governments[CN];
  cn.rule = Rule::reactive;
  cn.reactive.lag = 0;
  cn.reactive.leverage_goods = {MAG};
  cn.reactive.control = ControlKind::license;
  cn.reactive.approval = 0.05;
  cn.reactive.delay = 2;
  cn.reactive.control_above_tariff = 0.6;
  w.ready();
  const auto at = w.policy.control_at(CN, MAG, US);
  w.move(3, tariff(US, SME, CN, 0.4));  // under the threshold: tariffs only
  w.step(3);
  EXPECT_EQ(w.policy.control_kind[at], ControlKind::none);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(CN, SME, US)], 0.4);
  w.move(5, tariff(US, SME, CN, 1.2));  // crosses it
  w.step(5);
  EXPECT_EQ(w.policy.control_kind[at], ControlKind::license);
  EXPECT_DOUBLE_EQ(w.policy.control_approval[at], 0.05);
  EXPECT_EQ(w.policy.control_since[at], 5);
  bool cross_domain = false;
  for (const auto& rec : w.log) cross_domain |= w.cause(rec) == "reactive: answer to a tariff above the control threshold";
  EXPECT_TRUE(cross_domain);
  w.move(7, tariff(US, SME, CN, 0.9));  // still above: nothing more
  w.step(7);
  EXPECT_EQ(w.policy.control_since[at], 5);
  w.move(9, tariff(US, SME, CN, 0.5));  // back under it: lifted
  w.step(9);
  EXPECT_EQ(w.policy.control_kind[at], ControlKind::none);
}

TEST(Reactive, AnswersAreNotAnsweredUnlessEscalating) {
  for (bool escalate : {false, true}) {
    World w;
    for (Index r : {US, CN}) {
      w.sc.governments[r].rule = Rule::reactive;
      w.sc.governments[r].reactive.lag = 1;
      w.sc.governments[r].reactive.escalate = escalate;
      w.sc.governments[r].reactive.max_tariff = 1.0;
    }
    w.ready();
    w.move(1, tariff(US, MAG, CN, 0.2));
    for (int t = 2; t < 20; ++t) w.step(t);
    const double us = w.policy.tariff_ad_valorem[w.policy.tariff_at(US, MAG, CN)];
    const double cn = w.policy.tariff_ad_valorem[w.policy.tariff_at(CN, MAG, US)];
    if (escalate) {
      EXPECT_DOUBLE_EQ(us, 1.0) << "the spiral runs to the cap";
      EXPECT_DOUBLE_EQ(cn, 1.0);
    } else {
      EXPECT_DOUBLE_EQ(us, 0.2);
      EXPECT_DOUBLE_EQ(cn, 0.2);
    }
  }
}

TEST(Reactive, TruceAtThePainThresholdRollsBothSidesBack) {
  World w;
  auto& us = w.sc.governments[US];
  us.rule = Rule::reactive;
  us.reactive.pain_threshold = 0.05;
  us.reactive.pain_months = 2;
  us.reactive.truce_tariff = 0.3;
  us.reactive.truce_months = 6;
  w.ready();
  w.move(1, tariff(US, MAG, CN, 1.45));
  w.move(1, tariff(CN, MAG, US, 1.25));
  w.move(1, control(CN, MAG, US, ControlKind::ban));
  w.move(1, control(US, SME, CN, ControlKind::ban));
  w.view.output_lost_share[US] = 0.08;
  w.step(2);
  EXPECT_EQ(w.count(Instrument::truce, US), 0u);  // one month of pain
  w.step(3);
  ASSERT_EQ(w.count(Instrument::truce, US), 1u);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(US, MAG, CN)], 0.3);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(CN, MAG, US)], 0.3);
  EXPECT_EQ(w.policy.control_kind[w.policy.control_at(CN, MAG, US)], ControlKind::none);
  EXPECT_EQ(w.policy.control_kind[w.policy.control_at(US, SME, CN)], ControlKind::none);
  // During the truce a new move by the rival is not answered.
  w.view.output_lost_share[US] = 0.0;
  w.sc.governments[US].reactive.lag = 1;
  w.move(4, tariff(CN, SME, US, 0.5));
  w.step(5);
  EXPECT_EQ(w.count(Instrument::tariff, US), 0u);
}

TEST(Diversify, LadderClimbsAtEachReviewWhileTheTargetIsMissed) {
  World w;
  auto& us = w.sc.governments[US];
  us.rule = Rule::diversify;
  us.diversify.goods = {MAG};
  us.diversify.target = 0.4;
  us.diversify.review_every = 6;
  us.diversify.ladder = {Instrument::investment_subsidy, Instrument::production_subsidy,
                         Instrument::price_floor, Instrument::equity_stake, Instrument::tariff,
                         Instrument::sourcing_mandate};
  w.ready();
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.9;
  const auto rg = w.policy.region_good(US, MAG);
  w.step(0);
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[rg], 0.1);
  w.step(1);  // not a review month
  EXPECT_TRUE(w.log.empty());
  w.step(6);
  EXPECT_DOUBLE_EQ(w.policy.production_subsidy[rg], 0.05 * 100.0);
  w.step(12);
  ASSERT_EQ(w.policy.floors.size(), 1u);
  EXPECT_DOUBLE_EQ(w.policy.floors[0].floor, 130.0);   // (1 + 0.3)·100
  EXPECT_DOUBLE_EQ(w.policy.floors[0].volume, 100.0);  // 0.1·1000
  w.step(18);
  EXPECT_DOUBLE_EQ(w.policy.equity_share[rg], 0.1);
  w.step(24);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(US, MAG, CN)], 0.25);
  EXPECT_DOUBLE_EQ(w.policy.tariff_ad_valorem[w.policy.tariff_at(US, MAG, ROW)], 0.0);  // third bloc spared
  w.step(30);
  EXPECT_DOUBLE_EQ(w.policy.mandate_share[rg], 0.2);  // allied share 0.1 now, one step above
  w.step(36);  // second round
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[rg], 0.2);
  EXPECT_EQ(w.cause(w.log[0]), "diversify: ladder step (target missed)");
  // Target met: no more steps.
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.35;
  w.step(42);
  EXPECT_TRUE(w.log.empty());
}

TEST(Diversify, ThwartingAnswersWithUnderpricingAndMoreSoeSupport) {
  World w;
  auto& cn = w.sc.governments[CN];
  cn.rule = Rule::diversify;
  cn.diversify.goods = {SME};
  cn.diversify.thwart = true;
  cn.diversify.thwart_margin = 0.05;
  cn.diversify.thwart_theta_step = 2.0;
  cn.diversify.review_every = 1000;
  w.ready();
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.9;  // China dominates the West's magnets
  EventSpec e;
  e.government = US;
  e.instrument = Instrument::investment_subsidy;
  e.good = MAG;
  e.rate = 0.2;
  w.move(3, e);
  w.step(4);
  ASSERT_EQ(w.policy.directives.size(), 1u);
  EXPECT_EQ(w.policy.directives[0].government, CN);
  EXPECT_EQ(w.policy.directives[0].market_region, US);
  EXPECT_TRUE(w.policy.directives[0].automatic);
  EXPECT_DOUBLE_EQ(w.policy.directives[0].margin, 0.05);
  EXPECT_DOUBLE_EQ(w.policy.output_weight[CN], 2.0);
  // A second US step: θ rises again, the directive is not duplicated.
  e.rate = 0.3;
  w.move(9, e);
  w.step(10);
  EXPECT_EQ(w.policy.directives.size(), 1u);
  EXPECT_DOUBLE_EQ(w.policy.output_weight[CN], 4.0);
  // Where China does not dominate, no answer.
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.3;
  e.rate = 0.4;
  w.move(15, e);
  w.step(16);
  EXPECT_DOUBLE_EQ(w.policy.output_weight[CN], 4.0);
}

namespace {
void agreement(World& w) {
  w.sc.governments[US].rule = Rule::reciprocal;
  w.sc.governments[CN].rule = Rule::reciprocal;
  for (Index r : {US, CN}) w.sc.governments[r].diversify.review_every = 6;
  auto& a = w.sc.agreement;
  a.present = true;
  a.west = US;
  a.china = CN;
  a.west_goods = {MAG};
  a.china_goods = {SME};
  a.target = 0.4;
  a.start = 0;
  a.sustain_level = 0.5;
  a.breach_months = 3;
}
}  // namespace

TEST(Reciprocal, AgreementWithdrawsUnderpricingAndSunsetsOnceMet) {
  World w;
  agreement(w);
  w.sc.governments[CN].underpricing.push_back({MAG, US, std::nullopt, 0.05});
  w.ready();
  ASSERT_EQ(w.policy.directives.size(), 1u);
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.9;
  w.view.dependency[w.view.bg(Bloc::china, SME)] = 0.8;
  w.step(0);
  EXPECT_TRUE(w.policy.directives.empty());
  EXPECT_EQ(w.count(Instrument::agreement, US), 1u);
  EXPECT_TRUE(agreement_covers(w.sc, w.state, MAG));
  EXPECT_TRUE(agreement_covers(w.sc, w.state, SME));
  const auto us_mag = w.policy.region_good(US, MAG), cn_sme = w.policy.region_good(CN, SME);
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[us_mag], 0.1);  // each on its own agreed goods
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[cn_sme], 0.1);
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[w.policy.region_good(US, SME)], 0.0);
  // The West meets its magnet target at two reviews in a row: sunset to half.
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.38;
  w.step(6);
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[us_mag], 0.1);  // once is not yet success
  EXPECT_DOUBLE_EQ(w.policy.production_subsidy[cn_sme], 5.0);  // China still climbing
  w.step(12);
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[us_mag], 0.05);
  EXPECT_EQ(w.cause(w.log[0]), "reciprocal: target met, sunset to the sustain level");
  w.step(18);
  EXPECT_DOUBLE_EQ(w.policy.investment_subsidy[us_mag], 0.05);  // sunset once
}

TEST(Reciprocal, SoeSalesBelowCostForKMonthsSuspendTheAgreementForTheInjuredSide) {
  World w;
  agreement(w);
  w.ready();
  w.view.dependency[w.view.bg(Bloc::west, MAG)] = 0.9;
  w.step(0);
  w.view.soe_below_cost[w.view.rg(CN, MAG)] = 2;  // an episode that began after the start
  w.step(2);
  EXPECT_FALSE(w.state.suspended[US]);
  w.view.soe_below_cost[w.view.rg(CN, MAG)] = 3;
  w.step(3);
  EXPECT_TRUE(w.state.suspended[US]);
  EXPECT_FALSE(w.state.suspended[CN]);
  EXPECT_FALSE(agreement_covers(w.sc, w.state, MAG));
  EXPECT_EQ(w.cause(w.log[0]), "reciprocal: breach detected, agreement suspended");
  // Suspended: the US now diversifies alone on its review schedule.
  w.step(6);
  EXPECT_EQ(w.cause(w.log[0]), "reciprocal: suspended, diversifying alone");
}

TEST(Reciprocal, BelowCostSellingThatPredatesTheAgreementIsNotABreach) {
  World w;
  agreement(w);
  w.sc.agreement.start = 10;
  w.ready();
  w.view.soe_below_cost[w.view.rg(CN, MAG)] = 12;  // below cost since before the start
  for (int t = 10; t < 20; ++t) {
    w.step(t);
    ++w.view.soe_below_cost[w.view.rg(CN, MAG)];
  }
  EXPECT_FALSE(w.state.suspended[US]);
}

TEST(Reciprocal, ANewExportControlOnAnAgreedGoodIsABreach) {
  World w;
  agreement(w);
  w.ready();
  w.step(0);
  auto licence = control(US, SME, CN, ControlKind::license);
  licence.approval = 0.5;  // severity 0.5 (a licence always approved would be no control)
  w.move(4, licence);
  w.step(5);
  EXPECT_TRUE(w.state.suspended[CN]);
  EXPECT_FALSE(w.state.suspended[US]);
}

TEST(PolicyUncertainty, RootMeanSquareOfChangesOverTheWindow) {
  std::vector<PolicyRecord> h;
  h.push_back({0, US, Instrument::tariff, MAG, CN, 0.5, 0.1, 0});        // Δ 0.4
  h.push_back({10, US, Instrument::tariff, MAG, CN, 0.2, 0.5, 0});       // Δ 0.3
  h.push_back({12, CN, Instrument::export_control, SME, US, 1.0, 0.0, 0});  // Δ 1
  h.push_back({30, US, Instrument::production_subsidy, MAG, kNone, 20.0, 0.0, 0});  // Δ 20/100
  const std::vector<double> price{100.0, 50.0};
  auto u = policy_uncertainty(h, 20, 2, price, 24);
  EXPECT_NEAR(u[MAG], std::sqrt((0.16 + 0.09) / 24.0), 1e-12);
  EXPECT_NEAR(u[SME], std::sqrt(1.0 / 24.0), 1e-12);
  u = policy_uncertainty(h, 40, 2, price, 24);  // only the subsidy is left in the window
  EXPECT_NEAR(u[MAG], std::sqrt(0.04 / 24.0), 1e-12);
  EXPECT_EQ(u[SME], 0.0);
}

TEST(Diversify, WesternThwartingIsCutRatePricingWithoutSoeSupport) {
  // The US dominates China's fab equipment (the West supplies 80% of it): China's investment
  // subsidy on SME is answered by a US directive for cut-rate prices in China's market; the US
  // has no SOEs, so no θ step; no answer on a good the West does not dominate.
  World w;
  auto& us = w.sc.governments[US];
  us.rule = Rule::diversify;
  us.diversify.goods = {MAG};
  us.diversify.thwart = true;
  us.diversify.thwart_margin = 0.05;
  us.diversify.review_every = 1000;
  w.ready();
  w.view.dependency[w.view.bg(Bloc::china, SME)] = 0.8;
  w.view.dependency[w.view.bg(Bloc::china, MAG)] = 0.1;
  EventSpec e;
  e.government = CN;
  e.instrument = Instrument::investment_subsidy;
  e.good = SME;
  e.rate = 0.3;
  w.move(3, e);
  e.good = MAG;
  w.move(3, e);
  w.step(4);
  ASSERT_EQ(w.policy.directives.size(), 1u);
  const auto& d = w.policy.directives[0];
  EXPECT_EQ(d.government, US);
  EXPECT_EQ(d.good, SME);
  EXPECT_EQ(d.market_region, CN);
  EXPECT_TRUE(d.automatic);
  EXPECT_DOUBLE_EQ(d.margin, 0.05);
  EXPECT_DOUBLE_EQ(w.policy.output_weight[US], 0.0);
  ASSERT_EQ(w.log.size(), 1u);  // the directive only
  EXPECT_EQ(w.cause(w.log.back()),
            "diversify: thwarting the adversary's diversification (cut-rate export pricing)");
  // A second Chinese step does not duplicate the directive.
  e.good = SME;
  e.rate = 0.4;
  w.move(9, e);
  w.step(10);
  EXPECT_EQ(w.policy.directives.size(), 1u);
}
