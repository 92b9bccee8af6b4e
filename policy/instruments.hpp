// Governments' instruments (DESIGN §4) as dense tables, replicated on every rank, and
// scheduled events that change them. Rules other than `none` arrive with the policy issue;
// they will write through the same apply_* functions so every change is logged.
#pragma once

#include <string>
#include <vector>

#include "core/scenario.hpp"

namespace decouple {

struct PriceFloorContract {
  Index government = kNone;  // region of the paying government
  Index good = kNone;
  double floor = 0.0;
  double volume = 0.0;       // units per month covered
  int start = 0;             // first period
  int months = 0;
  std::vector<Index> firms;  // empty: every firm of the good in the government's region
  bool active_at(int period) const { return period >= start && period < start + months; }
};

struct UnderpricingDirective {
  Index government = kNone;
  Index good = kNone;
  Index market_region = kNone;
  bool automatic = true;     // limit price from entrants' costs
  double limit_price = 0.0;
  double margin = 0.0;
};

// One row of /panel/policy.
struct PolicyRecord {
  int period = 0;
  Index government = kNone;
  Instrument instrument = Instrument::tariff;
  Index good = kNone;
  Index partner = kNone;
  double value = 0.0;         // the new setting (export controls: severity, see below)
  double previous = 0.0;      // the setting it replaced
  Index cause = kNone;       // index into the cause strings
};

// An export control's severity in [0, 1]: ban 1, quota 0.5, licence 1 − approval, none 0.
double control_severity(ControlKind kind, double approval);

struct PolicyState {
  Index regions = 0, goods = 0;
  std::vector<Rule> rule;                  // [region]
  std::vector<double> output_weight;       // [region] θ for its SOEs
  // [(importer·G + good)·R + exporter]
  std::vector<double> tariff_ad_valorem, tariff_specific;
  // [(exporter·G + good)·R + destination]
  std::vector<ControlKind> control_kind;
  std::vector<double> control_quantity, control_approval;
  std::vector<int> control_delay, control_since;
  // [region·G + good]
  std::vector<double> production_subsidy, investment_subsidy, equity_share;
  std::vector<double> mandate_share;
  std::vector<std::uint8_t> mandate_ban;
  std::vector<PriceFloorContract> floors;
  std::vector<UnderpricingDirective> directives;

  std::size_t tariff_at(Index importer, Index good, Index exporter) const {
    return (static_cast<std::size_t>(importer) * goods + good) * regions + exporter;
  }
  std::size_t control_at(Index exporter, Index good, Index destination) const {
    return (static_cast<std::size_t>(exporter) * goods + good) * regions + destination;
  }
  std::size_t region_good(Index region, Index good) const {
    return static_cast<std::size_t>(region) * goods + good;
  }
};

// The instruments each government holds at the start (its [[government]] table).
PolicyState initial_policy(const Scenario& scenario);

// Apply one scheduled event at `period`, appending what changed to `log`.
void apply_event(PolicyState& state, const EventSpec& event, int period, Index cause,
                 std::vector<PolicyRecord>& log);

}  // namespace decouple
