// The world state: structures of arrays indexed by dense ids, built once from a Scenario.
//
// Firm↔market traffic goes through fixed "slots": every firm→market link (and every
// firm's input bid) has a slot on the market side, laid out by market then firm id. The
// exchange copies offers into market slots and settlements back; on one rank that is a
// local hand-off, across ranks the same copy becomes one all-to-all of values whose layout
// never changes (the link set is fixed at build time: entrant candidates get their links
// up front). Results therefore never depend on who owns what.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/scenario.hpp"
#include "markets/clearing.hpp"

namespace decouple {

enum class FirmStatus : std::uint8_t { candidate = 0, building = 1, active = 2, exited = 3 };
inline const char* to_string(FirmStatus s) {
  switch (s) {
    case FirmStatus::candidate: return "candidate";
    case FirmStatus::building: return "building";
    case FirmStatus::active: return "active";
    case FirmStatus::exited: return "exited";
  }
  return "?";
}

struct World {
  Index regions = 0, goods = 0, markets = 0, firms = 0, links = 0, slots = 0, trades = 0;

  // ---- regions and goods
  std::vector<Bloc> region_bloc;
  std::vector<int> input_begin;          // [good] CSR into input_good/input_units, size G+1
  std::vector<Index> input_good;
  std::vector<double> input_units;
  std::vector<double> good_cover;        // months of this good that buying firms keep in stock
  std::vector<double> good_progress;     // progress ratio
  std::vector<double> good_learning_floor;
  std::vector<double> transport;         // [(good·R + origin)·R + destination]
  std::vector<Index> input_goods;        // goods used as an input anywhere (inventory columns)

  // ---- markets (good, destination)
  std::vector<Index> market_good, market_region;
  std::vector<Index> market_of;          // [good·R + region] → market or kNone
  std::vector<LinearDemand> market_exogenous;
  // published each period (replicated): what firms and governments see
  std::vector<double> market_price, market_sold, market_supply, market_a_hat, market_b_hat;
  std::vector<double> market_forecast;   // adaptive price expectation (entrants)
  // market-side offer slots, CSR by market (firm id ascending inside a market)
  std::vector<int> offer_begin;          // size M+1
  std::vector<Index> offer_link;         // slot → link
  // market-side bid slots, CSR by market
  std::vector<int> bid_begin;            // size M+1
  std::vector<Index> bid_slot;           // → firm input slot

  // ---- firms (candidates of entrant pools included, status = candidate)
  // Names of the listed firms and candidates; group firms' names are derived (firm_name()),
  // not stored: a million strings would be 32 MB on every rank.
  std::vector<std::string> named_firm;
  // Ids [first, first + count) are "<prefix>-<k>" for k from `ordinal` on, padded for a group
  // of `group_count` (a block of SyntheticFirms).
  struct NameRange { Index first = 0, count = 0; std::int64_t ordinal = 0, group_count = 0; std::string prefix; };
  std::vector<NameRange> firm_name_ranges;  // group firms, ascending ids
  std::vector<Index> firm_region, firm_good, firm_pool;  // pool: kNone for listed firms
  std::vector<FirmKind> firm_kind;
  std::vector<FirmStatus> firm_status;
  std::vector<double> firm_cost0, firm_cost, firm_cost_slope, firm_capacity, firm_fixed_cost;
  std::vector<double> firm_theta;        // NaN: the owner government's θ
  std::vector<double> firm_welfare_weight;
  std::vector<std::uint8_t> firm_price_taking;  // 1: a competitive-fringe firm (P = marginal cost)
  std::vector<double> firm_capex;        // candidates: their project's capex; firms: 0
  std::vector<double> firm_capex_factor; // candidates: ε
  std::vector<double> firm_cumulative, firm_learning_scale;
  std::vector<int> firm_entry_period, firm_online_period, firm_loss_months;
  // per-period results
  std::vector<double> firm_planned, firm_output, firm_revenue, firm_profit, firm_subsidy,
      firm_floor_payment, firm_unit_cost, firm_price, firm_shadow, firm_input_outlay;

  // ---- links: firm → destination market, CSR by firm. A link's firm, destination and
  // border terms (multiplier, add: per trade pair, in Simulation) are derived, not stored.
  // The per-link arrays below hold links [link_lo, link_lo + size): all of them as built; a
  // Simulation keeps only its own firms' (keep_links), so they are indexed by local link
  // l = global id − link_lo (first_link / end_link). link_begin and offer_link stay global.
  std::vector<int> link_begin;           // size F+1
  int link_lo = 0;
  std::vector<Index> link_market, link_trade;
  std::vector<double> link_q;            // shipped this period (last period's until offers)
  std::vector<double> link_plan;         // planned before input shortages (partial adjustment's anchor)
  std::vector<double> link_cap;          // export control / mandate cap, this period
  std::vector<std::uint8_t> link_denied;  // a licence was refused this month (the plan is kept)

  // ---- input slots: one per (firm, input good), CSR by firm
  std::vector<int> slot_begin;           // size F+1
  std::vector<Index> slot_good, slot_market;
  std::vector<double> slot_units, slot_inventory, slot_bid, slot_reservation, slot_delivered;
  std::vector<double> slot_cost;         // weighted-average cost of the stock on hand
  // The restocking part of slot_bid (≤ slot_bid) and its reservation price (per period;
  // only with behaviour.restock_markup set).
  std::vector<double> slot_stock_bid, slot_stock_reservation;

  // ---- trade pairs (good, origin, destination) with at least one link
  std::vector<Index> trade_good, trade_origin, trade_destination;

  std::size_t region_good(Index r, Index g) const { return static_cast<std::size_t>(r) * goods + g; }
  bool uses_inputs(Index f) const { return slot_begin[f + 1] > slot_begin[f]; }
  int first_link(Index f) const { return link_begin[f] - link_lo; }  // local link ids
  int end_link(Index f) const { return link_begin[f + 1] - link_lo; }
  Index link_destination(int local_link) const { return market_region[link_market[local_link]]; }
  Index link_firm(int global_link) const;  // O(log F): not for hot loops
  // Drops the per-link arrays' entries outside global links [lo, hi) (state arrays not yet
  // made are left empty).
  void keep_links(int lo, int hi);
  // The per-link state (q, plan, sold: 0; cap: ∞; denied: no) for the links held, as built.
  void init_link_state();
  std::string firm_name(Index f) const;
};

// Ranks building the same world together: rank `rank` of `ranks` draws its share of the
// synthetic firms, and `gather` returns every rank's values in rank order (the same on every
// rank; Simulation passes Exchange::allgather_concat). The world is the same bit for bit.
struct BuildShare {
  int rank = 0, ranks = 1;
  std::function<std::vector<double>(std::span<const double>)> gather;
  std::int64_t round = std::int64_t{1} << 17;  // firms drawn per gather, all ranks (bounds the buffers: ≈ 17 MB)
};

// With link_state false the per-link state arrays are left empty, for a caller that keeps
// only some links (keep_links, then init_link_state): a rank then never touches the others'
// (a million-firm world's are 250 MB). With `share` the synthetic firms' draws are shared.
World build_world(const Scenario& scenario, bool link_state = true, const BuildShare* share = nullptr);

}  // namespace decouple
