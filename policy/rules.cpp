#include "policy/rules.hpp"

#include <algorithm>
#include <cmath>

namespace decouple {
namespace {

Bloc adversary_bloc(Bloc b) {
  return b == Bloc::west ? Bloc::china : b == Bloc::china ? Bloc::west : Bloc::third;
}
bool adversaries(Bloc a, Bloc b) {
  return (a == Bloc::west && b == Bloc::china) || (a == Bloc::china && b == Bloc::west);
}

EventSpec event(Index government, Instrument instrument, Index good = kNone, Index partner = kNone) {
  EventSpec e;
  e.government = government;
  e.instrument = instrument;
  e.good = good;
  e.partner = partner;
  return e;
}

bool contains(const std::vector<Index>& v, Index x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// The price a rule scales per-unit instruments by: the region's own market, else its bloc's.
double reference_price(const PolicyView& v, Index region, Index good) {
  const double p = v.home_price[v.rg(region, good)];
  if (std::isfinite(p) && p > 0.0) return p;
  return v.bloc_price[v.bg(v.region_bloc[region], good)];
}

struct Context {
  const Scenario& sc;
  const PolicyView& v;
  const std::vector<PolicyRecord>& history;
  PolicyState& p;
  RuleState& st;
  CauseTable& causes;
  std::vector<PolicyRecord>& log;
  const std::vector<std::string>& cause_names;

  void apply(const EventSpec& e, const std::string& cause) {
    apply_event(p, e, v.period, causes(cause), log);
  }
  // Records of period `t` (history is in period order; scan from the back).
  template <class F>
  void each_record(int t, F&& f) const {
    for (auto it = history.rbegin(); it != history.rend() && it->period >= t; ++it)
      if (it->period == t) f(*it);
  }
  bool is_answer(const PolicyRecord& r) const {
    return r.cause >= 0 && static_cast<std::size_t>(r.cause) < cause_names.size() &&
           cause_names[r.cause].rfind("reactive:", 0) == 0;
  }
};

void set_control(Context& c, Index gov, Index good, Index partner, ControlKind kind,
                 const ReactiveSpec& spec, const std::string& cause) {
  auto e = event(gov, Instrument::export_control, good, partner);
  e.kind = kind;
  e.approval = kind == ControlKind::license ? spec.approval : 1.0;
  e.delay = kind == ControlKind::license ? spec.delay : 0;
  e.quantity = kind == ControlKind::quota ? spec.quota : 0.0;
  c.apply(e, cause);
}

// ---- reactive ---------------------------------------------------------------------------

// G's answer on its leverage goods towards `rival`: the configured control where G's control is
// less severe than it; lifting: every control G holds there, whoever set it.
void control_leverage(Context& c, Index r, Index rival, const ReactiveSpec& spec, const std::string& cause) {
  const double severity = control_severity(spec.control, spec.approval);
  for (Index lg : spec.leverage_goods) {
    const auto at = c.p.control_at(r, lg, rival);
    if (control_severity(c.p.control_kind[at], c.p.control_approval[at]) >= severity) continue;
    set_control(c, r, lg, rival, spec.control, spec, cause);
  }
}
void lift_leverage(Context& c, Index r, Index rival, const ReactiveSpec& spec, const std::string& cause) {
  for (Index lg : spec.leverage_goods)
    if (c.p.control_kind[c.p.control_at(r, lg, rival)] != ControlKind::none)
      set_control(c, r, lg, rival, ControlKind::none, spec, cause);
}

void reactive(Context& c, const GovernmentSpec& g) {
  const Index r = g.region;
  const auto& spec = g.reactive;
  const auto& v = c.v;
  std::vector<Index> rivals = spec.rivals;
  if (rivals.empty())
    for (Index x = 0; x < v.regions; ++x)
      if (adversaries(v.region_bloc[r], v.region_bloc[x])) rivals.push_back(x);

  // A truce the rival declared (a scheduled one included) pauses retaliation.
  c.each_record(v.period - 1, [&](const PolicyRecord& rec) {
    if (rec.instrument == Instrument::truce && rec.partner == r && contains(rivals, rec.government))
      c.st.truce_until[r] = std::max(c.st.truce_until[r], v.period + spec.truce_months);
  });

  // Pain: downstream output lost for `pain_months` months in a row → offer a truce.
  c.st.pain_months[r] = v.output_lost_share[r] > spec.pain_threshold ? c.st.pain_months[r] + 1 : 0;
  if (c.st.pain_months[r] >= spec.pain_months && v.period >= c.st.truce_until[r]) {
    const std::string cause = "reactive: truce offered at the pain threshold";
    for (Index rival : rivals) {
      auto e = event(r, Instrument::truce, kNone, rival);
      e.ad_valorem = spec.truce_tariff;
      c.apply(e, cause);
      if (spec.truce_lifts_controls)
        for (Index good = 0; good < v.goods; ++good) {
          if (c.p.control_kind[c.p.control_at(r, good, rival)] != ControlKind::none)
            set_control(c, r, good, rival, ControlKind::none, spec, cause);
          if (c.p.control_kind[c.p.control_at(rival, good, r)] != ControlKind::none) {
            auto x = event(rival, Instrument::export_control, good, r);
            x.kind = ControlKind::none;
            c.apply(x, cause);
          }
        }
      c.st.truce_until[rival] = std::max(c.st.truce_until[rival], v.period + spec.truce_months);
    }
    c.st.truce_until[r] = v.period + spec.truce_months;
    c.st.pain_months[r] = 0;
    return;
  }
  if (v.period < c.st.truce_until[r]) return;

  // Tit for tat on the rivals' moves of `lag` months ago; answers are not answered back
  // unless `escalate` (so the spiral needs initiatives, not echoes).
  std::vector<PolicyRecord> moves;
  c.each_record(v.period - spec.lag, [&](const PolicyRecord& rec) {
    if (rec.partner == r && contains(rivals, rec.government) && (spec.escalate || !c.is_answer(rec)))
      moves.push_back(rec);
  });
  std::reverse(moves.begin(), moves.end());  // file order
  for (const auto& m : moves) {
    const Index rival = m.government;
    if (m.instrument == Instrument::tariff && m.value != m.previous) {
      const auto at = c.p.tariff_at(r, m.good, rival);
      const double now = c.p.tariff_ad_valorem[at];
      const double next = m.value > m.previous
                              ? std::max(now, std::min(spec.max_tariff, now + spec.tariff_ratio * (m.value - m.previous)))
                              : std::max(0.0, now - spec.tariff_ratio * (m.previous - m.value));
      // Crossing the control threshold is answered on the leverage goods as well.
      const double threshold = spec.control_above_tariff;
      if (m.value >= threshold && m.previous < threshold)
        control_leverage(c, r, rival, spec, "reactive: answer to a tariff above the control threshold");
      else if (m.value < threshold && m.previous >= threshold)
        lift_leverage(c, r, rival, spec, "reactive: rival's tariff back under the control threshold");
      if (next == now) continue;
      auto e = event(r, Instrument::tariff, m.good, rival);
      e.ad_valorem = next;
      c.apply(e, m.value > m.previous ? "reactive: answer to a tariff rise" : "reactive: answer to a tariff cut");
    } else if (m.instrument == Instrument::export_control && m.value > m.previous) {
      // Across domains: a control on what it buys is answered on what it sells.
      control_leverage(c, r, rival, spec, "reactive: answer to an export control");
    } else if (m.instrument == Instrument::export_control && m.value < m.previous) {
      lift_leverage(c, r, rival, spec, "reactive: answer to a lifted control");
    }
  }
}

// ---- diversify --------------------------------------------------------------------------

// One rung of the ladder on good `good` for government region r.
void climb(Context& c, Index r, Index good, const DiversifySpec& d, double target,
           const std::string& cause) {
  const auto& v = c.v;
  const auto rg = c.p.region_good(r, good);
  const int k = c.st.rungs[v.rg(r, good)]++;
  const int n = static_cast<int>(d.ladder.size());
  const Instrument rung = d.ladder[k < n ? k : (k - n) % n];
  const double price = reference_price(v, r, good);
  switch (rung) {
    case Instrument::investment_subsidy:
    case Instrument::equity_stake: {
      // Capex shares: each at most 0.9, together at most 0.95.
      const bool subsidy = rung == Instrument::investment_subsidy;
      const double x = subsidy ? c.p.investment_subsidy[rg] : c.p.equity_share[rg];
      const double other = subsidy ? c.p.equity_share[rg] : c.p.investment_subsidy[rg];
      const double step = subsidy ? d.investment_subsidy_step : d.equity_step;
      const double next = std::min({0.9, x + step, 0.95 - other});
      if (next <= x) return;
      auto e = event(r, rung, good);
      e.rate = next;
      c.apply(e, cause);
      return;
    }
    case Instrument::production_subsidy: {
      if (!(price > 0.0)) return;
      auto e = event(r, rung, good);
      e.rate = c.p.production_subsidy[rg] + d.production_subsidy_step * price;
      c.apply(e, cause);
      return;
    }
    case Instrument::price_floor: {
      const double volume = d.floor_volume * v.bloc_quantity[v.bg(v.region_bloc[r], good)];
      if (!(price > 0.0) || !(volume > 0.0)) return;
      auto e = event(r, rung, good);
      e.floor = (1.0 + d.floor_premium) * price;
      e.volume = volume;
      e.months = d.floor_months;
      c.apply(e, cause);
      return;
    }
    case Instrument::tariff: {
      if (v.region_bloc[r] == Bloc::third) return;  // no adversary bloc to tax
      const Bloc adv = adversary_bloc(v.region_bloc[r]);
      for (Index x = 0; x < v.regions; ++x) {
        if (v.region_bloc[x] != adv) continue;
        auto e = event(r, rung, good, x);
        e.ad_valorem = c.p.tariff_ad_valorem[c.p.tariff_at(r, good, x)] + d.tariff_step;
        c.apply(e, cause);
      }
      return;
    }
    case Instrument::sourcing_mandate: {
      // Mandate a step above the allied share that already exists, never more: a mandate
      // with no allied supply to buy would simply ban the adversary's goods.
      const double allied = 1.0 - v.dependency[v.bg(v.region_bloc[r], good)];
      if (allied <= 0.0) return;
      const double x = c.p.mandate_share[rg];
      const double next = std::min({1.0 - target, std::max(x, allied) + d.mandate_step, 1.0});
      if (next <= x || c.p.mandate_ban[rg]) return;
      auto e = event(r, rung, good);
      e.share = next;
      c.apply(e, cause);
      return;
    }
    default:
      return;
  }
}

bool target_missed(const PolicyView& v, Index r, Index good, double target, double hhi_target) {
  const auto at = v.bg(v.region_bloc[r], good);
  return v.dependency[at] > target || (hhi_target > 0.0 && v.hhi_origins[at] > hhi_target);
}

// Review: climb a rung on every good whose target is missed.
void diversify(Context& c, Index r, const std::vector<Index>& goods, const DiversifySpec& d,
               double target, double hhi_target, const std::string& cause) {
  if (c.v.period < c.st.next_review[r]) return;
  c.st.next_review[r] = c.v.period + d.review_every;
  for (Index good : goods)
    if (target_missed(c.v, r, good, target, hhi_target)) climb(c, r, good, d, target, cause);
}

// A government that dominates a good answers the adversary's moves to diversify away from
// it with underpricing in the adversary's market (limit price `auto`: the entrants' own
// break-even, which falls as their subsidies rise). China adds SOE support (θ); a western
// government has no SOEs: its directive has its own firms offer cut-rate prices in the
// adversary's market and it covers their losses (Bown 2026: the US would commit not to
// "encourage its semiconductor industry to offer cut-rate prices in China to thwart market
// entry by Chinese companies").
void thwart(Context& c, Index h, const DiversifySpec& d) {
  const auto& v = c.v;
  const Bloc hb = v.region_bloc[h];
  std::vector<PolicyRecord> moves;
  c.each_record(v.period - 1, [&](const PolicyRecord& rec) {
    if (rec.good == kNone || rec.value <= rec.previous) return;
    if (!adversaries(hb, v.region_bloc[rec.government])) return;
    switch (rec.instrument) {
      case Instrument::investment_subsidy: case Instrument::production_subsidy:
      case Instrument::price_floor: case Instrument::equity_stake:
      case Instrument::sourcing_mandate: case Instrument::tariff:
        moves.push_back(rec);
        break;
      default:
        break;
    }
  });
  std::reverse(moves.begin(), moves.end());
  for (const auto& m : moves) {
    const Index a = m.government, good = m.good;
    // Only where its bloc supplies most of the adversary bloc's needs.
    if (v.dependency[v.bg(v.region_bloc[a], good)] <= 0.5) continue;
    const std::string cause = "diversify: thwarting the adversary's diversification";
    const bool in_force = std::any_of(c.p.directives.begin(), c.p.directives.end(), [&](const UnderpricingDirective& x) {
      return x.government == h && x.good == good && x.market_region == a;
    });
    if (!in_force) {
      auto e = event(h, Instrument::underpricing, good, a);
      e.margin = d.thwart_margin;  // limit_price unset: auto
      c.apply(e, hb == Bloc::west ? cause + " (cut-rate export pricing)" : cause);
    }
    if (hb == Bloc::west) continue;  // no SOEs whose θ could rise
    auto e = event(h, Instrument::output_weight);
    const double step = d.thwart_theta_step > 0.0 ? d.thwart_theta_step : 0.05 * reference_price(v, h, good);
    e.rate = c.p.output_weight[h] + step;
    c.apply(e, cause);
  }
}

// ---- reciprocal -------------------------------------------------------------------------

void reciprocal(Context& c, const GovernmentSpec& g) {
  const auto& a = c.sc.agreement;
  const auto& v = c.v;
  const Index r = g.region;
  if (!a.present || v.period < a.start) return;
  const bool west = r == a.west;
  const Index other = west ? a.china : a.west;
  const auto& own_goods = west ? a.west_goods : a.china_goods;  // what it diversifies
  if (c.st.suspended[r]) {
    // Reverted to unilateral diversification, thwarting included if configured.
    diversify(c, r, own_goods, g.diversify, a.target, a.hhi_target, "reciprocal: suspended, diversifying alone");
    if (g.diversify.thwart) thwart(c, r, g.diversify);
    return;
  }
  // Monitoring: the other party's SOEs selling agreed goods to this bloc below their own
  // cost for `breach_months`, or a new export control or underpricing on an agreed good.
  // Below-cost selling that was already going on when the agreement started is the status
  // quo the agreement was struck on (SOEs with θ > 0 sell below cost by design): only an
  // episode that began after the start counts.
  bool breach = false;
  const int since_start = v.period - a.start;
  for (Index good : own_goods) {
    const int months = v.soe_below_cost[v.rg(other, good)];
    breach |= months >= a.breach_months && months <= since_start;
  }
  c.each_record(v.period - 1, [&](const PolicyRecord& rec) {
    if (rec.government != other || rec.good == kNone) return;
    if (!contains(a.west_goods, rec.good) && !contains(a.china_goods, rec.good)) return;
    if (rec.instrument == Instrument::export_control && rec.value > rec.previous) breach = true;
    if (rec.instrument == Instrument::underpricing && rec.value != 0.0) breach = true;
  });
  if (breach) {
    c.st.suspended[r] = 1;
    auto e = event(r, Instrument::agreement, kNone, other);
    e.rate = 0.0;
    c.apply(e, "reciprocal: breach detected, agreement suspended");
    return;
  }
  // The announced ladder on its own agreed goods; once a target is met, sunset to the
  // sustain level.
  if (v.period < c.st.next_review[r]) return;
  c.st.next_review[r] = v.period + g.diversify.review_every;
  for (Index good : own_goods) {
    if (target_missed(v, r, good, a.target, a.hhi_target)) {
      if (c.st.met[v.rg(r, good)] < 2) c.st.met[v.rg(r, good)] = 0;
      climb(c, r, good, g.diversify, a.target, "reciprocal: announced ladder step");
      continue;
    }
    // Met at two reviews in a row before sunsetting (a one-month dip is not success).
    auto& met = c.st.met[v.rg(r, good)];
    if (met >= 2) continue;
    if (++met < 2) continue;
    const auto rg = c.p.region_good(r, good);
    const std::string cause = "reciprocal: target met, sunset to the sustain level";
    for (Instrument i : {Instrument::investment_subsidy, Instrument::equity_stake, Instrument::production_subsidy}) {
      const double x = i == Instrument::investment_subsidy ? c.p.investment_subsidy[rg]
                       : i == Instrument::equity_stake     ? c.p.equity_share[rg]
                                                           : c.p.production_subsidy[rg];
      if (x <= 0.0) continue;
      auto e = event(r, i, good);
      e.rate = x * a.sustain_level;
      c.apply(e, cause);
    }
  }
}

void start_agreement(Context& c) {
  const auto& a = c.sc.agreement;
  c.st.agreement_started = true;
  for (Index party : {a.west, a.china}) {
    const Index other = party == a.west ? a.china : a.west;
    auto e = event(party, Instrument::agreement, kNone, other);
    e.rate = 1.0;
    c.apply(e, "reciprocal: agreement in force");
    // No underpricing on agreed goods from now on.
    std::vector<UnderpricingDirective> drop;
    for (const auto& d : c.p.directives)
      if (d.government == party && (contains(a.west_goods, d.good) || contains(a.china_goods, d.good)))
        drop.push_back(d);
    for (const auto& d : drop) {
      auto x = event(party, Instrument::underpricing, d.good, d.market_region);
      x.lift = true;
      c.apply(x, "reciprocal: agreement in force, underpricing withdrawn");
    }
  }
}

}  // namespace

Index CauseTable::operator()(const std::string& text) {
  auto it = std::find(names_.begin(), names_.end(), text);
  if (it != names_.end()) return static_cast<Index>(it - names_.begin());
  names_.push_back(text);
  return static_cast<Index>(names_.size() - 1);
}

RuleState initial_rule_state(const Scenario& sc) {
  RuleState s;
  const auto R = sc.regions.size(), G = sc.goods.size();
  s.pain_months.assign(R, 0);
  s.truce_until.assign(R, 0);
  s.next_review.assign(R, 0);
  s.rungs.assign(R * G, 0);
  s.met.assign(R * G, 0);
  s.suspended.assign(R, 0);
  return s;
}

void run_rules(const Scenario& sc, const PolicyView& v, const std::vector<PolicyRecord>& history,
               PolicyState& policy, RuleState& state, CauseTable& causes,
               std::vector<PolicyRecord>& log, const std::vector<std::string>& cause_names) {
  Context c{sc, v, history, policy, state, causes, log, cause_names};
  if (sc.agreement.present && !state.agreement_started && v.period >= sc.agreement.start) start_agreement(c);
  // Governments in region order: the same on every rank.
  std::vector<const GovernmentSpec*> govs;
  for (const auto& g : sc.governments) govs.push_back(&g);
  std::sort(govs.begin(), govs.end(), [](auto* x, auto* y) { return x->region < y->region; });
  for (const auto* g : govs) {
    switch (g->rule) {
      case Rule::none:
        break;
      case Rule::reactive:
        reactive(c, *g);
        break;
      case Rule::diversify:
        if (v.period < g->diversify.start) break;
        diversify(c, g->region, g->diversify.goods, g->diversify, g->diversify.target,
                  g->diversify.hhi_target, "diversify: ladder step (target missed)");
        if (g->diversify.thwart) thwart(c, g->region, g->diversify);
        break;
      case Rule::reciprocal:
        reciprocal(c, *g);
        break;
    }
  }
}

bool agreement_covers(const Scenario& sc, const RuleState& st, Index good) {
  const auto& a = sc.agreement;
  if (!a.present || !st.agreement_started) return false;
  if (st.suspended[a.west] || st.suspended[a.china]) return false;
  return contains(a.west_goods, good) || contains(a.china_goods, good);
}

std::vector<double> policy_uncertainty(const std::vector<PolicyRecord>& history, int period,
                                       Index goods, const std::vector<double>& reference_price,
                                       int window) {
  std::vector<double> sum(goods, 0.0);
  for (auto it = history.rbegin(); it != history.rend() && it->period > period - window; ++it) {
    const auto& r = *it;
    if (r.period > period) continue;
    double delta = 0.0;
    switch (r.instrument) {
      case Instrument::tariff: case Instrument::export_control: case Instrument::investment_subsidy:
      case Instrument::equity_stake: case Instrument::sourcing_mandate:
        delta = std::abs(r.value - r.previous);
        break;
      case Instrument::production_subsidy: case Instrument::price_floor: {
        const double p = r.good == kNone ? 0.0 : reference_price[r.good];
        delta = p > 0.0 ? std::abs(r.value - r.previous) / p : 0.0;
        break;
      }
      case Instrument::underpricing:
        delta = (r.value != 0.0) != (r.previous != 0.0) ? 1.0 : 0.2;
        break;
      case Instrument::output_weight: case Instrument::truce: case Instrument::agreement:
        delta = 0.1;
        break;
    }
    if (r.good == kNone) {
      for (auto& s : sum) s += delta * delta;
    } else {
      sum[r.good] += delta * delta;
    }
  }
  for (auto& s : sum) s = std::sqrt(s / window);
  return sum;
}

}  // namespace decouple
