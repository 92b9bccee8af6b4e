#include "engine/world.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/rng.hpp"
#include "engine/synthetic.hpp"

namespace decouple {
namespace {

// A drawn firm as doubles (integers exactly), for BuildShare::gather: good, region, kind,
// the five drawn numbers, the destination count, the destinations.
void pack(const SyntheticFirm& s, std::vector<double>& out) {
  out.insert(out.end(), {static_cast<double>(s.good), static_cast<double>(s.region), static_cast<double>(s.kind),
                         s.marginal_cost, s.cost_slope, s.capacity, s.fixed_cost, s.output_weight,
                         static_cast<double>(s.destination_count)});
  for (int k = 0; k < s.destination_count; ++k) out.push_back(static_cast<double>(s.destinations[k]));
}

std::size_t unpack(const std::vector<double>& in, std::size_t at, SyntheticFirm& s) {
  s.good = static_cast<Index>(in[at]);
  s.region = static_cast<Index>(in[at + 1]);
  s.kind = static_cast<FirmKind>(static_cast<int>(in[at + 2]));
  s.marginal_cost = in[at + 3];
  s.cost_slope = in[at + 4];
  s.capacity = in[at + 5];
  s.fixed_cost = in[at + 6];
  s.output_weight = in[at + 7];
  s.destination_count = static_cast<int>(in[at + 8]);
  at += 9;
  for (int k = 0; k < s.destination_count; ++k) s.destinations[k] = static_cast<Index>(in[at++]);
  return at;
}

// ---- Synthetic firms ([[firm_group]], engine/synthetic): appended after the listed firms and
// entrant candidates, one drawn firm at a time (no FirmSpec, no per-firm vector). Each is
// laid out exactly as build_world lays out a listed plant (keep the two in step): active
// from the start of the burn-in, inputs stocked at full capacity, destinations ascending.
void append_synthetic(const Scenario& sc, World& w, const BuildShare* share) {
  const SyntheticFirms gen(sc);
  if (gen.size() == 0) return;
  const Index R = w.regions;
  const auto n = static_cast<std::size_t>(w.firms) + static_cast<std::size_t>(gen.size());
  for (auto* v : {&w.firm_cost0, &w.firm_cost, &w.firm_cost_slope, &w.firm_capacity, &w.firm_fixed_cost,
                  &w.firm_theta, &w.firm_welfare_weight, &w.firm_capex, &w.firm_capex_factor,
                  &w.firm_learning_scale, &w.firm_cumulative})
    v->reserve(n);
  // Names as SyntheticFirms::name gives them: "<group id>-<index in group>".
  for (const auto& b : gen.blocks()) {
    const auto& g = sc.firm_groups[static_cast<std::size_t>(b.group)];
    w.firm_name_ranges.push_back({w.firms + static_cast<Index>(b.begin), static_cast<Index>(b.count), b.first, g.count, g.id});
  }
  for (auto* v : {&w.firm_region, &w.firm_good, &w.firm_pool, &w.firm_entry_period, &w.firm_online_period,
                  &w.firm_loss_months})
    v->reserve(n);
  w.firm_kind.reserve(n);
  w.firm_status.reserve(n);
  w.firm_price_taking.reserve(n);
  w.link_begin.reserve(n + 1);
  w.slot_begin.reserve(n + 1);
  // Links and input slots at their upper bound (destinations_max per firm): no regrowth
  // copies; capacity never written is never touched, so it costs no resident memory.
  std::size_t links = w.link_market.size(), slots = w.slot_good.size();
  for (const auto& g : sc.firm_groups) {
    links += static_cast<std::size_t>(g.count) * static_cast<std::size_t>(g.destinations_max);
    slots += static_cast<std::size_t>(g.count) *
             static_cast<std::size_t>(w.input_begin[g.good + 1] - w.input_begin[g.good]);
  }
  w.link_market.reserve(links);
  for (auto* v : {&w.slot_good, &w.slot_market}) v->reserve(slots);
  for (auto* v : {&w.slot_units, &w.slot_inventory}) v->reserve(slots);
  auto append = [&](const SyntheticFirm& s) {
    w.firm_region.push_back(s.region);
    w.firm_good.push_back(s.good);
    w.firm_pool.push_back(kNone);
    w.firm_kind.push_back(s.kind);
    w.firm_status.push_back(FirmStatus::active);
    w.firm_cost0.push_back(s.marginal_cost);
    w.firm_cost.push_back(s.marginal_cost);
    w.firm_cost_slope.push_back(s.cost_slope);
    w.firm_capacity.push_back(s.capacity);
    w.firm_fixed_cost.push_back(s.fixed_cost);
    w.firm_theta.push_back(s.output_weight);
    w.firm_welfare_weight.push_back(0.0);
    w.firm_price_taking.push_back(0);  // synthetic firms are Cournot sellers
    w.firm_capex.push_back(0.0);
    w.firm_capex_factor.push_back(1.0);
    w.firm_learning_scale.push_back(12.0 * s.capacity);
    w.firm_cumulative.push_back(12.0 * s.capacity);
    w.firm_entry_period.push_back(-sc.run.burn_in);
    w.firm_online_period.push_back(-sc.run.burn_in);
    w.firm_loss_months.push_back(0);
    for (int k = 0; k < s.destination_count; ++k) {
      const Index d = s.destinations[k];
      w.link_market.push_back(w.market_of[static_cast<std::size_t>(s.good) * R + d]);
    }
    w.link_begin.push_back(static_cast<int>(w.link_market.size()));
    for (int k = w.input_begin[s.good]; k < w.input_begin[s.good + 1]; ++k) {
      const Index in = w.input_good[k];
      w.slot_good.push_back(in);
      w.slot_market.push_back(w.market_of[static_cast<std::size_t>(in) * R + s.region]);
      w.slot_units.push_back(w.input_units[k]);
      w.slot_inventory.push_back(w.input_units[k] * s.capacity * (1.0 + w.good_cover[in]));
    }
    w.slot_begin.push_back(static_cast<int>(w.slot_good.size()));
  };
  if (share == nullptr || share->ranks <= 1) {
    gen.generate(0, gen.size(), [&](std::int64_t, const SyntheticFirm& s) { append(s); });
  } else {
    // The draws (most of a million-firm world's set-up: Philox, logs, exps) in rounds of
    // share->round firms, each rank its contiguous share of a round, gathered in rank = firm
    // order and appended by every rank as above.
    const std::int64_t round = std::max<std::int64_t>(1, share->round);
    const std::int64_t P = share->ranks, me = share->rank;
    std::vector<double> mine;
    SyntheticFirm s;
    for (std::int64_t r0 = 0; r0 < gen.size(); r0 += round) {
      const std::int64_t count = std::min(round, gen.size() - r0);
      mine.clear();
      gen.generate(r0 + count * me / P, r0 + count * (me + 1) / P,
                   [&](std::int64_t, const SyntheticFirm& f) { pack(f, mine); });
      const std::vector<double> all = share->gather(mine);
      std::int64_t appended = 0;
      for (std::size_t at = 0; at < all.size(); ++appended) {
        at = unpack(all, at, s);
        append(s);
      }
      if (appended != count) throw InternalError(fmt::format("build_world: {} firms gathered, {} drawn", appended, count));
    }
  }
  w.firms = static_cast<Index>(n);
}

}  // namespace

Index World::link_firm(int l) const {
  return static_cast<Index>(std::upper_bound(link_begin.begin(), link_begin.end(), l) - link_begin.begin()) - 1;
}

void World::keep_links(int lo, int hi) {
  const int a = lo - link_lo, b = hi - link_lo;
  auto keep = [&](auto& v) {
    std::remove_reference_t<decltype(v)> kept(v.begin() + a, v.begin() + b);
    v.swap(kept);  // the old storage is freed here, not kept as spare capacity
  };
  keep(link_market);
  keep(link_trade);
  if (!link_q.empty()) {
    keep(link_q);
    keep(link_plan);
    keep(link_cap);
    keep(link_denied);
  }
  link_lo = lo;
}

void World::init_link_state() {
  const std::size_t L = link_market.size();
  for (auto* v : {&link_q, &link_plan}) v->assign(L, 0.0);
  link_cap.assign(L, std::numeric_limits<double>::infinity());
  link_denied.assign(L, 0);
}

std::string World::firm_name(Index f) const {
  if (f < static_cast<Index>(named_firm.size())) return named_firm[f];
  const auto it = std::upper_bound(firm_name_ranges.begin(), firm_name_ranges.end(), f,
                                   [](Index x, const NameRange& r) { return x < r.first; });
  if (it == firm_name_ranges.begin()) return {};
  const NameRange& r = *(it - 1);
  if (f >= r.first + r.count) return {};
  return synthetic_name(r.prefix, '-', r.ordinal + (f - r.first), r.group_count);
}

World build_world(const Scenario& sc, bool link_state, const BuildShare* share) {
  World w;
  const auto R = static_cast<Index>(sc.regions.size());
  const auto G = static_cast<Index>(sc.goods.size());
  w.regions = R;
  w.goods = G;
  for (const auto& r : sc.regions) w.region_bloc.push_back(r.bloc);

  // Goods: Leontief inputs (CSR), inventory cover, learning, transport.
  w.input_begin.push_back(0);
  std::set<Index> used_as_input;
  for (const auto& g : sc.goods) {
    for (const auto& in : g.inputs) {
      w.input_good.push_back(in.good);
      w.input_units.push_back(in.units);
      used_as_input.insert(in.good);
    }
    w.input_begin.push_back(static_cast<int>(w.input_good.size()));
    w.good_cover.push_back(g.inventory_cover.value_or(sc.behaviour.inventory_cover));
    w.good_progress.push_back(g.progress_ratio);
    w.good_learning_floor.push_back(g.learning_floor);
  }
  w.input_goods.assign(used_as_input.begin(), used_as_input.end());
  w.transport.assign(static_cast<std::size_t>(G) * R * R, 0.0);
  for (Index g = 0; g < G; ++g)
    for (Index o = 0; o < R; ++o)
      for (Index d = 0; d < R; ++d)
        if (o != d) w.transport[(static_cast<std::size_t>(g) * R + o) * R + d] = sc.goods[g].transport_cost;
  // Routes for every good first, so a good-specific route wins whatever the file order.
  for (const bool specific : {false, true})
    for (const auto& rt : sc.routes)
      for (Index g = 0; g < G; ++g)
        if ((specific && rt.good == g) || (!specific && rt.good == kNone))
          w.transport[(static_cast<std::size_t>(g) * R + rt.origin) * R + rt.destination] = rt.cost;

  // Firms: listed firms in file order, then each pool's candidates.
  struct Proto {
    std::string name;
    Index region, good, pool;
    FirmKind kind;
    double cost, slope, capacity, fixed, theta, welfare, capex, capex_factor;
    FirmStatus status;
    std::vector<Index> sells_to;
  };
  std::vector<Proto> protos;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& f : sc.firms)
    protos.push_back({f.id, f.region, f.good, kNone, f.kind, f.marginal_cost, f.cost_slope,
                      f.capacity, f.fixed_cost, f.output_weight.value_or(nan), f.welfare_weight,
                      0.0, 1.0, FirmStatus::active, f.sells_to});
  for (std::size_t p = 0; p < sc.entrant_pools.size(); ++p) {
    const auto& pool = sc.entrant_pools[p];
    for (int k = 0; k < pool.candidates; ++k) {
      const auto id = static_cast<std::uint64_t>(protos.size());
      // Each candidate's cost and capex factor ε are drawn once, keyed by its firm id.
      const double zc = standard_normal({sc.run.seed, id, 0, Purpose::entry_cost, 0});
      const double ze = standard_normal({sc.run.seed, id, 0, Purpose::entry_capex, 0});
      protos.push_back({fmt::format("{}#{}", pool.id, k), pool.region, pool.good,
                        static_cast<Index>(p), pool.kind,
                        pool.marginal_cost * std::exp(pool.cost_sigma * zc), 0.0, pool.capacity,
                        pool.fixed_cost, nan, 0.0, pool.capex, std::exp(pool.capex_sigma * ze),
                        FirmStatus::candidate, pool.sells_to});
    }
  }
  const auto F = static_cast<Index>(protos.size());
  w.firms = F;

  // Markets: every (good, region) with exogenous demand, a seller, or a buyer firm,
  // ordered by (good, region).
  std::set<std::pair<Index, Index>> needed;
  for (const auto& m : sc.markets) needed.insert({m.good, m.region});
  for (const auto& p : protos) {
    for (Index d : p.sells_to) needed.insert({p.good, d});
    for (int i = w.input_begin[p.good]; i < w.input_begin[p.good + 1]; ++i)
      needed.insert({w.input_good[i], p.region});
  }
  w.market_of.assign(static_cast<std::size_t>(G) * R, kNone);
  for (const auto& [g, r] : needed) {
    w.market_of[static_cast<std::size_t>(g) * R + r] = static_cast<Index>(w.market_good.size());
    w.market_good.push_back(g);
    w.market_region.push_back(r);
  }
  const auto M = static_cast<Index>(w.market_good.size());
  w.markets = M;
  w.market_exogenous.assign(M, LinearDemand{});
  std::vector<double> a_hat0(M, 0.0);  // published intercept before the first clearing
  for (const auto& m : sc.markets) {
    const Index at = w.market_of[static_cast<std::size_t>(m.good) * R + m.region];
    auto& d = w.market_exogenous[at];
    d = {true, m.a, m.b};
    a_hat0[at] = m.a;
    if (m.elasticity > 0.0) {  // isoelastic: b and a_hat are the tangent at the reference point
      d.elasticity = m.elasticity;
      d.scale = m.quantity * std::pow(m.price, m.elasticity);
      d.b = m.price / (m.elasticity * m.quantity);
      a_hat0[at] = m.price + d.b * m.quantity;
    }
  }

  // Firm arrays, links (destinations ascending) and input slots.
  w.link_begin.push_back(0);
  w.slot_begin.push_back(0);
  for (Index f = 0; f < F; ++f) {
    const auto& p = protos[f];
    w.named_firm.push_back(p.name);
    w.firm_region.push_back(p.region);
    w.firm_good.push_back(p.good);
    w.firm_pool.push_back(p.pool);
    w.firm_kind.push_back(p.kind);
    w.firm_status.push_back(p.status);
    w.firm_cost0.push_back(p.cost);
    w.firm_cost.push_back(p.cost);
    w.firm_cost_slope.push_back(p.slope);
    w.firm_capacity.push_back(p.capacity);
    w.firm_fixed_cost.push_back(p.fixed);
    w.firm_theta.push_back(p.theta);
    w.firm_welfare_weight.push_back(p.welfare);
    w.firm_price_taking.push_back(f < static_cast<Index>(sc.firms.size()) && sc.firms[f].price_taking ? 1 : 0);
    w.firm_capex.push_back(p.capex);
    w.firm_capex_factor.push_back(p.capex_factor);
    // Learning is measured from one year of full-capacity output.
    w.firm_learning_scale.push_back(12.0 * p.capacity);
    w.firm_cumulative.push_back(12.0 * p.capacity);
    w.firm_entry_period.push_back(p.status == FirmStatus::active ? -sc.run.burn_in : -1);
    w.firm_online_period.push_back(p.status == FirmStatus::active ? -sc.run.burn_in : -1);
    w.firm_loss_months.push_back(0);
    std::vector<Index> dests = p.sells_to;
    std::sort(dests.begin(), dests.end());
    for (Index d : dests) {
      w.link_market.push_back(w.market_of[static_cast<std::size_t>(p.good) * R + d]);
    }
    w.link_begin.push_back(static_cast<int>(w.link_market.size()));
    for (int i = w.input_begin[p.good]; i < w.input_begin[p.good + 1]; ++i) {
      const Index in = w.input_good[i];
      w.slot_good.push_back(in);
      w.slot_market.push_back(w.market_of[static_cast<std::size_t>(in) * R + p.region]);
      w.slot_units.push_back(w.input_units[i]);
      // Listed plants start with the target stock at full capacity (one month's use plus
      // the cover); an entrant's new plant buys its first stock.
      w.slot_inventory.push_back(p.status == FirmStatus::active
                                     ? w.input_units[i] * p.capacity * (1.0 + w.good_cover[in])
                                     : 0.0);
    }
    w.slot_begin.push_back(static_cast<int>(w.slot_good.size()));
  }
  append_synthetic(sc, w, share);  // group firms: their markets are in sc.markets already
  const auto L = static_cast<Index>(w.link_market.size());
  const auto S = static_cast<Index>(w.slot_good.size());
  w.links = L;
  w.slots = S;
  for (auto* v : {&w.firm_planned, &w.firm_output, &w.firm_revenue, &w.firm_profit, &w.firm_subsidy,
                  &w.firm_floor_payment, &w.firm_unit_cost, &w.firm_price, &w.firm_shadow,
                  &w.firm_input_outlay})
    v->assign(w.firms, 0.0);
  if (link_state) w.init_link_state();
  // The initial stock is an endowment valued at 0 until the first delivery re-prices it.
  for (auto* v : {&w.slot_bid, &w.slot_reservation, &w.slot_delivered, &w.slot_cost}) v->assign(S, 0.0);
  if (std::isfinite(sc.behaviour.restock_markup))  // split bids only when restocking is price-sensitive
    for (auto* v : {&w.slot_stock_bid, &w.slot_stock_reservation}) v->assign(S, 0.0);

  // Market-side slots, CSR by market; filling in link order keeps firm ids ascending.
  auto csr = [M](const std::vector<Index>& owner_market, std::vector<int>& begin,
                 std::vector<Index>& items) {
    begin.assign(M + 1, 0);
    for (Index m : owner_market) ++begin[m + 1];
    for (Index m = 0; m < M; ++m) begin[m + 1] += begin[m];
    items.assign(owner_market.size(), kNone);
    std::vector<int> next(begin.begin(), begin.end() - 1);
    for (std::size_t i = 0; i < owner_market.size(); ++i)
      items[next[owner_market[i]]++] = static_cast<Index>(i);
  };
  csr(w.link_market, w.offer_begin, w.offer_link);
  csr(w.slot_market, w.bid_begin, w.bid_slot);

  // Trade pairs (good, origin, destination), sorted, keyed (good·R + origin)·R + destination:
  // a dense table over G·R·R when that is small next to the links, else sorted keys.
  auto pair_key = [&](Index f, int l) {
    return (static_cast<std::size_t>(w.firm_good[f]) * R + w.firm_region[f]) * R + w.link_destination(l);
  };
  auto add_pair = [&](std::size_t key) {
    w.trade_good.push_back(static_cast<Index>(key / (static_cast<std::size_t>(R) * R)));
    w.trade_origin.push_back(static_cast<Index>(key / R % R));
    w.trade_destination.push_back(static_cast<Index>(key % R));
  };
  w.link_trade.resize(L);
  const std::size_t keys = static_cast<std::size_t>(G) * R * R;
  if (keys <= std::max<std::size_t>(std::size_t{1} << 24, 2 * static_cast<std::size_t>(L))) {
    std::vector<Index> pair_index(keys, kNone);
    for (Index f = 0; f < w.firms; ++f)
      for (int l = w.link_begin[f]; l < w.link_begin[f + 1]; ++l) pair_index[pair_key(f, l)] = 0;
    for (std::size_t k = 0; k < keys; ++k)
      if (pair_index[k] != kNone) {
        pair_index[k] = static_cast<Index>(w.trade_good.size());
        add_pair(k);
      }
    for (Index f = 0; f < w.firms; ++f)
      for (int l = w.link_begin[f]; l < w.link_begin[f + 1]; ++l) w.link_trade[l] = pair_index[pair_key(f, l)];
  } else {
    std::vector<std::size_t> sorted;
    sorted.reserve(L);
    for (Index f = 0; f < w.firms; ++f)
      for (int l = w.link_begin[f]; l < w.link_begin[f + 1]; ++l) sorted.push_back(pair_key(f, l));
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    for (std::size_t k : sorted) add_pair(k);
    for (Index f = 0; f < w.firms; ++f)
      for (int l = w.link_begin[f]; l < w.link_begin[f + 1]; ++l)
        w.link_trade[l] = static_cast<Index>(
            std::lower_bound(sorted.begin(), sorted.end(), pair_key(f, l)) - sorted.begin());
  }
  w.trades = static_cast<Index>(w.trade_good.size());

  // Published market state before the first clearing: the exogenous schedule itself;
  // markets with derived demand only start empty and learn from their first clearing.
  for (Index m = 0; m < M; ++m) {
    const auto& d = w.market_exogenous[m];
    w.market_a_hat.push_back(a_hat0[m]);
    w.market_b_hat.push_back(d.present ? d.b : 1.0);
    w.market_price.push_back(d.present ? d.a : 0.0);
    w.market_sold.push_back(0.0);
    w.market_supply.push_back(0.0);
    w.market_forecast.push_back(std::numeric_limits<double>::quiet_NaN());
  }
  return w;
}

}  // namespace decouple
