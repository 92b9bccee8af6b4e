// Government decision rules (DESIGN §4): reactive, diversify, reciprocal, and the policy
// uncertainty U that entrants price into their hurdle rate. Each rule is a plain function
// of last period's published aggregates (PolicyView, the same on every rank) and the
// government's own state (RuleState); every change goes through apply_event, so it lands
// in /panel/policy with its cause.
#pragma once

#include <string>
#include <vector>

#include "core/scenario.hpp"
#include "policy/instruments.hpp"

namespace decouple {

// What governments see at the start of period t: aggregates of period t − 1.
struct PolicyView {
  int period = 0;
  Index regions = 0, goods = 0;
  std::vector<Bloc> region_bloc;
  // [bloc·G + good]
  std::vector<double> dependency;     // adversary bloc's share of supply to the bloc (0 if none)
  std::vector<double> hhi_origins;    // HHI over origin regions of that supply, 0–10,000
  std::vector<double> bloc_price;     // quantity-weighted price of the good in the bloc
  std::vector<double> bloc_quantity;  // supply delivered to the bloc, units/month
  // [region]
  std::vector<double> output_lost_share;  // output value lost to shortages / planned output value
  // [region·G + good]
  std::vector<double> home_price;     // price in the region's own market (NaN: no market)
  std::vector<int> soe_below_cost;    // months in a row its SOEs sold the good to the other bloc below own unit cost

  std::size_t bg(Bloc b, Index g) const { return static_cast<std::size_t>(b) * goods + g; }
  std::size_t rg(Index r, Index g) const { return static_cast<std::size_t>(r) * goods + g; }
};

// The rules' memory, one entry per region (or region·good).
struct RuleState {
  std::vector<int> pain_months;       // [region] consecutive months above the pain threshold
  std::vector<int> truce_until;       // [region] no retaliation before this period
  std::vector<int> next_review;       // [region] next diversification review
  std::vector<int> rungs;             // [region·G + good] ladder rungs climbed so far
  std::vector<std::uint8_t> met;      // [region·G + good] reviews in a row at target (2: sunset applied)
  std::vector<std::uint8_t> suspended;  // [region] the agreement is suspended for this party
  bool agreement_started = false;
};

// Interns cause strings for /meta/causes.
class CauseTable {
 public:
  explicit CauseTable(std::vector<std::string>& names) : names_(names) {}
  Index operator()(const std::string& text);

 private:
  std::vector<std::string>& names_;
};

RuleState initial_rule_state(const Scenario& scenario);

// Runs every government's rule for period `view.period`; `history` holds every record of
// earlier periods (the rules react to period t − lag). New records go to `log`.
// `cause_names` are the interned cause strings (to tell a rule's own answers apart).
void run_rules(const Scenario& scenario, const PolicyView& view,
               const std::vector<PolicyRecord>& history, PolicyState& policy, RuleState& state,
               CauseTable& causes, std::vector<PolicyRecord>& log,
               const std::vector<std::string>& cause_names);

// True while the agreement binds both parties on good g: transparency sets U to 0 there.
bool agreement_covers(const Scenario& scenario, const RuleState& state, Index good);

// Policy uncertainty per good: the root mean square, over the last `window` months, of the
// changes of instruments that affect the good (tariff and share points, control severity,
// per-unit instruments relative to the good's price; a truce counts 0.1 on every good).
std::vector<double> policy_uncertainty(const std::vector<PolicyRecord>& history, int period,
                                       Index goods, const std::vector<double>& reference_price,
                                       int window = 24);

}  // namespace decouple
