// The period loop (DESIGN §3): policy → offers → exchange → clearing → settlement →
// dynamics → aggregation. Each phase is a plain function over the world's arrays.
#pragma once

#include <array>
#include <utility>
#include <vector>

#include "core/scenario.hpp"
#include "agents/best_response.hpp"
#include "engine/decomposition.hpp"
#include "engine/exchange.hpp"
#include "engine/world.hpp"
#include "policy/instruments.hpp"
#include "policy/rules.hpp"

namespace decouple {

class StateVisitor;  // engine/checkpoint.hpp

// Per market, this period (after clearing).
struct MarketMetrics {
  std::vector<double> supply, sold, unsold, demand, exogenous, hhi_firms, hhi_origins,
      dependency_share, consumer_surplus, shortage, tariff_revenue, receipts, transport_paid;
  std::array<std::vector<double>, kBlocCount> share;  // supply share by origin bloc
  void resize(Index markets);
};

// Per trade pair (good, origin, destination), this period.
struct TradeMetrics {
  std::vector<double> quantity, value, tariff_rate;
  std::vector<std::int32_t> controlled;  // ControlKind code in force
  void resize(Index trades);
};

// Per government (region), this period. subsidy_outlay = production + investment subsidies.
struct Accounts {
  std::vector<double> tariff_revenue, subsidy_outlay, production_subsidy_outlay,
      investment_subsidy_outlay, floor_outlay, soe_support, equity_outlay, output_lost,
      output_value, consumer_surplus;
  void reset(Index regions);
};

// Per (bloc, good), this period: supply delivered to the bloc's regions.
struct BlocMetrics {
  std::vector<double> quantity, dependency_share, price, hhi_origins;
  std::array<std::vector<double>, kBlocCount> share;  // by origin bloc
  void resize(std::size_t n);
};

// Distributed over the ranks of `comm` (DESIGN §5): each rank runs the firms of its
// contiguous id range and the markets of its regions; the world's arrays stay in global
// index space everywhere, but only owned entries are current (firm state of other ranks'
// firms is stale) — except per-link state and the market side's offer slots, which each rank
// holds for its own firms and markets only (the bulk of the memory at a million firms). What every rank needs — market state and metrics, trade metrics,
// accounts, aggregates the rules see, policy — is replicated each period by collectives
// whose sums run in a fixed order, so every rank count gives the same bits.
class Simulation {
 public:
  explicit Simulation(const Scenario& scenario, Communicator comm = Communicator());

  // Runs one period. Periods run from −burn_in to periods − 1; scheduled events apply
  // from period 0 on.
  void step(int period);
  int first_period() const { return -scenario_.run.burn_in; }

  const Scenario& scenario() const { return scenario_; }
  World& world() { return world_; }
  const World& world() const { return world_; }
  PolicyState& policy() { return policy_; }
  const PolicyState& policy() const { return policy_; }
  const MarketMetrics& markets() const { return market_metrics_; }
  const TradeMetrics& trades() const { return trade_metrics_; }
  const Accounts& accounts() const { return accounts_; }
  const BlocMetrics& blocs() const { return bloc_metrics_; }
  // Policy uncertainty U per good in force this period.
  const std::vector<double>& uncertainty() const { return uncertainty_; }
  const RuleState& rule_state() const { return rule_state_; }
  // Policy records of the last step (cleared at the start of each step).
  const std::vector<PolicyRecord>& policy_log() const { return policy_log_; }
  // Every policy record so far.
  const std::vector<PolicyRecord>& policy_history() const { return history_; }
  const std::vector<std::string>& causes() const { return causes_; }
  // This rank's share: firms [firm_begin(), firm_end()) and the markets in owned_markets().
  Index firm_begin() const { return firm_lo_; }
  Index firm_end() const { return firm_hi_; }
  bool owns_firm(Index f) const { return f >= firm_lo_ && f < firm_hi_; }
  const std::vector<Index>& owned_markets() const { return my_markets_; }
  const Decomposition& decomposition() const { return decomposition_; }
  Exchange& exchange() { return exchange_; }
  int rank() const { return exchange_.rank(); }
  int ranks() const { return exchange_.ranks(); }
  // Firms' output lost to missing inputs this period (planned − actual).
  double output_lost(Index firm) const { return world_.firm_planned[firm] - world_.firm_output[firm]; }
  // What a link (local id) sold this period: its shipment times its market's sold fraction,
  // as settle() books it. Computed, not stored: a per-link store every month cost a 60 MB
  // write in the million world for the one loop (aggregate's SOE check) that reads it. After
  // step(), 0 for a firm that exited this period (its links' shipments are cleared).
  double link_sold(int link) const { return world_.link_q[link] * sold_ratio_[world_.link_market[link]]; }
  // Every piece of state that later periods depend on, named, for checkpoints: saving reads
  // it, loading (on any number of ranks, after construction) overwrites it. The one list of
  // it is in engine/checkpoint.cpp.
  void state(StateVisitor& visitor);

  // Where this rank's time went, per phase of step() since construction: the phase's own
  // work and, separately, its time in the exchange (messages and waiting for other ranks).
  static constexpr int kPhases = 9;
  static constexpr std::array<const char*, kPhases> kPhaseNames = {
      "policy", "border terms", "offers", "to markets", "clearing", "to firms", "market side", "firm side",
      "aggregates"};
  struct PhaseTimes {
    std::array<double, kPhases> work{}, exchange{};
  };
  const PhaseTimes& phase_times() const { return phase_times_; }
  // With keep_period_times(true), each step() appends a row to period_times(): the period,
  // then each phase's work and exchange seconds (kPhases pairs), for the per-period record
  // (`decouple run --period-timings`).
  static constexpr int kPeriodTimeFields = 1 + 2 * kPhases;
  void keep_period_times(bool on) { keep_period_times_ = on; }
  const std::vector<double>& period_times() const { return period_times_; }

 private:
  void apply_policy(int period);
  void tabulate_border_terms(int period);
  void plan_offers();
  void clear_markets();
  void settle(int period);
  void dynamics(int period);
  void aggregate();
  void distribute();
  void settle_markets();        // market side of settlement and per-market metrics (owners)
  void publish_markets();       // owners' market state, market and trade metrics to every rank
  void reduce_accounts();       // per-firm account contributions → per-region accounts
  void share_capacities();      // capacity per trade / adversary capacity / directives (market side)
  double* account_partial(Index f) { return partial_.data() + static_cast<std::size_t>(firm_entry_[f - firm_lo_]) * kAccountFields; }

  // Per-firm contributions to the government accounts, summed per (chunk, region) entry.
  enum AccountField { kProductionSubsidy, kInvestmentSubsidy, kEquity, kFloor, kSoeSupport, kOutputLost, kOutputValue, kAccountFields };

  PhaseTimes phase_times_;
  bool keep_period_times_ = false;
  std::vector<double> period_times_;
  // Whether some trade pair had an export control or mandate last period (link caps and
  // denials then differ from their defaults). True at first, so that a new or restored
  // simulation writes them once.
  bool links_special_ = true;
  // Whether a price floor was in force last period (then floor_of_, floor_share_ and
  // floor_min_output_ may differ from their defaults); true at first, as links_special_.
  bool floors_active_ = true;
  Scenario scenario_;
  Exchange exchange_;  // before world_: the ranks build it together
  World world_;
  PolicyState policy_;
  Decomposition decomposition_;
  Index firm_lo_ = 0, firm_hi_ = 0;     // owned firms
  std::vector<Index> my_markets_;       // owned markets, ascending
  std::vector<int> trade_rank_;         // owner of each trade pair (its destination market's)
  std::vector<int> market_trade_begin_; // CSR: trade pairs into each market, ascending id
  std::vector<Index> market_trades_;
  std::vector<Index> trade_position_;     // where each trade pair is in market_trades_
  std::vector<std::uint64_t> trade_hit_;  // aggregate's scratch: a bit per market_trades_ entry
  RoutingPlan offer_plan_, bid_plan_;
  // The market side's offer slots are this rank's markets' only, numbered from 0 in market
  // order: a market's are [offer_first(m), offer_end(m)); offer_trade_ is each one's trade pair.
  std::vector<int> offer_local_;        // per market: its first local slot (−1: not owned)
  std::vector<Index> offer_trade_;
  int offer_first(Index m) const { return offer_local_[m]; }
  int offer_end(Index m) const { return offer_local_[m] + world_.offer_begin[m + 1] - world_.offer_begin[m]; }
  // Reproducible per-region sums: firms fall in fixed chunks of `chunk_` ids (never split
  // across ranks); contributions are summed per (chunk, region) entry in id order, and the
  // entries in (chunk, region) order — the same order on any number of ranks.
  Index chunk_ = 1;
  std::vector<Index> entry_region_;     // every entry's region, in global entry order
  std::vector<Index> firm_entry_;       // per owned firm: its entry, relative to this rank's first
  std::vector<double> partial_;         // this rank's entries × kAccountFields
  // Per trade pair this period (replicated): 1 + ad-valorem tariff, transport + specific
  // tariff (every link's border terms: a link reads its pair's), and whether its links need
  // the per-link export-control / mandate terms.
  struct TradeTerms { double multiplier = 1.0, add = 0.0; };
  std::vector<TradeTerms> trade_terms_;
  std::vector<std::uint8_t> trade_special_;
  bool any_special_ = false;  // some trade_special_ set
  // The instruments trade_terms_, trade_special_ and the trade panel's tariff and control
  // columns were last computed from (empty: not yet); while they stay equal those are current
  // (a million-firm world's 320,000 pairs cost ≈ 8 ms a period, on every rank).
  struct BorderInputs {
    std::vector<double> ad_valorem, specific, mandate_share;
    std::vector<ControlKind> control;
    std::vector<std::uint8_t> mandate_ban;
  };
  BorderInputs border_inputs_;
  bool border_changed_ = true;  // this period's border terms differ from last period's
  // Per trade pair: what a unit sold nets its seller at its market's current price,
  // price / multiplier − add, the expression settle and the input bids used per link;
  // computed once per pair (320,000 pairs, not 7.5M links) after terms or prices change, for
  // the pairs of this rank's links (firm_trades_; the others are never read here).
  std::vector<double> trade_net_;
  std::vector<Index> trade_market_;  // per trade pair: its market (good, destination)
  std::vector<std::uint8_t> learning_settled_;  // per owned firm: learning at its floor (dynamics)
  std::vector<Index> firm_trades_;   // the pairs of this rank's links, ascending: trade_net_'s readers
  void tabulate_net_prices();
  // Market-side scratch for capacity-based instruments (allocated when first needed).
  std::vector<double> link_scratch_, slot_capacity_, slot_last_q_, slot_directed_;
  MarketMetrics market_metrics_;
  TradeMetrics trade_metrics_;
  Accounts accounts_;
  BlocMetrics bloc_metrics_;
  std::vector<PolicyRecord> policy_log_, history_;
  std::vector<std::string> causes_;
  RuleState rule_state_;
  PolicyView view_;                         // last period's aggregates, what rules see
  std::vector<double> uncertainty_;         // U per good
  std::vector<int> soe_below_cost_;         // [region·G + good] consecutive months
  std::vector<Index> event_cause_;
  std::size_t next_event_ = 0;

  // Per-period tables derived from policy and last period's aggregates.
  std::vector<double> trade_capacity_;      // active capacity per trade pair (quotas)
  std::vector<double> adversary_capacity_;  // per market: capacity of adversary-bloc sellers
  std::vector<double> allied_supply_;       // per market: last period's non-adversary supply
  std::vector<double> directed_q_;          // per link: directive volume, NaN if none
  std::vector<double> floor_min_output_;    // per firm: covered volume it commits to
  std::vector<double> floor_share_;         // per firm: its share of its contract's volume
  std::vector<Index> floor_of_;             // per firm: covering contract or kNone
  std::vector<double> entry_limit_price_;   // per market: auto limit price (consumer terms)

  // Market-side buffers the exchange fills (one entry per offer / bid slot).
  std::vector<double> offer_q_, bid_q_, bid_r_, bid_served_;
  // Owned trade pairs whose flows settle_markets stored this month (the others' are +0), a
  // flag each, and which other ranks' pairs publish_markets wrote (only it writes them).
  std::vector<Index> trade_listed_;
  std::vector<std::uint8_t> trade_is_listed_;
  GatherMemo trade_memo_;
  RouteMemo offer_memo_;  // which offer slots hold non-zero offers (only the exchange writes offer_q_)
  std::vector<double> sold_ratio_;  // per market: the fraction of every offer sold (sold_fraction)
  std::vector<double> offered_;     // per owned market (my_markets_ order): Σ offers, this month
  void sum_offers();
  std::vector<double> bid_stock_q_, bid_stock_r_;  // restocking parts (only with split bids)
  std::vector<double> entry_q_, entry_r_;          // one market's bid entries (split bids)
  // Scratch for one firm / one market.
  std::vector<LinkTerms> terms_;  // plan_offers: kBatchLanes firms' links, max_links_ apart
  std::size_t max_links_ = 0;     // most links of any firm
  std::vector<FirmBatch> firm_batches_;  // plan_offers: per link count, kBatchLanes firms' links by field
  bool batch_caps_written_ = true;       // firm_batches_ may hold other than +∞ caps (new: unset)
  std::vector<double> target_, adjusted_, scratch_, sorted_q_, sorted_r_, served_;
  std::vector<Index> order_;
  std::vector<std::pair<double, Index>> keyed_;  // bids as (reservation price, slot)
  // Per market, last month's order of its bid entries (from 2·bid_begin[m]) and their number
  // (−1: none): where this month's sort starts.
  std::vector<Index> bid_order_;
  std::vector<int> bid_order_n_;
  std::vector<double> traded_price_;  // per market: the last price at which anything sold (0: none yet)
};

}  // namespace decouple
