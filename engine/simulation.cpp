#include "engine/simulation.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "agents/entry.hpp"
#include "agents/inventory.hpp"
#include "core/errors.hpp"
#include "core/rng.hpp"

namespace decouple {
namespace {

// The fraction of every offer a market sold: all of it (1, so that q·1 keeps q's bits) unless
// some supply went unsold, then sold / supply.
double sold_fraction(double supply, double sold, double unsold) {
  if (!(unsold > 0.0)) return 1.0;
  return supply > 0.0 ? sold / supply : 0.0;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Firms fall in at most this many fixed chunks for the per-region account sums: few enough
// that the per-period gather of (chunk, region) partials stays small (≈ 0.5 MB for a
// million firms), many enough that aligning rank boundaries to chunks costs little balance.
constexpr Index kAccountChunks = 8192;

// The bloc a region's government treats as the adversary (third-bloc regions have none).
int adversary_of(Bloc b) {
  switch (b) {
    case Bloc::west: return static_cast<int>(Bloc::china);
    case Bloc::china: return static_cast<int>(Bloc::west);
    case Bloc::third: return -1;
  }
  return -1;
}

// Expected replacement price of a firm's input (before the first clearing: the stock's cost).
double input_price(const World& w, int slot) {
  const double f = w.market_forecast[w.slot_market[slot]];
  return std::isnan(f) ? w.slot_cost[slot] : f;
}

// What a firm's inputs cost per unit of output at their expected replacement prices.
double input_cost(const World& w, Index f) {
  double c = 0.0;
  for (int s = w.slot_begin[f]; s < w.slot_begin[f + 1]; ++s) c += w.slot_units[s] * input_price(w, s);
  return c;
}

// An SOE's output weight θ: its own, else its government's; 0 for western firms.
double soe_theta(const World& w, const PolicyState& p, Index f) {
  if (w.firm_kind[f] != FirmKind::soe) return 0.0;
  return std::isnan(w.firm_theta[f]) ? p.output_weight[w.firm_region[f]] : w.firm_theta[f];
}

// The share of an entrant's capex its owners pay (the rest: investment subsidy, equity).
double own_capex_share(const PolicyState& p, std::size_t region_good) {
  return std::max(0.0, 1.0 - p.investment_subsidy[region_good] - p.equity_share[region_good]);
}

// The world without per-link state (distribute keeps this rank's links), its synthetic
// firms drawn by all ranks together.
World build_shared(const Scenario& scenario, Exchange& exchange) {
  BuildShare share{exchange.rank(), exchange.ranks(),
                   [&](std::span<const double> mine) { return exchange.allgather_concat(mine); }};
  return build_world(scenario, false, &share);
}

}  // namespace

void MarketMetrics::resize(Index m) {
  for (auto* v : {&supply, &sold, &unsold, &demand, &exogenous, &hhi_firms, &hhi_origins,
                  &dependency_share, &consumer_surplus, &shortage, &tariff_revenue, &receipts,
                  &transport_paid})
    v->assign(m, 0.0);
  for (auto& s : share) s.assign(m, 0.0);
}

void TradeMetrics::resize(Index t) {
  quantity.assign(t, 0.0);
  value.assign(t, 0.0);
  tariff_rate.assign(t, 0.0);
  controlled.assign(t, 0);
}

void Accounts::reset(Index r) {
  for (auto* v : {&tariff_revenue, &subsidy_outlay, &production_subsidy_outlay,
                  &investment_subsidy_outlay, &floor_outlay, &soe_support, &equity_outlay,
                  &output_lost, &output_value, &consumer_surplus})
    v->assign(r, 0.0);
}

void BlocMetrics::resize(std::size_t n) {
  for (auto* v : {&quantity, &dependency_share, &price, &hhi_origins}) v->assign(n, 0.0);
  for (auto& x : share) x.assign(n, 0.0);
}

Simulation::Simulation(const Scenario& scenario, Communicator comm)
    : scenario_(scenario), exchange_(std::move(comm)), world_(build_shared(scenario, exchange_)),
      policy_(initial_policy(scenario)) {
  const auto& w = world_;
  market_metrics_.resize(w.markets);
  trade_metrics_.resize(w.trades);
  trade_is_listed_.assign(static_cast<std::size_t>(w.trades), 0);
  accounts_.reset(w.regions);
  // Cause strings: "scheduled" plus each distinct event cause text.
  causes_.push_back("scheduled");
  for (const auto& e : scenario_.events) {
    if (e.cause.empty()) {
      event_cause_.push_back(0);
      continue;
    }
    auto it = std::find(causes_.begin(), causes_.end(), e.cause);
    event_cause_.push_back(static_cast<Index>(it - causes_.begin()));
    if (it == causes_.end()) causes_.push_back(e.cause);
  }
  bloc_metrics_.resize(static_cast<std::size_t>(kBlocCount) * w.goods);
  rule_state_ = initial_rule_state(scenario_);
  uncertainty_.assign(w.goods, 0.0);
  soe_below_cost_.assign(static_cast<std::size_t>(w.regions) * w.goods, 0);
  view_.regions = w.regions;
  view_.goods = w.goods;
  view_.region_bloc = w.region_bloc;
  view_.dependency.assign(static_cast<std::size_t>(kBlocCount) * w.goods, 0.0);
  view_.hhi_origins = view_.bloc_price = view_.bloc_quantity = view_.dependency;
  view_.output_lost_share.assign(w.regions, 0.0);
  view_.home_price.assign(static_cast<std::size_t>(w.regions) * w.goods, std::numeric_limits<double>::quiet_NaN());
  view_.soe_below_cost.assign(static_cast<std::size_t>(w.regions) * w.goods, 0);
  trade_capacity_.assign(w.trades, 0.0);
  adversary_capacity_.assign(w.markets, 0.0);
  allied_supply_.assign(w.markets, 0.0);
  traded_price_.assign(w.markets, 0.0);
  floor_min_output_.assign(w.firms, 0.0);
  floor_share_.assign(w.firms, 0.0);
  floor_of_.assign(w.firms, kNone);
  entry_limit_price_.assign(w.markets, kInf);
  bid_q_.assign(w.bid_slot.size(), 0.0);
  bid_r_.assign(w.bid_slot.size(), 0.0);
  bid_served_.assign(w.bid_slot.size(), 0.0);
  if (!w.slot_stock_bid.empty()) {
    bid_stock_q_.assign(w.bid_slot.size(), 0.0);
    bid_stock_r_.assign(w.bid_slot.size(), 0.0);
  }
  std::size_t max_links = 0, max_bids = 0;
  for (Index f = 0; f < w.firms; ++f)
    max_links = std::max<std::size_t>(max_links, w.link_begin[f + 1] - w.link_begin[f]);
  for (Index m = 0; m < w.markets; ++m)
    max_bids = std::max<std::size_t>(max_bids, w.bid_begin[m + 1] - w.bid_begin[m]);
  max_links_ = max_links;
  terms_.resize(kBatchLanes * max_links);
  firm_batches_.resize(FirmBatch::kMaxLinks + 1);
  target_.resize(kBatchLanes * max_links);
  adjusted_.resize(kBatchLanes * max_links);
  scratch_.resize(2 * max_links + 2);
  // With split bids every slot is two entries (this month's use, restocking).
  const std::size_t max_entries = w.slot_stock_bid.empty() ? max_bids : 2 * max_bids;
  sorted_q_.resize(max_entries);
  sorted_r_.resize(max_entries);
  served_.resize(max_entries);
  order_.resize(max_entries);
  bid_order_.assign(2 * static_cast<std::size_t>(w.bid_begin[w.markets]), 0);
  bid_order_n_.assign(w.markets, -1);
  entry_q_.resize(max_entries);
  entry_r_.resize(max_entries);
  distribute();
}

// Ownership (DESIGN §5), the routes offers, bids and settlements take, and the
// (chunk, region) entries of the account sums. Every rank computes all of it from the
// replicated world, without messages (the plans are then cross-checked once).
void Simulation::distribute() {
  const auto& w = world_;
  const int P = exchange_.ranks(), me = exchange_.rank();
  const Index R = w.regions;
  chunk_ = std::max<Index>(1, (w.firms + kAccountChunks - 1) / kAccountChunks);
  decomposition_ = decompose(w, P, 0.10, chunk_);
  firm_lo_ = decomposition_.firm_begin[me];
  firm_hi_ = decomposition_.firm_begin[me + 1];
  const auto& market_rank = decomposition_.market_rank;
  for (Index m = 0; m < w.markets; ++m)
    if (market_rank[m] == me) my_markets_.push_back(m);
  // Each trade pair's destination market, its owner, and the pairs into each market (CSR).
  trade_market_.resize(w.trades);
  trade_rank_.resize(w.trades);
  market_trade_begin_.assign(w.markets + 1, 0);
  for (Index t = 0; t < w.trades; ++t) {
    trade_market_[t] = w.market_of[static_cast<std::size_t>(w.trade_good[t]) * R + w.trade_destination[t]];
    trade_rank_[t] = market_rank[trade_market_[t]];
    ++market_trade_begin_[trade_market_[t] + 1];
  }
  for (Index m = 0; m < w.markets; ++m) market_trade_begin_[m + 1] += market_trade_begin_[m];
  market_trades_.resize(w.trades);
  std::vector<int> at(market_trade_begin_.begin(), market_trade_begin_.end() - 1);
  for (Index t = 0; t < w.trades; ++t) market_trades_[at[trade_market_[t]]++] = t;
  trade_position_.resize(w.trades);
  for (Index k = 0; k < w.trades; ++k) trade_position_[market_trades_[k]] = k;
  trade_hit_.assign((static_cast<std::size_t>(w.trades) + 63) / 64, 0);
  trade_terms_.assign(w.trades, TradeTerms{});
  trade_special_.assign(w.trades, 0);
  trade_net_.assign(w.trades, 0.0);
  {
    const auto firm_rank = decomposition_.firm_rank();
    const auto link_rank = expand_owner(w.link_begin, firm_rank);
    const auto offer_rank = expand_owner(w.offer_begin, market_rank);
    offer_plan_ = RoutingPlan(w.offer_link, link_rank, offer_rank, exchange_.communicator());
    // Local numbering: this rank's links from 0 in id order, its markets' offer slots from 0
    // in market order; offer_trade_ keeps what the market side reads of a slot's link.
    offer_local_.assign(w.markets, -1);
    int local = 0;
    for (Index m : my_markets_) {
      offer_local_[m] = local;
      for (int j = w.offer_begin[m]; j < w.offer_begin[m + 1]; ++j) offer_trade_.push_back(w.link_trade[w.offer_link[j]]);
      local += w.offer_begin[m + 1] - w.offer_begin[m];
    }
    const int link_lo = w.link_begin[firm_lo_];
    offer_plan_.rebase(link_lo, static_cast<std::size_t>(w.link_begin[firm_hi_] - link_lo), static_cast<std::size_t>(local),
                       [&](Index j) {
                         const Index m = w.link_market[w.offer_link[j]];  // slot j's market: its link's
                         return offer_local_[m] + (j - w.offer_begin[m]);
                       });
    world_.keep_links(link_lo, w.link_begin[firm_hi_]);
    world_.init_link_state();  // this rank's links only
    std::vector<std::uint8_t> used(static_cast<std::size_t>(w.trades), 0);
    for (const Index t : w.link_trade) used[t] = 1;  // (this rank's links now)
    firm_trades_.clear();
    for (Index t = 0; t < w.trades; ++t)
      if (used[t]) firm_trades_.push_back(t);
    offer_q_.assign(local, 0.0);
    sold_ratio_.assign(static_cast<std::size_t>(w.markets), 0.0);
    const auto slot_rank = expand_owner(w.slot_begin, firm_rank);
    const auto bid_rank = expand_owner(w.bid_begin, market_rank);
    bid_plan_ = RoutingPlan(w.bid_slot, slot_rank, bid_rank, exchange_.communicator());
  }
  exchange_.verify(offer_plan_);
  exchange_.verify(bid_plan_);
  // Entries: per chunk, the distinct home regions of its firms, ascending.
  std::vector<Index> regions;
  Index first_here = -1;
  firm_entry_.assign(firm_hi_ - firm_lo_, 0);
  for (Index c0 = 0; c0 < w.firms; c0 += chunk_) {
    const Index c1 = std::min(w.firms, c0 + chunk_);
    regions.assign(w.firm_region.begin() + c0, w.firm_region.begin() + c1);
    std::sort(regions.begin(), regions.end());
    regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
    const auto base = static_cast<Index>(entry_region_.size());
    if (c0 >= firm_lo_ && c0 < firm_hi_) {
      if (first_here < 0) first_here = base;
      for (Index f = c0; f < c1; ++f)
        firm_entry_[f - firm_lo_] = base - first_here +
            static_cast<Index>(std::lower_bound(regions.begin(), regions.end(), w.firm_region[f]) - regions.begin());
    }
    entry_region_.insert(entry_region_.end(), regions.begin(), regions.end());
  }
  Index entries_here = 0;
  for (Index f = firm_lo_; f < firm_hi_; ++f) entries_here = std::max(entries_here, firm_entry_[f - firm_lo_] + 1);
  partial_.assign(static_cast<std::size_t>(entries_here) * kAccountFields, 0.0);
  learning_settled_.assign(static_cast<std::size_t>(firm_hi_ - firm_lo_), 0);
}

void Simulation::step(int period) {
  auto& w = world_;
  // Phase clock: each lap books the time since the last into a phase, split into exchange
  // time (the exchange's own counter) and the rest.
  auto last = std::chrono::steady_clock::now();
  double exchange_last = exchange_.stats().seconds;
  auto lap = [&](int phase) {
    const auto now = std::chrono::steady_clock::now();
    const double ex = exchange_.stats().seconds - exchange_last;
    phase_times_.work[phase] += std::chrono::duration<double>(now - last).count() - ex;
    phase_times_.exchange[phase] += ex;
    last = now;
    exchange_last = exchange_.stats().seconds;
  };
  const PhaseTimes before = phase_times_;
  policy_log_.clear();
  accounts_.reset(w.regions);
  std::fill(partial_.begin(), partial_.end(), 0.0);
  apply_policy(period);
  lap(0);
  tabulate_border_terms(period);
  lap(1);
  plan_offers();
  lap(2);
  // Phase 3: offers and bids to the markets' owners.
  exchange_.to_markets(offer_plan_, w.link_q, offer_q_, offer_memo_);
  if (w.slot_stock_bid.empty()) {
    const std::span<const double> bids_from[] = {w.slot_bid, w.slot_reservation};
    const std::span<double> bids_to[] = {bid_q_, bid_r_};
    exchange_.to_markets(bid_plan_, bids_from, bids_to);
  } else {
    const std::span<const double> bids_from[] = {w.slot_bid, w.slot_reservation, w.slot_stock_bid,
                                                 w.slot_stock_reservation};
    const std::span<double> bids_to[] = {bid_q_, bid_r_, bid_stock_q_, bid_stock_r_};
    exchange_.to_markets(bid_plan_, bids_from, bids_to);
  }
  lap(3);
  clear_markets();
  lap(4);
  // Phase 5: input deliveries back to the buyers; markets' state and metrics to every rank.
  // Sellers' sales need no message: every offer sells the market's common fraction of it,
  // which settle() computes from the published metrics.
  exchange_.to_firms(bid_plan_, bid_served_, w.slot_delivered);
  lap(5);
  settle_markets();
  publish_markets();
  tabulate_net_prices();  // this month's prices, for settle and the SOE pricing check
  lap(6);
  settle(period);
  dynamics(period);
  reduce_accounts();
  lap(7);
  aggregate();
  lap(8);
  if (keep_period_times_) {
    period_times_.push_back(period);
    for (int k = 0; k < kPhases; ++k) {
      period_times_.push_back(phase_times_.work[k] - before.work[k]);
      period_times_.push_back(phase_times_.exchange[k] - before.exchange[k]);
    }
  }
}

// ---- Phase 1: policy -------------------------------------------------------------------

void Simulation::apply_policy(int period) {
  auto& w = world_;
  // Plants whose build lag has passed come on line.
  for (Index f = firm_lo_; f < firm_hi_; ++f)
    if (w.firm_status[f] == FirmStatus::building && period >= w.firm_online_period[f])
      w.firm_status[f] = FirmStatus::active;
  // Scheduled events (the exogenous timeline) apply from period 0 on; rules other than
  // `none` are added by the policy work and run after the events.
  const auto& events = scenario_.events;
  while (next_event_ < events.size() && events[next_event_].period <= period) {
    if (period >= 0)
      apply_event(policy_, events[next_event_], period, event_cause_[next_event_], policy_log_);
    ++next_event_;
  }
  // Decision rules, from period 0 on (policy is frozen during the burn-in), on last
  // period's published aggregates. History holds earlier periods plus today's events.
  if (period >= 0) {
    history_.insert(history_.end(), policy_log_.begin(), policy_log_.end());
    const std::size_t before = policy_log_.size();
    view_.period = period;
    CauseTable table(causes_);
    run_rules(scenario_, view_, history_, policy_, rule_state_, table, policy_log_, causes_);
    history_.insert(history_.end(), policy_log_.begin() + static_cast<long>(before), policy_log_.end());
  }
  // Policy uncertainty per good over the last 24 months; none where an agreement announces
  // the path (transparency).
  std::vector<double> ref(w.goods, 0.0);
  for (Index g = 0; g < w.goods; ++g)
    ref[g] = std::max(view_.bloc_price[view_.bg(Bloc::west, g)], view_.bloc_price[view_.bg(Bloc::china, g)]);
  uncertainty_ = policy_uncertainty(history_, period, w.goods, ref);
  for (Index g = 0; g < w.goods; ++g)
    if (agreement_covers(scenario_, rule_state_, g)) uncertainty_[g] = 0.0;
}

// Border terms per link and the aggregates instruments need, tabulated once per period
// before the best-response loop (no lookups inside it).
void Simulation::tabulate_border_terms(int period) {
  auto& w = world_;
  const auto& p = policy_;
  const Index R = w.regions;
  // Per trade pair (replicated): multiplier and additive cost (transport + specific
  // tariff), and whether a link of the pair needs the per-link cases below (export control,
  // sourcing mandate). The same operations as per link; the tariff tables (by importer) are
  // read once per pair, and the market side settles with these too.
  // Unchanged instruments (compared as tables, sequentially: cheaper than the pairs' scattered
  // lookups), unchanged terms.
  auto same = [](const auto& a, const auto& b) {  // bit for bit (NaN, ±0 alike)
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
  };
  auto& in = border_inputs_;
  border_changed_ = in.ad_valorem.empty() || !same(in.ad_valorem, p.tariff_ad_valorem) ||
                    !same(in.specific, p.tariff_specific) || !same(in.mandate_share, p.mandate_share) ||
                    !same(in.control, p.control_kind) || !same(in.mandate_ban, p.mandate_ban);
  if (border_changed_) {
    in = {p.tariff_ad_valorem, p.tariff_specific, p.mandate_share, p.control_kind, p.mandate_ban};
    bool any = false;
    for (Index t = 0; t < w.trades; ++t) {
      const Index g = w.trade_good[t], o = w.trade_origin[t], d = w.trade_destination[t];
      double mult = 1.0, add = w.transport[(static_cast<std::size_t>(g) * R + o) * R + d];
      bool special = false;
      if (o != d) {
        const auto k = p.tariff_at(d, g, o);
        mult += p.tariff_ad_valorem[k];
        add += p.tariff_specific[k];
        const auto rg = w.region_good(d, g);
        special = p.control_kind[p.control_at(o, g, d)] != ControlKind::none ||
                  (adversary_of(w.region_bloc[d]) == static_cast<int>(w.region_bloc[o]) &&
                   (p.mandate_ban[rg] || p.mandate_share[rg] > 0.0));
      }
      trade_terms_[t] = {mult, add};
      trade_special_[t] = special ? 1 : 0;
      any = any || special;
    }
    any_special_ = any;
  }
  const bool any_special = any_special_;
  // This month's terms at last month's prices, for the input bids: with the terms unchanged,
  // as computed after last month's clearing (no price has moved since).
  if (border_changed_) tabulate_net_prices();
  share_capacities();
  // Without an export control or mandate now or last period every link is uncapped and not
  // denied, as the loop below left it: nothing to write (a million-firm world's 7.5M links).
  const bool links_current = !any_special && !links_special_;
  links_special_ = any_special;
  for (Index f = firm_lo_; f < firm_hi_ && !links_current; ++f) {
    const Index o = w.firm_region[f], g = w.firm_good[f];
    const int origin_bloc = static_cast<int>(w.region_bloc[o]);
    for (int l = w.first_link(f); l < w.end_link(f); ++l) {
      const Index t = w.link_trade[l];
      double cap = kInf;
      bool denied = false;
      if (trade_special_[t]) {  // an export control or a sourcing mandate on this pair (never o = d)
        const Index d = w.link_destination(l);
        const auto c = p.control_at(o, g, d);
        switch (p.control_kind[c]) {
          case ControlKind::none: break;
          case ControlKind::ban: cap = 0.0; break;
          case ControlKind::quota: {
            const double total = trade_capacity_[t];
            cap = total > 0.0 ? p.control_quantity[c] * w.firm_capacity[f] / total : 0.0;
            break;
          }
          case ControlKind::license: {
            // Shipments in `period` need a licence applied for `delay` months earlier;
            // each (firm, destination, month) application is approved with probability
            // `approval`, a draw keyed by exactly that.
            const int applied = period - p.control_delay[c];
            const bool approved =
                applied >= p.control_since[c] &&
                uniform01({scenario_.run.seed, static_cast<std::uint64_t>(f), applied,
                           Purpose::license, static_cast<std::uint32_t>(d)}) < p.control_approval[c];
            cap = approved ? kInf : 0.0;
            denied = !approved;
            break;
          }
        }
        // The destination's sourcing mandate against its adversary bloc.
        const auto rg = w.region_good(d, g);
        if (adversary_of(w.region_bloc[d]) == origin_bloc) {
          if (p.mandate_ban[rg]) {
            cap = 0.0;
          } else if (p.mandate_share[rg] > 0.0) {
            const double s = p.mandate_share[rg];
            const Index m = w.link_market[l];
            const double room = s >= 1.0 ? 0.0 : (1.0 - s) / s * allied_supply_[m];
            const double share = adversary_capacity_[m] > 0.0 ? w.firm_capacity[f] / adversary_capacity_[m] : 0.0;
            cap = std::min(cap, room * share);
          }
        }
      }
      w.link_cap[l] = cap;
      w.link_denied[l] = denied ? 1 : 0;
    }
  }

  // Underpricing directives (volumes from share_capacities): never above the link's cap.
  if (!directed_q_.empty())
    for (std::size_t l = 0; l < directed_q_.size(); ++l)
      if (!std::isnan(directed_q_[l])) directed_q_[l] = std::min(w.link_cap[l], directed_q_[l]);

  // Price floors: which contract covers each firm, and its share of the covered volume.
  // Without a floor in force now or last period the three arrays hold their defaults already
  // (kNone, 0, 0): nothing to write, and the firm loops need not read them (floors_active_).
  bool any_floor = false;
  for (const auto& fl : p.floors) any_floor = any_floor || fl.active_at(period);
  const bool floors_current = !any_floor && !floors_active_;
  floors_active_ = any_floor;
  if (!floors_current) {
    std::fill(floor_of_.begin() + firm_lo_, floor_of_.begin() + firm_hi_, kNone);
    std::fill(floor_min_output_.begin() + firm_lo_, floor_min_output_.begin() + firm_hi_, 0.0);
    std::fill(floor_share_.begin() + firm_lo_, floor_share_.begin() + firm_hi_, 0.0);
  }
  for (std::size_t c = 0; c < p.floors.size(); ++c) {
    const auto& fl = p.floors[c];
    if (!fl.active_at(period)) continue;
    auto covered = [&](Index f) {
      if (w.firm_good[f] != fl.good || w.firm_region[f] != fl.government) return false;
      if (fl.firms.empty()) return true;
      return std::find(fl.firms.begin(), fl.firms.end(), f) != fl.firms.end();
    };
    // Covered capacity summed in firm id order over all ranks.
    std::vector<double> mine;
    for (Index f = firm_lo_; f < firm_hi_; ++f)
      if (w.firm_status[f] == FirmStatus::active && covered(f)) mine.push_back(w.firm_capacity[f]);
    double capacity = 0.0;
    for (double x : exchange_.allgather_concat(mine)) capacity += x;
    for (Index f = firm_lo_; f < firm_hi_; ++f) {
      if (!covered(f) || floor_of_[f] != kNone) continue;
      floor_of_[f] = static_cast<Index>(c);
      if (w.firm_status[f] == FirmStatus::active && capacity > 0.0) {
        floor_share_[f] = fl.volume * w.firm_capacity[f] / capacity;
        floor_min_output_[f] = std::min(floor_share_[f], w.firm_capacity[f]);
      }
    }
  }
}

// What quotas, sourcing mandates and underpricing directives need from other firms: active
// capacity per trade pair and of adversary sellers per market, and the directed volumes.
// Summed on the market side in slot (firm id) order, then replicated; skipped when no such
// instrument is in force.
void Simulation::share_capacities() {
  auto& w = world_;
  const auto& p = policy_;
  const Index R = w.regions;
  const bool directives = !p.directives.empty();
  // Directive volumes per link exist (NaN: none) from the first directive on; before, no
  // array (a million-firm world saves 60 MB a rank).
  if (directives && directed_q_.empty()) directed_q_.assign(w.link_q.size(), kNaN);
  std::fill(directed_q_.begin(), directed_q_.end(), kNaN);
  const bool quota = std::find(p.control_kind.begin(), p.control_kind.end(), ControlKind::quota) != p.control_kind.end();
  const bool mandate = std::any_of(p.mandate_share.begin(), p.mandate_share.end(), [](double x) { return x > 0.0; });
  if (!quota && !mandate && !directives) return;
  if (link_scratch_.empty()) {
    link_scratch_.assign(w.link_q.size(), 0.0);
    slot_capacity_.assign(offer_q_.size(), 0.0);
    slot_last_q_.assign(offer_q_.size(), 0.0);
    slot_directed_.assign(offer_q_.size(), kNaN);
  }
  // Per link: the firm's capacity if active, −1 if not.
  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    const double c = w.firm_status[f] == FirmStatus::active ? w.firm_capacity[f] : -1.0;
    std::fill(link_scratch_.begin() + w.first_link(f), link_scratch_.begin() + w.end_link(f), c);
  }
  const std::span<const double> from[] = {link_scratch_, w.link_q};
  const std::span<double> to[] = {slot_capacity_, slot_last_q_};
  exchange_.to_markets(offer_plan_, from, to);
  std::fill(trade_capacity_.begin(), trade_capacity_.end(), 0.0);
  std::fill(adversary_capacity_.begin(), adversary_capacity_.end(), 0.0);
  for (Index m : my_markets_) {
    const int adversary = adversary_of(w.region_bloc[w.market_region[m]]);
    for (int j = offer_first(m); j < offer_end(m); ++j) {
      if (slot_capacity_[j] < 0.0) continue;
      const Index t = offer_trade_[j];
      trade_capacity_[t] += slot_capacity_[j];
      if (adversary == static_cast<int>(w.region_bloc[w.trade_origin[t]]))  // the firm's region
        adversary_capacity_[m] += slot_capacity_[j];
    }
  }
  exchange_.allgather_owned(trade_capacity_, trade_rank_);
  exchange_.allgather_owned(adversary_capacity_, decomposition_.market_rank);
  if (!directives) return;
  // Underpricing directives: the directed SOEs jointly ship what brings the price to the
  // limit price, given everyone else's last shipments, shared by capacity.
  std::fill(slot_directed_.begin(), slot_directed_.end(), kNaN);
  const int me = exchange_.rank();
  for (const auto& dir : p.directives) {
    const Index m = w.market_of[static_cast<std::size_t>(dir.good) * R + dir.market_region];
    if (m == kNone || decomposition_.market_rank[m] != me) continue;
    double limit = dir.automatic ? entry_limit_price_[m] : dir.limit_price;
    if (!std::isfinite(limit)) continue;  // `auto` with no would-be entrant: nothing to deter
    limit *= (1.0 - dir.margin);
    // The directing government's SOEs; a western government (no SOEs) directs its own firms,
    // whose losses it covers (settle).
    const bool any_kind = w.region_bloc[dir.government] == Bloc::west;
    const int shift = w.offer_begin[m] - offer_first(m);  // local slot → global
    auto directed = [&](int j) {
      const Index f = w.link_firm(w.offer_link[j + shift]);
      return (any_kind || w.firm_kind[f] == FirmKind::soe) && w.firm_region[f] == dir.government &&
             slot_capacity_[j] >= 0.0;
    };
    double directed_last = 0.0, directed_capacity = 0.0;
    for (int j = offer_first(m); j < offer_end(m); ++j)
      if (directed(j)) {
        directed_last += slot_last_q_[j];
        directed_capacity += slot_capacity_[j];
      }
    if (directed_capacity <= 0.0 || w.market_b_hat[m] <= 0.0) continue;
    const double q_limit = std::max(0.0, (w.market_a_hat[m] - limit) / w.market_b_hat[m]);
    const double need = q_limit - (w.market_supply[m] - directed_last);
    // Already at or below the limit price without them: the directed firms best-respond (a
    // directive of 0 would take them out of the market).
    if (!(need > 0.0)) continue;
    for (int j = offer_first(m); j < offer_end(m); ++j)
      if (directed(j)) slot_directed_[j] = need * slot_capacity_[j] / directed_capacity;
  }
  exchange_.to_firms(offer_plan_, slot_directed_, directed_q_);
}

void Simulation::tabulate_net_prices() {
  const auto& price = world_.market_price;
  for (const Index t : firm_trades_)
    trade_net_[t] = price[trade_market_[t]] / trade_terms_[t].multiplier - trade_terms_[t].add;
}

// ---- Phase 2: offers -------------------------------------------------------------------

void Simulation::plan_offers() {
  auto& w = world_;
  const auto& p = policy_;
  const double kappa = scenario_.behaviour.adjustment;
  const double markup = scenario_.behaviour.restock_markup;
  const bool split = !w.slot_stock_bid.empty();  // restocking bids at their own price
  const double* directed_q = directed_q_.empty() ? nullptr : directed_q_.data();  // none yet: no directive
  auto directed = [&](int l) { return directed_q != nullptr && !std::isnan(directed_q[l]); };
  // Without an export control or mandate this month every link is uncapped and not denied
  // (tabulate_border_terms left them so): two per-link arrays fewer to stream.
  const bool plain = !any_special_;
  // Active firms go in batches of kBatchLanes: each one's link terms, then their best responses
  // side by side (best_response_batch; a firm it does not solve gets best_response), then each
  // one's adjustment, shipments and bids. Firms touch only their own links, slots and rows, so
  // the order is immaterial: a batch takes firms with the same number of links (one batch
  // filling per count), so that no lane pads to a longer neighbour's width (5–10 links: the
  // widest of four averages 9.2, the mean is 7.5). A firm with no links or more than the batch
  // takes is solved at once, alone. A lane's terms go into its batch's FirmBatch; a firm the
  // batch does not solve (or alone) has its terms, targets and adjusted shipments in terms_,
  // target_ and adjusted_ from k·max_links_ while its batch is solved.
  struct Firm {
    Index f;
    int l0, nl, s0, s1;
    double cost, subsidy, theta, directed_raw;
    double value;  // the best net price over the links (input bids), if formed with the terms; else NaN
  };
  constexpr int kGroups = static_cast<int>(FirmBatch::kMaxLinks) + 1;  // 0: alone; n: n links
  Firm batches[kGroups][kBatchLanes];
  int lanes_of[kGroups] = {};
  ShipmentPlan plan[kBatchLanes];  // (here, not per batch: its initialisation showed in the profile)
  const std::size_t stride = max_links_;

  // A batch's caps are +∞ in plain months without a store per link: filled here in the first
  // plain month and after a month that wrote links' caps (the solver's padding writes +∞ too).
  if (plain && batch_caps_written_)
    for (FirmBatch& fb : firm_batches_) std::fill(&fb.cap[0][0], &fb.cap[0][0] + FirmBatch::kMaxLinks * kBatchLanes, kInf);
  batch_caps_written_ = !plain;

  auto terms_of = [&](int k, int nl) { return std::span<const LinkTerms>(terms_.data() + k * stride, nl); };

  auto group_of = [](int nl) { return nl > static_cast<int>(FirmBatch::kMaxLinks) ? 0 : nl; };
  auto prepare = [&](Index f, int l0, int nl, int s0, int s1) {
    const int group = group_of(nl);
    int& lanes = lanes_of[group];
    Firm& b = batches[group][lanes];
    b = Firm{f, l0, nl, s0, s1, 0.0, 0.0, 0.0, 0.0, kNaN};
    const Index o = w.firm_region[f], g = w.firm_good[f];
    // Full marginal cost: own cost plus inputs at their expected replacement price (the
    // input market's adaptive forecast): a cut-off raises it gradually, so a plant runs
    // on its buffer, and it falls back once supply returns (no sunk-cost trap).
    b.cost = w.firm_cost[f] + input_cost(w, f);
    b.subsidy = p.production_subsidy[w.region_good(o, g)];
    b.theta = soe_theta(w, p, f);
    w.firm_unit_cost[f] = b.cost;
    // Up to FirmBatch::kMaxLinks links: into the batch's lane, by field; more: alone.
    FirmBatch& fb = firm_batches_[group];
    const int k = lanes;
    const bool wide = group == 0;
    LinkTerms* wide_terms = terms_.data() + k * stride;
    // The firm's own flags, once (byte loads may alias the stores below: else reloaded per link).
    const bool soe = w.firm_kind[f] == FirmKind::soe, price_taking = w.firm_price_taking[f] != 0;
    const double welfare_weight = soe ? w.firm_welfare_weight[f] : 0.0;
    if (!wide) {
      // Into the batch's lane without a test per link (raw pointers: the stores into the batch
      // cannot alias them); caps and directives, when a month has any, in loops of their own.
      // A link's market is its trade pair's (trade_market_, a table the link's trade pair is
      // read from anyway): one per-link stream fewer than reading link_market.
      const Index* trade = w.link_trade.data() + l0;
      const Index* trade_market = trade_market_.data();
      const double* q = w.link_q.data() + l0;
      const double* plan_prev = w.link_plan.data() + l0;
      const double* a_hat = w.market_a_hat.data();
      const double* b_hat = w.market_b_hat.data();
      const double* supply = w.market_supply.data();
      const TradeTerms* terms = trade_terms_.data();
      const Index* region = w.market_region.data();
      const double own = b.cost - b.subsidy - b.theta;
      // (1 or 2 − w_home)·b̂: an SOE's welfare weight only in its home market; a price-taking
      // (fringe) firm sets price = marginal cost: slope b̂, as λ = 1 does.
      const double away = price_taking ? 1.0 : 2.0 - 0.0, home = price_taking ? 1.0 : 2.0 - welfare_weight;
      // A firm with inputs in a plain month also takes its best net price here, as `finish`
      // would (the same maxima in link order, every link uncapped): beside the terms' loads
      // it waits on no load of its own (a loop of its own was a chain of dependent maxima).
      const double* net = trade_net_.data();
      auto fill = [&](auto with_value) {
        double value = 0.0;
        for (int i = 0; i < nl; ++i) {
          const Index t = trade[i], m = trade_market[t];
          const double bh = b_hat[m];
          const TradeTerms& border = terms[t];
          fb.intercept[i][k] = a_hat[m] - bh * (supply[m] - q[i]);
          fb.multiplier[i][k] = border.multiplier;
          fb.base_cost[i][k] = own + border.add;
          fb.slope[i][k] = (soe && region[m] == o ? home : away) * bh;
          fb.previous[i][k] = plan_prev[i];
          if constexpr (with_value) value = std::max(value, net[t]);
        }
        if constexpr (with_value) b.value = value;
      };
      if (plain && s1 > s0) fill(std::true_type{});
      else fill(std::false_type{});
      // Caps: +∞ already in a plain month (below), else this firm's.
      if (!plain)
        for (int i = 0; i < nl; ++i) fb.cap[i][k] = w.link_cap[l0 + i];
    } else {
      for (int i = 0; i < nl; ++i) {
        const int l = l0 + i;
        const Index m = w.link_market[l];
        const double bh = w.market_b_hat[m];
        const TradeTerms& border = trade_terms_[w.link_trade[l]];
        const double w_home = (soe && w.market_region[m] == o) ? welfare_weight : 0.0;
        LinkTerms& t = wide_terms[i];
        t.intercept = w.market_a_hat[m] - bh * (w.market_supply[m] - w.link_q[l]);
        t.multiplier = border.multiplier;
        t.base_cost = b.cost - b.subsidy - b.theta + border.add;
        t.slope = (price_taking ? 1.0 : 2.0 - w_home) * bh;
        t.cap = plain ? kInf : w.link_cap[l];
      }
    }
    if (directed_q != nullptr)
      for (int l = l0; l < l0 + nl; ++l)
        if (directed(l)) b.directed_raw += directed_q[l];
    fb.links[k] = wide ? 0 : static_cast<std::size_t>(nl);  // a wide firm's lane: empty
    fb.cost_slope[k] = w.firm_cost_slope[f];
    fb.capacity[k] = w.firm_capacity[f];
    fb.min_output[k] = floors_active_ ? floor_min_output_[f] : 0.0;
    ++lanes;
    return group;
  };

  // Lane k's firm from its plan and its adjusted shipments (adjusted[i·step], Σ = planned):
  // directives, what inputs allow, the shipments and the input bids.
  auto finish = [&](const Firm& b, int k, const ShipmentPlan& plan, const double* adjusted, std::size_t step,
                    double planned) {
    const Index f = b.f;
    const int l0 = b.l0, nl = b.nl, s0 = b.s0, s1 = b.s1;
    w.firm_shadow[f] = plan.shadow;
    if (b.directed_raw > 0.0) {
      // Directed links ship at least the directive volume (scaled down if it exceeds
      // capacity); the other links give way where capacity binds.
      const double capacity = w.firm_capacity[f];
      const double directed_scale = b.directed_raw > capacity ? capacity / b.directed_raw : 1.0;
      double* a = adjusted_.data() + k * stride;
      for (int i = 0; i < nl; ++i) a[i] = adjusted[i * step];
      double on_directed = 0.0, on_free = 0.0;
      for (int i = 0; i < nl; ++i) {
        const int l = l0 + i;
        if (directed(l)) {
          a[i] = std::max(a[i], directed_q[l] * directed_scale);
          on_directed += a[i];
        } else {
          on_free += a[i];
        }
      }
      if (on_directed + on_free > capacity) {
        const double keep_directed = on_directed > capacity ? capacity / on_directed : 1.0;
        const double keep_free = on_free > 0.0 ? std::max(0.0, capacity - on_directed * keep_directed) / on_free : 0.0;
        for (int i = 0; i < nl; ++i) a[i] *= directed(l0 + i) ? keep_directed : keep_free;
      }
      planned = 0.0;
      for (int i = 0; i < nl; ++i) planned += a[i];
      adjusted = a;
      step = 1;
    }
    // Inputs on hand limit what can actually be made (the buffer runs down first). A stock
    // that plainly covers the plan is skipped: its quotient could not lower min(planned,
    // feasible), so the result is the same bit for bit, one division fewer per input in most
    // months.
    double feasible = kInf;
    for (int s = s0; s < s1; ++s)
      if (!stock_covers(w.slot_inventory[s], w.slot_units[s], planned))
        feasible = std::min(feasible, w.slot_inventory[s] / w.slot_units[s]);
    const double actual = std::min(planned, feasible);
    const double scale = actual < planned ? actual / planned : 1.0;  // (planned > 0 then)
    for (int i = 0; i < nl; ++i) {
      const double x = adjusted[i * step];
      // A refused licence stops this month's shipment, not the firm's intention.
      if (plain || !w.link_denied[l0 + i]) w.link_plan[l0 + i] = x;
      w.link_q[l0 + i] = actual < planned ? x * scale : x;
    }
    w.firm_planned[f] = planned;
    w.firm_output[f] = actual;

    // Input bids: restore the stock to next month's use plus the cover, at a reservation
    // price that leaves the best destination's margin at zero.
    if (s1 > s0) {
      double value = b.value;
      if (std::isnan(value)) {  // (not formed with the terms: a wide firm, or not a plain month)
        value = 0.0;
        for (int i = 0; i < nl; ++i) {
          const int l = l0 + i;
          if (!plain && w.link_cap[l] <= 0.0) continue;
          value = std::max(value, trade_net_[w.link_trade[l]]);
        }
      }
      value += b.subsidy + b.theta;
      for (int s = s0; s < s1; ++s) {
        const double cover = w.good_cover[w.slot_good[s]];  // months of this input kept
        w.slot_inventory[s] -= w.slot_units[s] * actual;
        if (w.slot_inventory[s] < 0.0) w.slot_inventory[s] = 0.0;  // rounding only
        const double expected = input_price(w, s);
        const double reservation =
            std::max(0.0, (value - (b.cost - w.slot_units[s] * expected)) / w.slot_units[s]);
        // With split bids the part that rebuilds the buffer bids near the expected price.
        const auto bid = input_bid(w.slot_units[s], planned, w.slot_inventory[s], cover, reservation,
                                   expected, markup);
        w.slot_bid[s] = bid.quantity;
        w.slot_reservation[s] = reservation;
        if (split) {
          w.slot_stock_bid[s] = bid.stock_quantity;
          w.slot_stock_reservation[s] = bid.stock_reservation;
        }
      }
    }
  };

  auto solve = [&](int group) {
    FirmBatch& fb = firm_batches_[group];
    const Firm* batch = batches[group];
    int& lanes = lanes_of[group];
    for (int k = lanes; k < kBatchLanes; ++k) fb.links[k] = 0;  // empty lanes
    const unsigned solved = lanes > 1 ? best_response_batch(fb, plan) : 0u;
    adjust_batch(fb, solved, kappa);
    for (int k = 0; k < lanes; ++k) {
      if (solved >> k & 1u) {
        finish(batch[k], k, plan[k], &fb.adjusted[0][k], kBatchLanes, fb.planned[k]);
        continue;
      }
      // The lane's terms as LinkTerms (a wide firm's are there already), then one firm alone.
      const Firm& b = batch[k];
      LinkTerms* terms = terms_.data() + k * stride;
      if (fb.links[k] != 0)
        for (std::size_t i = 0; i < fb.links[k]; ++i) terms[i] = fb.link(k, i);
      const std::span<double> target(target_.data() + k * stride, b.nl), adjusted(adjusted_.data() + k * stride, b.nl);
      plan[k] = best_response(terms_of(k, b.nl), fb.cost_slope[k], fb.capacity[k], fb.min_output[k], target, scratch_);
      // Partial adjustment starts from last month's plan: a shortage that forced actual
      // shipments to 0 does not reset what the firm intends to make.
      const std::span<const double> previous(w.link_plan.data() + b.l0, b.nl), caps(w.link_cap.data() + b.l0, b.nl);
      const double planned = adjust_shipments(previous, target, caps, kappa, fb.capacity[k], adjusted);
      finish(b, k, plan[k], adjusted.data(), 1, planned);
    }
    lanes = 0;
  };

  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    const int l0 = w.first_link(f), nl = w.end_link(f) - l0;
    const int s0 = w.slot_begin[f], s1 = w.slot_begin[f + 1];
    if (w.firm_status[f] != FirmStatus::active) {
      std::fill(w.link_q.begin() + l0, w.link_q.begin() + l0 + nl, 0.0);
      std::fill(w.link_plan.begin() + l0, w.link_plan.begin() + l0 + nl, 0.0);
      for (int s = s0; s < s1; ++s) {
        w.slot_bid[s] = 0.0;
        if (split) w.slot_stock_bid[s] = 0.0;  // its restocking part too (else a stale bid buys)
      }
      w.firm_planned[f] = w.firm_output[f] = w.firm_shadow[f] = 0.0;
      continue;
    }
    const int group = prepare(f, l0, nl, s0, s1);
    if (group == 0 || lanes_of[group] == kBatchLanes) solve(group);
  }
  for (int group = 1; group < kGroups; ++group)
    if (lanes_of[group] > 0) solve(group);
}

// ---- Phase 4: clearing -----------------------------------------------------------------

namespace {
// f(j) for every set bit j of `bits` in [begin, end), in ascending order.
template <class F>
void for_each_bit(const std::uint64_t* bits, int begin, int end, F&& f) {
  if (begin >= end) return;
  const int w0 = begin >> 6, w1 = (end - 1) >> 6;
  for (int w = w0; w <= w1; ++w) {
    std::uint64_t word = bits[w];
    if (w == w0) word &= ~std::uint64_t{0} << (begin & 63);
    if (w == w1 && (end & 63) != 0) word &= (std::uint64_t{1} << (end & 63)) - 1;
    for (; word != 0; word &= word - 1) f(64 * w + std::countr_zero(word));
  }
}
}  // namespace

// Each owned market's supply: its offers added one by one in slot order, skipping those that
// hold +0 (the exchange's memo marks the others: RouteMemo::nonzero). A sum that starts at +0
// is never −0 (x + (−x) rounds to +0), so adding +0 would change no bit: the same sums as
// over every slot, without reading the 86% of the million world's offers that are 0.
void Simulation::sum_offers() {
  const std::uint64_t* nonzero = offer_memo_.nonzero().data();
  const double* q = offer_q_.data();
  offered_.assign(my_markets_.size(), 0.0);
  for (std::size_t k = 0; k < my_markets_.size(); ++k) {
    const Index m = my_markets_[k];
    double s = 0.0;
    for_each_bit(nonzero, offer_first(m), offer_end(m), [&](int j) { s += q[j]; });
    offered_[k] = s;
  }
}

void Simulation::clear_markets() {
  auto& w = world_;
  const double window = scenario_.behaviour.demand_window;
  auto& mm = market_metrics_;
  sum_offers();
  for (std::size_t mk = 0; mk < my_markets_.size(); ++mk) {
    const Index m = my_markets_[mk];
    const int b0 = w.bid_begin[m], slots_here = w.bid_begin[m + 1] - b0;
    const double supply = offered_[mk];
    // Bid entries: one per slot, or with split bids two — entry 2k this month's use at r,
    // entry 2k + 1 the restocking part at its own (lower) price.
    const bool split = !bid_stock_q_.empty();
    const int nb = split ? 2 * slots_here : slots_here;
    const double* eq = bid_q_.data() + b0;
    const double* er = bid_r_.data() + b0;
    if (split) {
      for (int k = 0; k < slots_here; ++k) {
        const double stock = bid_stock_q_[b0 + k];
        entry_q_[2 * k] = bid_q_[b0 + k] - stock;
        entry_r_[2 * k] = bid_r_[b0 + k];
        entry_q_[2 * k + 1] = stock;
        entry_r_[2 * k + 1] = bid_stock_r_[b0 + k];
      }
      eq = entry_q_.data();
      er = entry_r_.data();
    }
    // Bids by reservation price, highest first; ties keep entry (firm) order (stable sort).
    // Sorted as (price, entry) pairs, ties by entry: the same permutation without the
    // indirection and the merge buffer; NaN prices (no strict weak order) keep the stable sort.
    //
    // (price, entry) pairs are a strict total order, so the sorted sequence is unique and any
    // sorting method gives it. Buyers' reservation prices move little from month to month:
    // starting from last month's order (kept per market; it only saves time, so checkpoints
    // need not hold it), an insertion sort usually has few moves to make; past a budget of
    // moves the rest is left to std::sort.
    keyed_.resize(nb);
    Index* last_order = bid_order_.data() + 2 * static_cast<std::size_t>(b0);
    const bool reuse = bid_order_n_[m] == nb;
    bool nan = false;
    for (int k = 0; k < nb; ++k) {
      const Index e = reuse ? last_order[k] : k;
      keyed_[k] = {er[e], e};
      nan = nan || std::isnan(er[e]);
    }
    if (nan) {
      for (int k = 0; k < nb; ++k) order_[k] = k;
      std::stable_sort(order_.begin(), order_.begin() + nb,
                       [&](Index x, Index y) { return er[x] > er[y]; });
      bid_order_n_[m] = -1;
    } else {
      auto before = [](const std::pair<double, Index>& x, const std::pair<double, Index>& y) {
        return x.first > y.first || (x.first == y.first && x.second < y.second);
      };
      std::size_t budget = 8 * static_cast<std::size_t>(nb) + 64;
      int k = 1;
      for (; k < nb && budget > 0; ++k) {
        const auto x = keyed_[k];
        int j = k;
        for (; j > 0 && before(x, keyed_[j - 1]) && budget > 0; --j, --budget) keyed_[j] = keyed_[j - 1];
        keyed_[j] = x;
      }
      // Budget left: every insertion finished, so the entries are in order.
      if (budget == 0) std::sort(keyed_.begin(), keyed_.end(), before);
      for (int i = 0; i < nb; ++i) order_[i] = last_order[i] = keyed_[i].second;
      bid_order_n_[m] = nb;
    }
    for (int k = 0; k < nb; ++k) {
      sorted_q_[k] = eq[order_[k]];
      sorted_r_[k] = er[order_[k]];
    }
    const std::span<const double> q(sorted_q_.data(), nb), r(sorted_r_.data(), nb);
    const double spread = scenario_.behaviour.bid_spread;
    // The month's price rise is bounded relative to last month's traded price.
    const double rise = scenario_.behaviour.max_price_rise;
    const double cap = std::isfinite(rise) && traded_price_[m] > 0.0 ? traded_price_[m] * (1.0 + rise) : kInf;
    const auto c = clear_market_capped(supply, w.market_exogenous[m], q, r,
                                       std::span(served_.data(), nb), spread, cap);
    double bid_total = 0.0;
    if (split) {
      for (int k = 0; k < slots_here; ++k) bid_served_[b0 + k] = 0.0;
      for (int k = 0; k < nb; ++k) {
        bid_served_[b0 + order_[k] / 2] += served_[k];
        bid_total += sorted_q_[k];
      }
    } else {
      for (int k = 0; k < nb; ++k) {
        bid_served_[b0 + order_[k]] = served_[k];
        bid_total += sorted_q_[k];
      }
    }
    const double sold = supply - c.unsold;
    sold_ratio_[m] = sold_fraction(supply, sold, c.unsold);

    const LocalDemand prev{w.market_a_hat[m], w.market_b_hat[m]};
    const double ref = std::isnan(w.market_forecast[m]) ? c.price : w.market_forecast[m];
    const auto fit = fit_local_demand(c, sold, w.market_exogenous[m], q, r, window, ref, prev, spread);
    w.market_a_hat[m] = fit.a_hat;
    w.market_b_hat[m] = fit.b_hat;
    w.market_price[m] = c.price;
    w.market_sold[m] = sold;
    if (sold > 0.0) traded_price_[m] = c.price;
    w.market_supply[m] = supply;
    const double lambda = scenario_.behaviour.price_expectation;
    // Expectations learn only from trades: with nothing sold the "price" is just the
    // highest unserved bid, and a cut-off would otherwise feed buyers' own bids back to
    // them as an expected input cost.
    if (sold > 0.0)
      w.market_forecast[m] = std::isnan(w.market_forecast[m])
                                 ? c.price
                                 : w.market_forecast[m] + lambda * (c.price - w.market_forecast[m]);
    mm.supply[m] = supply;
    mm.sold[m] = sold;
    mm.unsold[m] = c.unsold;
    mm.exogenous[m] = c.exogenous;
    mm.demand[m] = c.exogenous + bid_total;
    mm.shortage[m] = std::max(0.0, bid_total - c.bids_served);
    const auto& ex = w.market_exogenous[m];
    if (ex.isoelastic()) {  // ∫ above the price, for the share of the schedule's demand it got
      const double wanted = ex.quantity_at(c.price);
      mm.consumer_surplus[m] = wanted > 0.0 ? ex.surplus_at(c.price) * std::min(1.0, c.exogenous / wanted) : 0.0;
    } else {
      mm.consumer_surplus[m] = ex.present ? 0.5 * std::max(0.0, ex.a - c.price) * c.exogenous : 0.0;
    }
  }
}

// ---- Phase 5: settlement ---------------------------------------------------------------

// Market side (each owner, its markets): what buyers paid split into sellers' receipts,
// tariffs and transport; trade-pair flows; concentration and bloc shares. Summed in slot
// (firm id) order, so the same on any number of ranks.
void Simulation::settle_markets() {
  auto& w = world_;
  auto& mm = market_metrics_;
  auto& tm = trade_metrics_;
  const Index R = w.regions;
  // The owned pairs' flows are +0 but for the pairs stored last month (listed): those are
  // zeroed, and this month's stored pairs listed. The other ranks' pairs hold what
  // publish_markets last received (its gather sends only the listed pairs).
  for (const Index t : trade_listed_) {
    tm.quantity[t] = 0.0;
    tm.value[t] = 0.0;
    trade_is_listed_[t] = 0;
  }
  trade_listed_.clear();
  std::vector<double> by_origin(R);
  for (Index m : my_markets_) {
    const Index d = w.market_region[m], g = w.market_good[m];
    const double price = w.market_price[m];
    double tariffs = 0.0, receipts = 0.0, transport_paid = 0.0;
    const double sold_m = mm.sold[m];
    std::fill(by_origin.begin(), by_origin.end(), 0.0);
    double hhi_f = 0.0;
    std::array<double, kBlocCount> bloc{};
    // A trade pair's terms, kept while consecutive offers share the pair: a market's sellers
    // are in firm-id order, and where ids run region by region (synthetic worlds) dozens of
    // them in a row come from one origin. The same values as looked up per offer. So are the
    // pair's running sums (its flows, its origin's and its origin bloc's sales): loaded when
    // the pair changes and stored back at the next change, they take the same additions in
    // the same order, in registers instead of through memory (an add waiting on the last
    // one's store took more time than the rest of the loop).
    // A pair's terms at this market's price: what the offers' loop uses and what decides
    // whether offers that sold nothing can be skipped (below).
    struct PairTerms {
      double transport = 0.0, add = 0.0, specific = 0.0, mult = 1.0, gross = 0.0, net = 0.0;
    };
    auto terms_of_pair = [&](Index tp) {
      PairTerms x;
      x.transport = w.transport[(static_cast<std::size_t>(g) * R + w.trade_origin[tp]) * R + d];
      x.add = trade_terms_[tp].add;
      x.specific = x.add - x.transport;
      x.mult = trade_terms_[tp].multiplier;
      x.gross = price / x.mult;  // the value at the border per unit
      x.net = x.gross - x.add;
      return x;
    };
    Index t = kNone, o = 0;
    int b = 0;
    double transport = 0.0, add = 0.0, specific = 0.0, mult = 1.0, gross = 0.0, net = 0.0;
    double flow_q = 0.0, flow_v = 0.0, from_o = 0.0, from_b = 0.0;
    bool plain = false;  // price and the pair's multiplier finite, the multiplier not 0
    auto store = [&] {
      if (t == kNone) return;
      tm.quantity[t] = flow_q;
      tm.value[t] = flow_v;
      if (trade_is_listed_[t] == 0) {
        trade_is_listed_[t] = 1;
        trade_listed_.push_back(t);
      }
      by_origin[o] = from_o;
      bloc[b] = from_b;
    };
    const double ratio = sold_ratio_[m];
    const bool shares = sold_m > 0.0;
    auto visit = [&](int j) {
      if (const Index tj = offer_trade_[j]; tj != t) {
        store();
        t = tj;
        o = w.trade_origin[t];
        b = static_cast<int>(w.region_bloc[o]);
        const PairTerms x = terms_of_pair(t);
        transport = x.transport, add = x.add, specific = x.specific, mult = x.mult, gross = x.gross, net = x.net;
        plain = std::isfinite(price) && std::isfinite(mult) && mult != 0.0;
        flow_q = tm.quantity[t];
        flow_v = tm.value[t];
        from_o = by_origin[o];
        from_b = bloc[b];
      }
      const double sold = offer_q_[j] * ratio;  // × 1.0 keeps every bit
      // Buyers pay price·sold = seller's receipts + tariff (ad valorem on the value at
      // the border, price/(1+t), plus specific) + transport.
      tariffs += sold * (price - gross + specific);
      receipts += sold * net;
      transport_paid += sold * transport;
      flow_q += sold;
      from_o += sold;
      from_b += sold;
      // The offer's value at the border and its share of the market (percent): two divisions,
      // one DIVPD (each lane rounds as the scalar division does). An offer that sold nothing
      // adds ±0 to each (finite price and multiplier, a positive share's denominator), which
      // changes no bit of sums that are never −0, so the divisions are skipped.
      if (sold != 0.0 || !plain) {
#if defined(__SSE2__)
        const __m128d quotient = _mm_div_pd(_mm_set_pd(100.0 * sold, sold * price), _mm_set_pd(sold_m, mult));
        const double value = _mm_cvtsd_f64(quotient), share = _mm_cvtsd_f64(_mm_unpackhi_pd(quotient, quotient));
#else
        const double value = sold * price / mult, share = 100.0 * sold / sold_m;
#endif
        flow_v += value;
        if (shares) hhi_f += share * share;
      }
    };
    // Most offers of a large world ship nothing (86% of the million world's: exports priced
    // out). Where every pair into the market has finite terms at this price (and the sold
    // fraction is finite), such an offer adds ±0 to every sum above — no bit changes, as for
    // the divisions — so only the offers that shipped are visited, as the exchange marked them.
    // Otherwise (0·∞ would be NaN) every offer is visited.
    bool skip_zeros = std::isfinite(ratio) && std::isfinite(price);
    for (int k = market_trade_begin_[m]; k < market_trade_begin_[m + 1] && skip_zeros; ++k) {
      const PairTerms x = terms_of_pair(market_trades_[k]);
      skip_zeros = std::isfinite(x.mult) && x.mult != 0.0 && std::isfinite(x.transport) &&
                   std::isfinite(price - x.gross + x.specific) && std::isfinite(x.net);
    }
    const int j0 = offer_first(m), j1 = offer_end(m);
    if (skip_zeros) {
      // The offers that hold anything but +0, as the exchange marked them (−0 and NaN
      // included: a −0 adds ±0 too; a NaN is visited).
      for_each_bit(offer_memo_.nonzero().data(), j0, j1, visit);
    } else {
      for (int j = j0; j < j1; ++j) visit(j);
    }
    store();
    mm.tariff_revenue[m] = tariffs;
    mm.receipts[m] = receipts;
    mm.transport_paid[m] = transport_paid;
    double hhi_o = 0.0;
    for (Index r = 0; r < R; ++r)
      if (sold_m > 0.0) hhi_o += (100.0 * by_origin[r] / sold_m) * (100.0 * by_origin[r] / sold_m);
    mm.hhi_firms[m] = sold_m > 0.0 ? hhi_f : kNaN;
    mm.hhi_origins[m] = sold_m > 0.0 ? hhi_o : kNaN;
    for (int k = 0; k < kBlocCount; ++k) mm.share[k][m] = sold_m > 0.0 ? bloc[k] / sold_m : kNaN;
    const int adv = adversary_of(w.region_bloc[d]);
    mm.dependency_share[m] = adv < 0 || sold_m <= 0.0 ? kNaN : bloc[adv] / sold_m;
    allied_supply_[m] = adv < 0 ? sold_m : sold_m - bloc[adv];
  }
}

// Owners' market state and metrics, and trade-pair flows, to every rank (one batched
// all-gather each): what firms, rules and the recorder read next.
void Simulation::publish_markets() {
  auto& w = world_;
  auto& mm = market_metrics_;
  auto& tm = trade_metrics_;
  const std::span<double> markets[] = {
      w.market_price, w.market_sold, w.market_supply, w.market_a_hat, w.market_b_hat, w.market_forecast,
      mm.supply, mm.sold, mm.unsold, mm.demand, mm.exogenous, mm.hhi_firms, mm.hhi_origins,
      mm.dependency_share, mm.consumer_surplus, mm.shortage, mm.tariff_revenue, mm.receipts,
      mm.transport_paid, mm.share[0], mm.share[1], mm.share[2], allied_supply_};
  exchange_.allgather_owned(markets, decomposition_.market_rank);
  const std::span<double> trades[] = {tm.quantity, tm.value};
  exchange_.allgather_owned(trades, trade_rank_, trade_listed_, trade_memo_);
}

// Firm side: net receipts per link, input deliveries into stock, profit; contributions to
// the government accounts go to the firm's (chunk, region) entry.
void Simulation::settle(int period) {
  auto& w = world_;
  const auto& p = policy_;
  const auto& mm = market_metrics_;
  const Index R = w.regions;
  // Each market sold the same fraction of every offer: computed from the published metrics
  // exactly as its owner did in clear_markets, so the firms' sales are bit for bit the
  // owner's without routing them back.
  for (Index m = 0; m < w.markets; ++m) sold_ratio_[m] = sold_fraction(mm.supply[m], mm.sold[m], mm.unsold[m]);
  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    const Index o = w.firm_region[f], g = w.firm_good[f];
    double* acc = account_partial(f);
    double revenue = 0.0, sold_total = 0.0;
    for (int l = w.first_link(f); l < w.end_link(f); ++l) {
      const Index t = w.link_trade[l], m = trade_market_[t];  // (one per-link stream fewer than link_market)
      const double net = trade_net_[t];
      const double sold = w.link_q[l] * sold_ratio_[m];  // × 1.0 keeps every bit (and link_sold())
      revenue += sold * net;
      sold_total += sold;
    }
    double input_outlay = 0.0;
    for (int s = w.slot_begin[f]; s < w.slot_begin[f + 1]; ++s) {
      const double delivered = w.slot_delivered[s];
      const double price = w.market_price[w.slot_market[s]];
      if (delivered > 0.0) {
        const double stock = w.slot_inventory[s] + delivered;
        w.slot_cost[s] = (w.slot_inventory[s] * w.slot_cost[s] + delivered * price) / stock;
        w.slot_inventory[s] = stock;
      }
      input_outlay += delivered * price;
    }
    const double q = w.firm_output[f];
    const double subsidy = q * p.production_subsidy[w.region_good(o, g)];
    double floor_payment = 0.0;
    if (floors_active_ && floor_of_[f] != kNone && sold_total > 0.0) {
      const auto& fl = p.floors[floor_of_[f]];
      const double average = revenue / sold_total;
      floor_payment = std::min(sold_total, floor_share_[f]) * std::max(0.0, fl.floor - average);
      acc[kFloor] += floor_payment;  // fl.government is the firm's region
    }
    acc[kProductionSubsidy] += subsidy;
    const double cost = w.firm_cost[f] * q + 0.5 * w.firm_cost_slope[f] * q * q +
                        (w.firm_status[f] == FirmStatus::active ? w.firm_fixed_cost[f] : 0.0) +
                        input_outlay;
    double profit = revenue + subsidy + floor_payment - cost;
    // A western firm under an underpricing directive is paid its loss by its government
    // (booked with SOE support): cut-rate pricing is the government's policy, not its own.
    if (w.firm_kind[f] == FirmKind::western && profit < 0.0 && !directed_q_.empty()) {
      bool directed = false;
      for (int l = w.first_link(f); l < w.end_link(f); ++l) directed |= directed_q_[l] > 0.0;
      if (directed) {
        acc[kSoeSupport] += -profit;
        profit = 0.0;
      }
    }
    w.firm_revenue[f] = revenue;
    w.firm_input_outlay[f] = input_outlay;
    w.firm_subsidy[f] = subsidy;
    w.firm_floor_payment[f] = floor_payment;
    w.firm_profit[f] = profit;
    w.firm_price[f] = sold_total > 0.0 ? revenue / sold_total : 0.0;
    // Soft budget: the owner government covers an SOE's losses.
    if (w.firm_kind[f] == FirmKind::soe && profit < 0.0) acc[kSoeSupport] += -profit;
    // Output lost to missing inputs, valued at the firm's home-market price of its good
    // (output made is valued the same way, for the pain share the rules watch).
    const double lost = w.firm_planned[f] - w.firm_output[f];
    const Index home = w.market_of[static_cast<std::size_t>(g) * R + o];
    const double value = home != kNone && w.market_price[home] > 0.0 ? w.market_price[home]
                                                                     : w.firm_price[f];
    if (lost > 0.0) acc[kOutputLost] += lost * value;
    acc[kOutputValue] += w.firm_output[f] * value;
  }
  (void)period;
}

// Per-region accounts: the (chunk, region) partials of every rank, concatenated in rank
// (= chunk) order and added entry by entry; tariffs and consumer surplus from the
// (replicated) market metrics in market order.
void Simulation::reduce_accounts() {
  const auto& w = world_;
  auto& acc = accounts_;
  const auto all = exchange_.allgather_concat(partial_);
  if (all.size() != entry_region_.size() * kAccountFields)
    throw InternalError("account partials: " + std::to_string(all.size()) + " values for " +
                        std::to_string(entry_region_.size()) + " entries");
  for (std::size_t e = 0; e < entry_region_.size(); ++e) {
    const Index r = entry_region_[e];
    const double* x = all.data() + e * kAccountFields;
    acc.production_subsidy_outlay[r] += x[kProductionSubsidy];
    acc.investment_subsidy_outlay[r] += x[kInvestmentSubsidy];
    acc.equity_outlay[r] += x[kEquity];
    acc.floor_outlay[r] += x[kFloor];
    acc.soe_support[r] += x[kSoeSupport];
    acc.output_lost[r] += x[kOutputLost];
    acc.output_value[r] += x[kOutputValue];
  }
  for (Index r = 0; r < w.regions; ++r)
    acc.subsidy_outlay[r] = acc.production_subsidy_outlay[r] + acc.investment_subsidy_outlay[r];
  for (Index m = 0; m < w.markets; ++m) {
    acc.tariff_revenue[w.market_region[m]] += market_metrics_.tariff_revenue[m];
    acc.consumer_surplus[w.market_region[m]] += market_metrics_.consumer_surplus[m];
  }
}

// ---- Phase 6: dynamics -----------------------------------------------------------------

void Simulation::dynamics(int period) {
  auto& w = world_;
  const auto& p = policy_;
  const auto& b = scenario_.behaviour;
  // Learning by doing and exit.
  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    if (w.firm_status[f] != FirmStatus::active) continue;
    const Index g = w.firm_good[f];
    w.firm_cumulative[f] += w.firm_output[f];
    // A firm whose learning reached its floor stays there (cumulative output only grows): its
    // multiplier is the floor, as learning_multiplier would give, without the pow.
    auto& settled = learning_settled_[f - firm_lo_];
    if (settled && w.firm_output[f] >= 0.0) {
      w.firm_cost[f] = w.firm_cost0[f] * w.good_learning_floor[g];
    } else {
      bool now = false;
      w.firm_cost[f] = w.firm_cost0[f] * learning_multiplier(w.firm_cumulative[f], w.firm_learning_scale[f],
                                                              w.good_progress[g], w.good_learning_floor[g], &now);
      settled = now ? 1 : 0;
    }
    w.firm_loss_months[f] = w.firm_profit[f] < 0.0 ? w.firm_loss_months[f] + 1 : 0;
    const bool contract = (floors_active_ && floor_of_[f] != kNone) || p.equity_share[w.region_good(w.firm_region[f], g)] > 0.0;
    if (w.firm_kind[f] == FirmKind::western && !contract && w.firm_loss_months[f] >= b.exit_after) {
      w.firm_status[f] = FirmStatus::exited;
      for (int l = w.first_link(f); l < w.end_link(f); ++l) w.link_q[l] = w.link_plan[l] = 0.0;
    }
  }

  // Entry: each pool's candidates, in id order, compare the NPV of their best response
  // to today's expected prices with their share of capex; at most one enters per pool per
  // month, the lowest id that qualifies (entrants do not anticipate each other). Each rank
  // finds its own first qualifying candidate per pool; the minimum over ranks enters.
  std::vector<double> first_entrant(scenario_.entrant_pools.size(), kInf);
  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    const Index pool = w.firm_pool[f];
    if (w.firm_status[f] != FirmStatus::candidate || first_entrant[pool] < kInf) continue;
    const auto& spec = scenario_.entrant_pools[pool];
    if (period < spec.first_period) continue;
    const Index o = w.firm_region[f], g = w.firm_good[f];
    const double subsidy = p.production_subsidy[w.region_good(o, g)];
    const double theta = soe_theta(w, p, f);
    const double cost = w.firm_cost[f] + input_cost(w, f);
    const int l0 = w.first_link(f), nl = w.end_link(f) - l0;
    for (int i = 0; i < nl; ++i) {
      const int l = l0 + i;
      const Index m = w.link_market[l];
      const double price = std::isnan(w.market_forecast[m]) ? w.market_price[m] : w.market_forecast[m];
      auto& t = terms_[i];
      t.intercept = price;  // rivals' output held fixed: residual demand through today's point
      t.multiplier = trade_terms_[w.link_trade[l]].multiplier;
      t.base_cost = cost - subsidy - theta + trade_terms_[w.link_trade[l]].add;
      t.slope = 2.0 * w.market_b_hat[m];
      t.cap = w.link_cap[l];
    }
    const std::span<const LinkTerms> terms(terms_.data(), nl);
    best_response(terms, w.firm_cost_slope[f], w.firm_capacity[f], 0.0,
                  std::span(target_.data(), nl), scratch_);
    double profit = -w.firm_fixed_cost[f];
    for (int i = 0; i < nl; ++i) {
      const double q = target_[i];
      const double b_hat = terms_[i].slope / 2.0;
      profit += q * ((terms_[i].intercept - b_hat * q) / terms_[i].multiplier - terms_[i].base_cost);
    }
    // An offtake floor open to new plants of this good at home lifts the expected price.
    for (const auto& fl : p.floors)
      if (fl.good == g && fl.government == o && fl.firms.empty() && fl.active_at(period))
        profit = std::max(profit, std::min(w.firm_capacity[f], fl.volume) *
                                      (fl.floor - cost + subsidy) - w.firm_fixed_cost[f]);
    const double rate = spec.hurdle_rate + b.uncertainty_premium * uncertainty_[g];
    const double npv = project_npv(profit, rate, spec.lifetime, spec.build_lag);
    const auto rg = w.region_good(o, g);
    const double capex = w.firm_capex[f] * w.firm_capex_factor[f];
    if (npv > own_capex_share(p, rg) * capex) first_entrant[pool] = static_cast<double>(f);
  }
  exchange_.min_over_ranks(first_entrant);
  for (std::size_t pool = 0; pool < first_entrant.size(); ++pool) {
    if (!(first_entrant[pool] < kInf)) continue;
    const auto f = static_cast<Index>(first_entrant[pool]);
    if (!owns_firm(f)) continue;
    const auto& spec = scenario_.entrant_pools[pool];
    const auto rg = w.region_good(w.firm_region[f], w.firm_good[f]);
    const double capex = w.firm_capex[f] * w.firm_capex_factor[f];
    // Producing from the month after the build lag (at the earliest next month).
    w.firm_status[f] = FirmStatus::building;
    w.firm_entry_period[f] = period;
    w.firm_online_period[f] = period + std::max(1, spec.build_lag);
    double* acc = account_partial(f);
    acc[kInvestmentSubsidy] += p.investment_subsidy[rg] * capex;
    acc[kEquity] += p.equity_share[rg] * capex;
  }

  // The limit price an `auto` underpricing directive aims at: the lowest price at which
  // some would-be entrant's best response just covers its fixed and capital costs.
  std::fill(entry_limit_price_.begin(), entry_limit_price_.end(), kInf);
  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    if (w.firm_status[f] != FirmStatus::candidate) continue;
    // Pools not yet open count too: deterrence works through entrants' expected price,
    // so a directive must hold the price down before they review.
    const auto& spec = scenario_.entrant_pools[w.firm_pool[f]];
    const Index o = w.firm_region[f], g = w.firm_good[f];
    const auto rg = w.region_good(o, g);
    // The monthly payment that makes the entry rule's NPV equal its share of capex.
    const double own_share = own_capex_share(p, rg);
    const double r = monthly_rate(spec.hurdle_rate + b.uncertainty_premium * uncertainty_[g]);
    const double capital = own_share * w.firm_capex[f] * w.firm_capex_factor[f] *
                           capital_recovery_factor(r, spec.lifetime) * std::pow(1.0 + r, spec.build_lag);
    const double fixed = w.firm_fixed_cost[f] + capital;
    const double subsidy = p.production_subsidy[rg];
    const double theta = soe_theta(w, p, f);
    const double cost = w.firm_cost[f] + input_cost(w, f) - subsidy - theta;
    for (int l = w.first_link(f); l < w.end_link(f); ++l) {
      const Index m = w.link_market[l];
      if (w.link_cap[l] <= 0.0) continue;
      // In the entrant's own (border-exclusive) terms, then back to the consumer price.
      const double mult = trade_terms_[w.link_trade[l]].multiplier;
      const double lp = mult * limit_price(cost + trade_terms_[w.link_trade[l]].add, w.market_b_hat[m] / mult, fixed);
      entry_limit_price_[m] = std::min(entry_limit_price_[m], lp);
    }
  }
  exchange_.min_over_ranks(entry_limit_price_);

  // Capacity investment by incumbents whose capacity binds and whose shadow price beats
  // the monthly capital cost of a unit of capacity (the pool of the same good and region
  // prices it).
  if (b.investment_rate > 0.0) {
    for (Index f = firm_lo_; f < firm_hi_; ++f) {
      if (w.firm_status[f] != FirmStatus::active || w.firm_shadow[f] <= 0.0) continue;
      for (const auto& spec : scenario_.entrant_pools) {
        if (spec.good != w.firm_good[f] || spec.region != w.firm_region[f]) continue;
        const double unit_capex = spec.capex / spec.capacity;
        const double crf = capital_recovery_factor(monthly_rate(spec.hurdle_rate), spec.lifetime);
        if (w.firm_shadow[f] > unit_capex * crf) {
          const double added = b.investment_rate * w.firm_capacity[f];
          const double before = w.firm_profit[f];
          w.firm_capacity[f] += added;
          w.firm_profit[f] -= added * unit_capex;
          // An SOE's soft budget covers the investment as it covers losses.
          if (w.firm_kind[f] == FirmKind::soe)
            account_partial(f)[kSoeSupport] += std::max(0.0, -w.firm_profit[f]) - std::max(0.0, -before);
        }
        break;
      }
    }
  }
}

// ---- Phase 7: aggregation --------------------------------------------------------------

void Simulation::aggregate() {
  auto& w = world_;
  const auto& p = policy_;
  auto& mm = market_metrics_;
  auto& tm = trade_metrics_;
  const Index R = w.regions;

  // Supply to each bloc by good: quantity, shares by origin bloc, dependency, HHI over
  // origins and the quantity-weighted price. Also what the rules see next period.
  const Index G = w.goods;
  auto& bm = bloc_metrics_;
  bm.resize(static_cast<std::size_t>(kBlocCount) * G);
  std::vector<double> origin(static_cast<std::size_t>(kBlocCount) * G * R, 0.0);
  std::vector<double> value(static_cast<std::size_t>(kBlocCount) * G, 0.0);
  for (Index m = 0; m < w.markets; ++m) {
    const auto at = static_cast<std::size_t>(w.region_bloc[w.market_region[m]]) * G + w.market_good[m];
    bm.quantity[at] += mm.sold[m];
    value[at] += mm.sold[m] * w.market_price[m];
  }
  // Flows by origin, summed market by market as in market_trades_ order, over the pairs that
  // may hold anything but +0 (listed here or by another rank): a +0 or −0 term changes no bit
  // of a sum that starts at +0, so skipping them leaves every sum as over all 320k pairs.
  const std::span<const Index> lists[] = {trade_listed_, trade_memo_.written()};
  for (const auto list : lists)
    for (const Index t : list) trade_hit_[trade_position_[t] >> 6] |= std::uint64_t{1} << (trade_position_[t] & 63);
  for_each_bit(trade_hit_.data(), 0, static_cast<int>(w.trades), [&](int k) {
    const Index t = market_trades_[k], m = trade_market_[t];
    const auto at = static_cast<std::size_t>(w.region_bloc[w.market_region[m]]) * G + w.market_good[m];
    origin[at * R + w.trade_origin[t]] += tm.quantity[t];
  });
  for (const auto list : lists)
    for (const Index t : list) trade_hit_[trade_position_[t] >> 6] = 0;
  for (int b = 0; b < kBlocCount; ++b)
    for (Index g = 0; g < G; ++g) {
      const auto at = static_cast<std::size_t>(b) * G + g;
      const double q = bm.quantity[at];
      double hhi = 0.0;
      std::array<double, kBlocCount> by{};
      for (Index r = 0; r < R; ++r) {
        const double x = origin[at * R + r];
        by[static_cast<int>(w.region_bloc[r])] += x;
        if (q > 0.0) hhi += (100.0 * x / q) * (100.0 * x / q);
      }
      for (int k = 0; k < kBlocCount; ++k) bm.share[k][at] = q > 0.0 ? by[k] / q : 0.0;
      const int adv = adversary_of(static_cast<Bloc>(b));
      // Nothing supplied: shares are undefined (NaN), not 0 — a cut-off is not success. The
      // rules keep the last observed value.
      const double nan = std::numeric_limits<double>::quiet_NaN();
      bm.dependency_share[at] = adv < 0 || q <= 0.0 ? nan : by[adv] / q;
      bm.hhi_origins[at] = q > 0.0 ? hhi : nan;
      bm.price[at] = q > 0.0 ? value[at] / q : nan;
      view_.bloc_quantity[at] = q;
      if (q > 0.0) {
        view_.dependency[at] = adv < 0 ? 0.0 : bm.dependency_share[at];
        view_.hhi_origins[at] = hhi;
        view_.bloc_price[at] = bm.price[at];
      }
    }
  for (Index r = 0; r < R; ++r) {
    const double planned = accounts_.output_value[r] + accounts_.output_lost[r];
    view_.output_lost_share[r] = planned > 0.0 ? accounts_.output_lost[r] / planned : 0.0;
    for (Index g = 0; g < G; ++g) {
      const Index m = w.market_of[static_cast<std::size_t>(g) * R + r];
      view_.home_price[view_.rg(r, g)] = m == kNone ? std::numeric_limits<double>::quiet_NaN() : w.market_price[m];
    }
  }
  // SOEs selling to the other bloc below what their own objective justifies — net price
  // more than `monitor_tolerance` under unit cost − θ − production subsidy: a directive does
  // that; adaptive adjustment to falling prices leaves smaller, transient gaps (the
  // agreement's monitoring; an SOE with θ > 0 sells below cost by design).
  const double tolerance = scenario_.agreement.monitor_tolerance;
  std::vector<double> below(static_cast<std::size_t>(R) * G, 0.0);  // 0/1, max over ranks
  for (Index f = firm_lo_; f < firm_hi_; ++f) {
    if (w.firm_kind[f] != FirmKind::soe || w.firm_status[f] != FirmStatus::active) continue;
    const double theta = soe_theta(w, policy_, f);
    const double subsidy = policy_.production_subsidy[w.region_good(w.firm_region[f], w.firm_good[f])];
    const double justified = w.firm_unit_cost[f] - theta - subsidy;
    for (int l = w.first_link(f); l < w.end_link(f); ++l) {
      if (!(link_sold(l) > 0.0)) continue;  // as settled: only western firms exit (dynamics)
      const double net = trade_net_[w.link_trade[l]];  // as settled
      if (net < justified - tolerance * std::abs(justified) &&
          adversary_of(w.region_bloc[w.link_destination(l)]) == static_cast<int>(w.region_bloc[w.firm_region[f]]))
        below[view_.rg(w.firm_region[f], w.firm_good[f])] = 1.0;
    }
  }
  exchange_.max_over_ranks(below);
  for (std::size_t i = 0; i < below.size(); ++i) {
    soe_below_cost_[i] = below[i] > 0.0 ? soe_below_cost_[i] + 1 : 0;
    view_.soe_below_cost[i] = soe_below_cost_[i];
  }

  if (border_changed_)  // (else as last period)
    for (Index t = 0; t < w.trades; ++t) {
      const Index g = w.trade_good[t], o = w.trade_origin[t], d = w.trade_destination[t];
      tm.tariff_rate[t] = o == d ? 0.0 : p.tariff_ad_valorem[p.tariff_at(d, g, o)];
      tm.controlled[t] = o == d ? 0 : static_cast<std::int32_t>(p.control_kind[p.control_at(o, g, d)]);
    }
}

}  // namespace decouple
