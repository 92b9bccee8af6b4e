#include "engine/recorder.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace decouple {

const char* const kFirmStatusNames[4] = {"candidate", "building", "active", "exited"};

namespace {
constexpr std::size_t kFlushRows = 1 << 16;
// Replicated tables are flushed when they hold this many bytes (or at the end, or for a
// checkpoint): each append costs every column a few collective HDF5 calls (extend, chunk
// ownership, allocation) whatever its size, so few large appends are cheapest. The million-firm
// world's market rows (218 kB a month) are written once; its trade rows (14 MB a year) 3 times.
constexpr std::size_t kFlushBytes = std::size_t{32} << 20;

std::size_t bytes(const Table& t) {
  std::size_t b = 0;
  for (const auto& c : t.columns)
    std::visit([&](const auto& v) { b += v.size() * sizeof(v[0]); }, c);
  return b;
}

// The same columns without rows: what ranks other than 0 pass for replicated meta tables.
Table no_rows(const Table& t) {
  Table e;
  for (const auto& spec : t.specs) e.add(spec);
  return e;
}

// Rank `rank`'s share of a replicated table (every rank holds the same rows): a contiguous
// slice, in rank order, so that the ranks together write each row once and share the
// compression.
Table share(const Table& t, int rank, int ranks) {
  const std::size_t n = t.rows();
  const std::size_t lo = n * static_cast<std::size_t>(rank) / static_cast<std::size_t>(ranks);
  const std::size_t hi = n * static_cast<std::size_t>(rank + 1) / static_cast<std::size_t>(ranks);
  Table s = no_rows(t);
  for (std::size_t c = 0; c < t.columns.size(); ++c)
    std::visit([&](const auto& from) {
      auto& to = std::get<std::decay_t<decltype(from)>>(s.columns[c]);
      to.assign(from.begin() + static_cast<std::ptrdiff_t>(lo), from.begin() + static_cast<std::ptrdiff_t>(hi));
    }, t.columns[c]);
  return s;
}

ColumnSpec col(std::string name, ColumnType t, std::string units, std::string description,
               std::string codes = {}) {
  return {std::move(name), t, std::move(units), std::move(description), std::move(codes)};
}
// A firm-panel column of continuous f64 state (output, costs, capacity, profit) in a world
// whose month of firm rows fills whole chunks: the values of thousands of distinct firms do not
// repeat within a chunk and barely compress (1.2× after the shuffle in the million-firm world),
// so they are stored without filters and each rank writes its rows on its own, outside the
// collective filtered write (ColumnSpec::compress). In smaller worlds a chunk spans months of
// the same firms and these columns compress; there they keep the filters.
ColumnSpec continuous(ColumnSpec c, bool many_firms) {
  c.compress = !many_firms;
  return c;
}
ColumnSpec period_col() { return col("period", ColumnType::i32, "month", "period index (0 = run.start)"); }
ColumnSpec good_col() { return col("good", ColumnType::i32, "code", "good", "/meta/goods"); }
ColumnSpec region_col(std::string name, std::string d) {
  return col(std::move(name), ColumnType::i32, "code", std::move(d), "/meta/regions");
}
}  // namespace

Recorder::Recorder(const Simulation& sim, PanelFile& file) : sim_(sim), file_(file) {
  using T = ColumnType;
  const auto& w = sim.world();
  const auto& sc = sim.scenario();
  for (auto c : {period_col(), good_col(), region_col("region", "destination region of the market"),
                 col("price", T::f64, "USD/unit", "clearing price paid by buyers (tariff-inclusive)"),
                 col("quantity", T::f64, "units/month", "quantity sold"),
                 col("supply", T::f64, "units/month", "quantity shipped to the market"),
                 col("demand", T::f64, "units/month", "exogenous quantity at the price plus input bids"),
                 col("unsold", T::f64, "units/month", "supply no buyer takes at price 0"),
                 col("shortage", T::f64, "units/month", "input bids not served"),
                 col("hhi_firms", T::f64, "0-10000", "Herfindahl index over selling firms"),
                 col("hhi_origins", T::f64, "0-10000", "Herfindahl index over origin regions"),
                 col("dependency_share", T::f64, "1", "adversary bloc's share of supply (NaN for third-bloc markets and when nothing is sold)"),
                 col("share_west", T::f64, "1", "share of supply from west-bloc origins"),
                 col("share_china", T::f64, "1", "share of supply from china-bloc origins"),
                 col("share_third", T::f64, "1", "share of supply from third-bloc origins"),
                 col("consumer_surplus", T::f64, "USD/month", "surplus on the exogenous demand schedule"),
                 col("tariff_revenue", T::f64, "USD/month", "tariffs collected on this market's imports"),
                 col("policy_uncertainty", T::f64, "1", "U of the good: RMS of instrument changes over 24 months (0 under an agreement)")})
    market_.add(c);
  for (auto c : {period_col(), good_col(), region_col("origin", "exporting region"),
                 region_col("destination", "importing region"),
                 col("quantity", T::f64, "units/month", "quantity sold"),
                 col("value", T::f64, "USD/month", "quantity × price/(1 + ad-valorem tariff): the ad-valorem base (includes specific tariff and transport)"),
                 col("tariff_rate", T::f64, "1", "ad-valorem tariff in force"),
                 col("controlled", T::i32, "code", "export control in force", "/meta/controls")})
    trade_.add(c);
  const bool many = static_cast<std::uint64_t>(w.firms) > PanelFile::kChunkRows;  // see continuous()
  for (auto c : {period_col(), col("firm_id", T::i32, "code", "firm", "/meta/firms/firm_id"),
                 continuous(col("output", T::f64, "units/month", "output produced"), many),
                 continuous(col("planned_output", T::f64, "units/month", "output planned before input shortages"), many),
                 col("price", T::f64, "USD/unit", "average net receipt per unit sold"),
                 continuous(col("unit_cost", T::f64, "USD/unit", "marginal cost including inputs at their expected (forecast) prices"), many),
                 continuous(col("capacity", T::f64, "units/month", "capacity"), many),
                 continuous(col("profit", T::f64, "USD/month", "profit after subsidies and floor payments"), many),
                 col("subsidy", T::f64, "USD/month", "production subsidy received"),
                 col("floor_payment", T::f64, "USD/month", "price-floor top-up received"),
                 col("status", T::i32, "code", "firm status", "/meta/firm_status")})
    firm_.add(c);
  for (Index g : w.input_goods)
    firm_.add(col("inventory_" + sc.goods[g].id, T::f64, "units",
                  "stock of input " + sc.goods[g].id + " after this month's deliveries"));
  for (auto c : {period_col(), region_col("region", "government's region"),
                 col("tariff_revenue", T::f64, "USD/month", "tariffs collected"),
                 col("subsidy_outlay", T::f64, "USD/month", "production and investment subsidies paid"),
                 col("production_subsidy_outlay", T::f64, "USD/month", "production subsidies paid"),
                 col("investment_subsidy_outlay", T::f64, "USD/month", "investment subsidies paid to entrants"),
                 col("floor_outlay", T::f64, "USD/month", "price-floor top-ups paid"),
                 col("soe_support", T::f64, "USD/month", "losses of its SOEs covered (soft budget)"),
                 col("equity_outlay", T::f64, "USD/month", "equity stakes bought"),
                 col("output_lost", T::f64, "USD/month", "its firms' output lost to missing inputs, at market prices"),
                 col("consumer_surplus", T::f64, "USD/month", "surplus on the exogenous demand of its markets"),
                 col("rule_state", T::i32, "code", "decision rule in force", "/meta/rules")})
    government_.add(c);
  for (auto c : {period_col(), region_col("government", "government acting"),
                 col("instrument", T::i32, "code", "instrument changed", "/meta/instruments"),
                 col("good", T::i32, "code", "good (-1: all or none)", "/meta/goods"),
                 col("partner", T::i32, "code", "partner region (-1: none)", "/meta/regions"),
                 col("value", T::f64, "varies", "new setting: tariff rate, subsidy rate or share, floor price, mandate share; export controls: severity (ban 1, quota 0.5, licence 1 − approval, none 0)"),
                 col("previous", T::f64, "varies", "the setting it replaced (same units)"),
                 col("cause", T::i32, "code", "why", "/meta/causes")})
    policy_.add(c);
  for (auto c : {period_col(), good_col(), col("bloc", T::i32, "code", "bloc supplied", "/meta/blocs"),
                 col("quantity", T::f64, "units/month", "supply sold to the bloc's regions"),
                 col("dependency_share", T::f64, "1", "adversary bloc's share of that supply (NaN for the third bloc and when nothing is supplied)"),
                 col("share_west", T::f64, "1", "share from west-bloc origins"),
                 col("share_china", T::f64, "1", "share from china-bloc origins"),
                 col("share_third", T::f64, "1", "share from third-bloc origins"),
                 col("price", T::f64, "USD/unit", "quantity-weighted price in the bloc's markets"),
                 col("hhi_origins", T::f64, "0-10000", "Herfindahl index over origin regions"),
                 col("policy_uncertainty", T::f64, "1", "U of the good")})
    bloc_.add(c);
  const auto& o = sc.output;
  if (o.market) file_.create_panel("/panel/bloc", bloc_.specs);
  if (o.market) file_.create_panel("/panel/market", market_.specs);
  if (o.trade) file_.create_panel("/panel/trade", trade_.specs);
  if (o.firm) file_.create_panel("/panel/firm", firm_.specs);
  if (o.government) file_.create_panel("/panel/government", government_.specs);
  if (o.policy) file_.create_panel("/panel/policy", policy_.specs);
}

void Recorder::record(int period) {
  const auto& w = sim_.world();
  const auto& o = sim_.scenario().output;
  const auto& mm = sim_.markets();
  const bool regular = period % o.every == 0;
  if (o.market && regular) {
    auto& t = market_;
    for (Index m = 0; m < w.markets; ++m) {
      std::size_t c = 0;
      t.i32(c++).push_back(period);
      t.i32(c++).push_back(w.market_good[m]);
      t.i32(c++).push_back(w.market_region[m]);
      for (double v : {w.market_price[m], mm.sold[m], mm.supply[m], mm.demand[m], mm.unsold[m],
                       mm.shortage[m], mm.hhi_firms[m], mm.hhi_origins[m], mm.dependency_share[m],
                       mm.share[0][m], mm.share[1][m], mm.share[2][m], mm.consumer_surplus[m],
                       mm.tariff_revenue[m], sim_.uncertainty()[w.market_good[m]]})
        t.f64(c++).push_back(v);
    }
    const auto& bm = sim_.blocs();
    for (Index g = 0; g < w.goods; ++g)
      for (int b = 0; b < kBlocCount; ++b) {
        const auto at = static_cast<std::size_t>(b) * w.goods + g;
        if (bm.quantity[at] <= 0.0 && !std::any_of(w.market_good.begin(), w.market_good.end(), [&](Index x) { return x == g; }))
          continue;
        std::size_t c = 0;
        bloc_.i32(c++).push_back(period);
        bloc_.i32(c++).push_back(g);
        bloc_.i32(c++).push_back(b);
        for (double v : {bm.quantity[at], bm.dependency_share[at], bm.share[0][at], bm.share[1][at],
                         bm.share[2][at], bm.price[at], bm.hhi_origins[at], sim_.uncertainty()[g]})
          bloc_.f64(c++).push_back(v);
      }
  }
  if (o.trade && period % o.trade_period() == 0) {
    const auto& tm = sim_.trades();
    auto& t = trade_;
    for (Index k = 0; k < w.trades; ++k) {
      t.i32(0).push_back(period);
      t.i32(1).push_back(w.trade_good[k]);
      t.i32(2).push_back(w.trade_origin[k]);
      t.i32(3).push_back(w.trade_destination[k]);
      t.f64(4).push_back(tm.quantity[k]);
      t.f64(5).push_back(tm.value[k]);
      t.f64(6).push_back(tm.tariff_rate[k]);
      t.i32(7).push_back(tm.controlled[k]);
    }
  }
  if (o.firm && period % o.firm_every == 0) {
    // Column by column (a million firms a year: row-wise appends were most of this).
    auto& t = firm_;
    const std::size_t before = t.rows();
    std::vector<Index> ids;
    for (Index f = sim_.firm_begin(); f < sim_.firm_end(); ++f)
      if (w.firm_status[f] != FirmStatus::candidate) ids.push_back(f);
    const std::size_t n = ids.size();
    for (auto& column : t.columns) std::visit([&](auto& v) { v.resize(before + n); }, column);
    std::size_t c = 0;
    std::fill_n(t.i32(c++).begin() + before, n, period);
    std::copy(ids.begin(), ids.end(), t.i32(c++).begin() + before);
    // Without entrant candidates (a synthetic world's firms are all plants) the rows are the
    // rank's contiguous range: copies, not gathers.
    const bool contiguous = n == static_cast<std::size_t>(sim_.firm_end() - sim_.firm_begin());
    for (const auto* v : {&w.firm_output, &w.firm_planned, &w.firm_price, &w.firm_unit_cost, &w.firm_capacity,
                          &w.firm_profit, &w.firm_subsidy, &w.firm_floor_payment}) {
      auto* out = t.f64(c++).data() + before;
      if (contiguous)
        std::copy_n(v->data() + sim_.firm_begin(), n, out);
      else
        for (std::size_t r = 0; r < n; ++r) out[r] = (*v)[ids[r]];
    }
    auto* status = t.i32(c++).data() + before;
    for (std::size_t r = 0; r < n; ++r) status[r] = static_cast<std::int32_t>(w.firm_status[ids[r]]);
    // Stock of each input good: its slot's inventory (the last such slot), else 0 (resize).
    std::vector<int> input_column(static_cast<std::size_t>(w.goods), -1);
    std::vector<double*> stock;
    for (Index g : w.input_goods) {
      input_column[g] = static_cast<int>(stock.size());
      stock.push_back(t.f64(c++).data() + before);
    }
    for (std::size_t r = 0; r < n; ++r)
      for (int s = w.slot_begin[ids[r]]; s < w.slot_begin[ids[r] + 1]; ++s)
        if (const int k = input_column[w.slot_good[s]]; k >= 0) stock[k][r] = w.slot_inventory[s];
    firm_segments_.push_back(t.rows() - before);
  }
  if (o.government && regular) {
    const auto& a = sim_.accounts();
    auto& t = government_;
    for (Index r = 0; r < w.regions; ++r) {
      std::size_t c = 0;
      t.i32(c++).push_back(period);
      t.i32(c++).push_back(r);
      for (double v : {a.tariff_revenue[r], a.subsidy_outlay[r], a.production_subsidy_outlay[r],
                       a.investment_subsidy_outlay[r], a.floor_outlay[r], a.soe_support[r],
                       a.equity_outlay[r], a.output_lost[r], a.consumer_surplus[r]})
        t.f64(c++).push_back(v);
      t.i32(c++).push_back(static_cast<std::int32_t>(sim_.policy().rule[r]));
    }
  }
  if (o.policy) {
    auto& t = policy_;
    for (const auto& e : sim_.policy_log()) {
      t.i32(0).push_back(e.period);
      t.i32(1).push_back(e.government);
      t.i32(2).push_back(static_cast<std::int32_t>(e.instrument));
      t.i32(3).push_back(e.good);
      t.i32(4).push_back(e.partner);
      t.f64(5).push_back(e.value);
      t.f64(6).push_back(e.previous);
      t.i32(7).push_back(e.cause);
    }
  }
  flush(false);
}

void Recorder::wait_for_all() {
  const auto t0 = std::chrono::steady_clock::now();
  MPI_Barrier(file_.communicator());
  waiting_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Recorder::flush_all() {
  const double waited = waiting_seconds_;
  flush(true);
  waiting_seconds_ = waited;
}

void Recorder::flush(bool all) {
  const auto& o = sim_.scenario().output;
  // Replicated tables: the same rows on every rank, so the same decision; each rank writes its
  // share.
  const std::pair<Table*, const char*> panels[] = {{&market_, "/panel/market"}, {&trade_, "/panel/trade"},
                                                    {&government_, "/panel/government"},
                                                    {&policy_, "/panel/policy"}, {&bloc_, "/panel/bloc"}};
  const bool on[] = {o.market, o.trade, o.government, o.policy, o.market};
  bool due[5];
  for (std::size_t i = 0; i < 5; ++i)
    due[i] = on[i] && panels[i].first->rows() > 0 && (all || bytes(*panels[i].first) >= kFlushBytes);
  // Firm rows: each rank its own; decided by the number of buffered periods (the same on
  // every rank) so that a flush holds about kFlushRows rows in all.
  const std::size_t firms = std::max<std::size_t>(1, static_cast<std::size_t>(sim_.world().firms));
  const std::size_t periods = std::max<std::size_t>(1, kFlushRows / firms);
  const bool firm_due = o.firm && !firm_segments_.empty() && (all || firm_segments_.size() >= periods);
  if (firm_due || std::find(std::begin(due), std::end(due), true) != std::end(due)) wait_for_all();
  for (std::size_t i = 0; i < 5; ++i) {
    if (!due[i]) continue;
    auto& [table, path] = panels[i];
    file_.append(path, share(*table, sim_.rank(), sim_.ranks()));
    table->clear_rows();
  }
  if (firm_due) {
    file_.append("/panel/firm", firm_, firm_segments_);
    firm_.clear_rows();
    firm_segments_.clear();
  }
}

void Recorder::finish() {
  flush(true);
  const auto& w = sim_.world();
  const auto& sc = sim_.scenario();
  std::vector<std::string> regions, goods, causes = sim_.causes();
  for (const auto& r : sc.regions) regions.push_back(r.id);
  for (const auto& g : sc.goods) goods.push_back(g.id);
  file_.write_strings("/meta/regions", regions);
  file_.write_strings("/meta/goods", goods);
  file_.write_strings("/meta/blocs", {"west", "china", "third"});
  file_.write_strings("/meta/kinds", {"western", "soe"});
  file_.write_strings("/meta/firm_status", {kFirmStatusNames, kFirmStatusNames + 4});
  file_.write_strings("/meta/controls", {"none", "ban", "quota", "license"});
  file_.write_strings("/meta/rules", {"none", "reactive", "diversify", "reciprocal"});
  std::vector<std::string> instruments;
  for (int i = 0; i <= static_cast<int>(Instrument::agreement); ++i)
    instruments.push_back(to_string(static_cast<Instrument>(i)));
  file_.write_strings("/meta/instruments", instruments);
  file_.write_strings("/meta/causes", causes);

  using T = ColumnType;
  Table regions_t;
  regions_t.add(col("region", T::i32, "code", "region", "/meta/regions"));
  regions_t.add(col("bloc", T::i32, "code", "bloc", "/meta/blocs"));
  for (Index r = 0; r < w.regions; ++r) {
    regions_t.i32(0).push_back(r);
    regions_t.i32(1).push_back(static_cast<std::int32_t>(w.region_bloc[r]));
  }
  const bool root = sim_.rank() == 0;
  file_.write_table("/meta/region_blocs", root ? regions_t : no_rows(regions_t));

  Table markets_t;
  markets_t.add(col("good", T::i32, "code", "good", "/meta/goods"));
  markets_t.add(col("region", T::i32, "code", "destination region", "/meta/regions"));
  markets_t.add(col("demand_a", T::f64, "USD/unit", "exogenous demand intercept a (NaN: derived demand only)"));
  markets_t.add(col("demand_b", T::f64, "USD/unit per unit/month", "exogenous demand slope b"));
  for (Index m = 0; m < w.markets; ++m) {
    const auto& d = w.market_exogenous[m];
    markets_t.i32(0).push_back(w.market_good[m]);
    markets_t.i32(1).push_back(w.market_region[m]);
    markets_t.f64(2).push_back(d.present ? d.a : std::numeric_limits<double>::quiet_NaN());
    markets_t.f64(3).push_back(d.present ? d.b : std::numeric_limits<double>::quiet_NaN());
  }
  file_.write_table("/meta/markets", root ? markets_t : no_rows(markets_t));

  std::vector<ColumnSpec> firms{
      col("firm_id", T::str, "", "firm id (entrant candidates: pool#k)"),
      col("region", T::i32, "code", "home region", "/meta/regions"),
      col("good", T::i32, "code", "good produced", "/meta/goods"),
      col("kind", T::i32, "code", "western or soe", "/meta/kinds"),
      col("entry_period", T::i32, "month", "period it entered (-1: never; listed firms: first simulated period)"),
      col("destinations", T::str, "", "regions it may sell to, ';'-separated"),
      col("marginal_cost", T::f64, "USD/unit", "initial marginal cost before inputs"),
      col("final_status", T::i32, "code", "status at the end of the run", "/meta/firm_status")};
  // Each rank its own firms, in rank = id order, made and written a block at a time (held
  // whole, a million firms' strings were ≈ 150 MB at the run's peak). First the string
  // columns' widths: the longest id, and the longest list of destinations with separators.
  const Index lo = sim_.firm_begin(), hi = sim_.firm_end();
  auto destinations = [&](Index f, std::string& out) {
    for (int l = w.first_link(f); l < w.end_link(f); ++l) {
      if (l > w.first_link(f)) out += ';';
      out += sc.regions[w.link_destination(l)].id;
    }
  };
  // (The destinations' width is summed from the region ids' lengths, not spelt out twice.)
  std::vector<std::size_t> region_id_length;
  for (const auto& r : sc.regions) region_id_length.push_back(r.id.size());
  std::vector<std::size_t> width(firms.size(), 0);
  for (Index f = lo; f < hi; ++f) {
    width[0] = std::max(width[0], w.firm_name(f).size());
    std::size_t length = 0;
    for (int l = w.first_link(f); l < w.end_link(f); ++l)
      length += (l > w.first_link(f) ? 1 : 0) + region_id_length[static_cast<std::size_t>(w.link_destination(l))];
    width[5] = std::max(width[5], length);
  }
  wait_for_all();  // the widths took longer on some ranks
  file_.write_table("/meta/firms", firms, static_cast<std::uint64_t>(hi - lo), width,
                    [&](std::uint64_t first, std::uint64_t count, Table& block) {
                      const Index f0 = lo + static_cast<Index>(first), f1 = f0 + static_cast<Index>(count);
                      for (Index f = f0; f < f1; ++f) {
                        block.str(0).push_back(w.firm_name(f));
                        block.i32(1).push_back(w.firm_region[f]);
                        block.i32(2).push_back(w.firm_good[f]);
                        block.i32(3).push_back(static_cast<std::int32_t>(w.firm_kind[f]));
                        block.i32(4).push_back(w.firm_entry_period[f]);
                        destinations(f, block.str(5).emplace_back());
                        block.f64(6).push_back(w.firm_cost0[f]);
                        block.i32(7).push_back(static_cast<std::int32_t>(w.firm_status[f]));
                      }
                    });
}

}  // namespace decouple
