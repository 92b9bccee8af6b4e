#include "policy/instruments.hpp"

#include <algorithm>
#include <cmath>

namespace decouple {
namespace {

void set_control(PolicyState& s, Index exporter, Index good, Index destination, ControlKind kind,
                 double quantity, double approval, int delay, int since) {
  const auto at = s.control_at(exporter, good, destination);
  // A licence regime whose terms change keeps its start: applications already in the
  // pipeline are not reset (only a new regime waits `delay` months).
  if (kind == ControlKind::license && s.control_kind[at] == ControlKind::license) since = s.control_since[at];
  s.control_kind[at] = kind;
  s.control_quantity[at] = quantity;
  s.control_approval[at] = approval;
  s.control_delay[at] = delay;
  s.control_since[at] = since;
}

}  // namespace

PolicyState initial_policy(const Scenario& sc) {
  PolicyState s;
  const auto R = static_cast<Index>(sc.regions.size());
  const auto G = static_cast<Index>(sc.goods.size());
  s.regions = R;
  s.goods = G;
  const std::size_t rgr = static_cast<std::size_t>(R) * G * R;
  const std::size_t rg = static_cast<std::size_t>(R) * G;
  s.rule.assign(R, Rule::none);
  s.output_weight.assign(R, 0.0);
  s.tariff_ad_valorem.assign(rgr, 0.0);
  s.tariff_specific.assign(rgr, 0.0);
  s.control_kind.assign(rgr, ControlKind::none);
  s.control_quantity.assign(rgr, 0.0);
  s.control_approval.assign(rgr, 1.0);
  s.control_delay.assign(rgr, 0);
  s.control_since.assign(rgr, 0);
  s.production_subsidy.assign(rg, 0.0);
  s.investment_subsidy.assign(rg, 0.0);
  s.equity_share.assign(rg, 0.0);
  s.mandate_share.assign(rg, 0.0);
  s.mandate_ban.assign(rg, 0);
  for (const auto& g : sc.governments) {
    const Index r = g.region;
    s.rule[r] = g.rule;
    s.output_weight[r] = g.output_weight;
    for (const auto& t : g.tariffs) {
      s.tariff_ad_valorem[s.tariff_at(r, t.good, t.exporter)] = t.ad_valorem;
      s.tariff_specific[s.tariff_at(r, t.good, t.exporter)] = t.specific;
    }
    for (const auto& c : g.export_controls)
      set_control(s, r, c.good, c.partner, c.kind, c.quantity, c.approval, c.delay,
                  -sc.run.burn_in);
    for (const auto& x : g.production_subsidies) s.production_subsidy[s.region_good(r, x.good)] = x.rate;
    for (const auto& x : g.investment_subsidies) s.investment_subsidy[s.region_good(r, x.good)] = x.rate;
    for (const auto& x : g.equity_stakes) s.equity_share[s.region_good(r, x.good)] = x.rate;
    for (const auto& f : g.price_floors)
      s.floors.push_back({r, f.good, f.floor, f.volume, -sc.run.burn_in, f.months + sc.run.burn_in, f.firms});
    for (const auto& u : g.underpricing)
      s.directives.push_back({r, u.good, u.market, !u.limit_price.has_value(),
                              u.limit_price.value_or(0.0), u.margin});
    for (const auto& m : g.sourcing_mandates) {
      s.mandate_share[s.region_good(r, m.good)] = m.min_allied_share;
      s.mandate_ban[s.region_good(r, m.good)] = m.ban_adversary ? 1 : 0;
    }
  }
  return s;
}

double control_severity(ControlKind kind, double approval) {
  switch (kind) {
    case ControlKind::none: return 0.0;
    case ControlKind::ban: return 1.0;
    case ControlKind::quota: return 0.5;
    case ControlKind::license: return 1.0 - approval;
  }
  return 0.0;
}

void apply_event(PolicyState& s, const EventSpec& e, int period, Index cause,
                 std::vector<PolicyRecord>& log) {
  const Index gov = e.government;
  auto record = [&](Index good, Index partner, double value, double previous) {
    log.push_back({period, gov, e.instrument, good, partner, value, previous, cause});
  };
  switch (e.instrument) {
    case Instrument::tariff: {
      const auto at = s.tariff_at(gov, e.good, e.partner);
      const double before = s.tariff_ad_valorem[at];
      if (!std::isnan(e.ad_valorem)) s.tariff_ad_valorem[at] = e.ad_valorem;
      if (!std::isnan(e.specific)) s.tariff_specific[at] = e.specific;
      record(e.good, e.partner, s.tariff_ad_valorem[at], before);
      break;
    }
    case Instrument::export_control: {
      const auto at = s.control_at(gov, e.good, e.partner);
      const double before = control_severity(s.control_kind[at], s.control_approval[at]);
      set_control(s, gov, e.good, e.partner, e.kind, e.quantity, e.approval, e.delay, period);
      record(e.good, e.partner, control_severity(e.kind, e.approval), before);
      break;
    }
    case Instrument::production_subsidy:
    case Instrument::investment_subsidy:
    case Instrument::equity_stake: {
      auto& table = e.instrument == Instrument::production_subsidy   ? s.production_subsidy
                    : e.instrument == Instrument::investment_subsidy ? s.investment_subsidy
                                                                     : s.equity_share;
      double& x = table[s.region_good(gov, e.good)];
      const double before = x;
      x = e.lift ? 0.0 : e.rate;  // only production subsidies accept `lift` (config)
      record(e.good, kNone, x, before);
      break;
    }
    case Instrument::output_weight: {
      const double before = s.output_weight[gov];
      s.output_weight[gov] = e.rate;
      record(kNone, kNone, e.rate, before);
      break;
    }
    case Instrument::price_floor: {
      auto& fl = s.floors;
      double before = 0.0;
      for (const auto& c : fl)
        if (c.government == gov && c.good == e.good && c.active_at(period)) before = c.floor;
      fl.erase(std::remove_if(fl.begin(), fl.end(),
                              [&](const PriceFloorContract& c) {
                                return c.government == gov && c.good == e.good;
                              }),
               fl.end());
      if (!e.lift) fl.push_back({gov, e.good, e.floor, e.volume, period, e.months, {}});
      record(e.good, kNone, e.lift ? 0.0 : e.floor, before);
      break;
    }
    case Instrument::underpricing: {
      auto& d = s.directives;
      const auto same = [&](const UnderpricingDirective& x) {
        return x.government == gov && x.good == e.good && x.market_region == e.partner;
      };
      const bool had = std::any_of(d.begin(), d.end(), same);
      d.erase(std::remove_if(d.begin(), d.end(), same), d.end());
      if (!e.lift)
        d.push_back({gov, e.good, e.partner, !e.limit_price.has_value(),
                     e.limit_price.value_or(0.0), e.margin});
      // value: the limit price, −1 for `auto`, 0 when lifted; previous: 1 if one was in force.
      record(e.good, e.partner, e.lift ? 0.0 : e.limit_price.value_or(-1.0), had ? 1.0 : 0.0);
      break;
    }
    case Instrument::sourcing_mandate: {
      const auto rg = s.region_good(gov, e.good);
      const double before = s.mandate_ban[rg] ? 1.0 : s.mandate_share[rg];
      s.mandate_share[rg] = e.lift ? 0.0 : e.share;
      s.mandate_ban[rg] = (!e.lift && e.ban_adversary) ? 1 : 0;
      record(e.good, kNone, e.lift ? 0.0 : (e.ban_adversary ? 1.0 : e.share), before);
      break;
    }
    case Instrument::truce: {
      // Both sides roll their tariffs on each other back to `ad_valorem` (if given) on every
      // good; controls are lifted only by their own events (the 2025 truces kept some).
      if (!std::isnan(e.ad_valorem)) {
        for (Index g = 0; g < s.goods; ++g) {
          auto& a = s.tariff_ad_valorem[s.tariff_at(gov, g, e.partner)];
          auto& b = s.tariff_ad_valorem[s.tariff_at(e.partner, g, gov)];
          a = std::min(a, e.ad_valorem);
          b = std::min(b, e.ad_valorem);
        }
      }
      record(kNone, e.partner, std::isnan(e.ad_valorem) ? 0.0 : e.ad_valorem, 0.0);
      break;
    }
    case Instrument::agreement:
      record(kNone, e.partner, e.rate, e.rate > 0.0 ? 0.0 : 1.0);
      break;
  }
}

}  // namespace decouple
