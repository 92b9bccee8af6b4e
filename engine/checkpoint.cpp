#include "engine/checkpoint.hpp"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "engine/panel_file.hpp"
#include "engine/recorder.hpp"
#include "engine/simulation.hpp"

namespace decouple {

// ---- The state -----------------------------------------------------------------------------
//
// Everything a period reads that an earlier period wrote. Not listed, because each period
// recomputes it before reading it: the decomposition and routing plans (distribute()), the
// border terms per trade pair and per link (link multiplier, add, cap, denied), settlements
// (link sold, slot delivered: every link and input slot has a market slot), input bids,
// market/trade/bloc metrics and accounts, this period's policy log, U, the floor and directive
// tables, the exchange buffers and scratch (at a million firms the link arrays alone would be
// 300 MB of a checkpoint). The firms' results of the period (output, profit, …) are listed
// although most are recomputed: the recorder writes some of them for building and exited
// firms, whose values carry over, and behaviour that looks back a month will read them.
void Simulation::state(StateVisitor& v) {
  using S = StateScope;
  auto& w = world_;
  // Markets: published every period (replicated), except the last traded price (owners).
  v.array("market/price", S::replicated, w.market_price);
  v.array("market/sold", S::replicated, w.market_sold);
  v.array("market/supply", S::replicated, w.market_supply);
  v.array("market/a_hat", S::replicated, w.market_a_hat);
  v.array("market/b_hat", S::replicated, w.market_b_hat);
  v.array("market/forecast", S::replicated, w.market_forecast);
  v.array("market/allied_supply", S::replicated, allied_supply_);
  v.array("market/entry_limit_price", S::replicated, entry_limit_price_);
  v.array("market/traded_price", S::markets, traded_price_);
  // Firms.
  v.array("firm/status", S::firms, w.firm_status);
  v.array("firm/cost", S::firms, w.firm_cost);
  v.array("firm/capacity", S::firms, w.firm_capacity);
  v.array("firm/cumulative", S::firms, w.firm_cumulative);
  v.array("firm/entry_period", S::firms, w.firm_entry_period);
  v.array("firm/online_period", S::firms, w.firm_online_period);
  v.array("firm/loss_months", S::firms, w.firm_loss_months);
  v.array("firm/planned", S::firms, w.firm_planned);
  v.array("firm/output", S::firms, w.firm_output);
  v.array("firm/revenue", S::firms, w.firm_revenue);
  v.array("firm/profit", S::firms, w.firm_profit);
  v.array("firm/subsidy", S::firms, w.firm_subsidy);
  v.array("firm/floor_payment", S::firms, w.firm_floor_payment);
  v.array("firm/unit_cost", S::firms, w.firm_unit_cost);
  v.array("firm/price", S::firms, w.firm_price);
  v.array("firm/shadow", S::firms, w.firm_shadow);
  v.array("firm/input_outlay", S::firms, w.firm_input_outlay);
  // Links and input slots of the firms.
  v.array("link/q", S::links, w.link_q);
  v.array("link/plan", S::links, w.link_plan);
  v.array("slot/inventory", S::slots, w.slot_inventory);
  v.array("slot/reservation", S::slots, w.slot_reservation);
  v.array("slot/cost", S::slots, w.slot_cost);
  // Policy in force (replicated).
  auto& p = policy_;
  v.array("policy/rule", S::replicated, p.rule);
  v.array("policy/output_weight", S::replicated, p.output_weight);
  v.array("policy/tariff_ad_valorem", S::replicated, p.tariff_ad_valorem);
  v.array("policy/tariff_specific", S::replicated, p.tariff_specific);
  v.array("policy/control_kind", S::replicated, p.control_kind);
  v.array("policy/control_quantity", S::replicated, p.control_quantity);
  v.array("policy/control_approval", S::replicated, p.control_approval);
  v.array("policy/control_delay", S::replicated, p.control_delay);
  v.array("policy/control_since", S::replicated, p.control_since);
  v.array("policy/production_subsidy", S::replicated, p.production_subsidy);
  v.array("policy/investment_subsidy", S::replicated, p.investment_subsidy);
  v.array("policy/equity_share", S::replicated, p.equity_share);
  v.array("policy/mandate_share", S::replicated, p.mandate_share);
  v.array("policy/mandate_ban", S::replicated, p.mandate_ban);
  using Floor = PriceFloorContract;
  v.records("policy/floors", p.floors, field("government", &Floor::government), field("good", &Floor::good),
            field("floor", &Floor::floor), field("volume", &Floor::volume), field("start", &Floor::start),
            field("months", &Floor::months));
  v.record_lists("policy/floors", p.floors, "firms", &Floor::firms);
  using Directive = UnderpricingDirective;
  v.records("policy/directives", p.directives, field("government", &Directive::government),
            field("good", &Directive::good), field("market_region", &Directive::market_region),
            field("automatic", &Directive::automatic), field("limit_price", &Directive::limit_price),
            field("margin", &Directive::margin));
  // Every policy change so far (rules and U look back), the cause strings, the schedule.
  v.records("history", history_, field("period", &PolicyRecord::period),
            field("government", &PolicyRecord::government), field("instrument", &PolicyRecord::instrument),
            field("good", &PolicyRecord::good), field("partner", &PolicyRecord::partner),
            field("value", &PolicyRecord::value), field("previous", &PolicyRecord::previous),
            field("cause", &PolicyRecord::cause));
  v.text("causes", causes_);
  v.value("next_event", next_event_);
  // The rules' memory and what they saw last period.
  auto& r = rule_state_;
  v.array("rules/pain_months", S::replicated, r.pain_months);
  v.array("rules/truce_until", S::replicated, r.truce_until);
  v.array("rules/next_review", S::replicated, r.next_review);
  v.array("rules/rungs", S::replicated, r.rungs);
  v.array("rules/met", S::replicated, r.met);
  v.array("rules/suspended", S::replicated, r.suspended);
  v.value("rules/agreement_started", r.agreement_started);
  v.array("view/dependency", S::replicated, view_.dependency);
  v.array("view/hhi_origins", S::replicated, view_.hhi_origins);
  v.array("view/bloc_price", S::replicated, view_.bloc_price);
  v.array("view/bloc_quantity", S::replicated, view_.bloc_quantity);
  v.array("view/output_lost_share", S::replicated, view_.output_lost_share);
  v.array("view/home_price", S::replicated, view_.home_price);
  v.array("view/soe_below_cost", S::replicated, view_.soe_below_cost);
  v.array("soe_below_cost", S::replicated, soe_below_cost_);
  if (v.loading()) {
    // What the simulation derived from its own earlier state and keeps while that state cannot
    // have changed is formed again from the loaded one (a simulation may be loaded after it
    // has run): border terms and net prices, link caps, floor shares, learning at its floor,
    // and the offers' copy.
    border_inputs_ = {};
    links_special_ = true;
    floors_active_ = true;
    std::fill(learning_settled_.begin(), learning_settled_.end(), std::uint8_t{0});
    offer_memo_.reset();
    trade_memo_.reset();
  }
}

// ---- Saving and loading --------------------------------------------------------------------

namespace {

constexpr const char* kFormat = "decouple-checkpoint";
constexpr std::int64_t kCheckpointVersion = 1;
constexpr const char* kState = "/state/";
// Panel rows copied per collective block (all ranks together): bounded memory for any panel.
constexpr std::uint64_t kCopyRows = 1 << 18;

// Writes each array as /state/<name>: every rank its own part, so the file holds it in global
// id order whatever the rank count.
class Saver final : public StateVisitor {
 public:
  Saver(Simulation& sim, PanelFile& file) : sim_(sim), file_(file) {}
  bool loading() const override { return false; }
  void f64(const std::string& name, StateScope scope, std::vector<double>& v) override {
    file_.write_array(kState + name, part(name, scope, v));
  }
  void i64(const std::string& name, StateScope scope, std::vector<std::int64_t>& v) override {
    file_.write_array(kState + name, part(name, scope, v));
  }
  void text(const std::string& name, std::vector<std::string>& v) override {
    file_.write_array(kState + name, sim_.rank() == 0 ? v : std::vector<std::string>{});
  }

 private:
  template <class T>
  std::vector<T> part(const std::string& name, StateScope scope, const std::vector<T>& v) {
    const auto& w = sim_.world();
    const Index lo = sim_.firm_begin(), hi = sim_.firm_end();
    auto range = [&](std::size_t size, std::size_t a, std::size_t b) {
      if (v.size() != size)
        throw InternalError(fmt::format("checkpoint: state {} has {} values, expected {}", name, v.size(), size));
      return std::vector<T>(v.begin() + static_cast<std::ptrdiff_t>(a), v.begin() + static_cast<std::ptrdiff_t>(b));
    };
    switch (scope) {
      case StateScope::replicated: return sim_.rank() == 0 ? v : std::vector<T>{};
      case StateScope::firms: return range(static_cast<std::size_t>(w.firms), lo, hi);
      case StateScope::links:  // held for the rank's own links only (World::keep_links)
        return range(static_cast<std::size_t>(w.link_begin[hi] - w.link_begin[lo]), 0, v.size());
      case StateScope::slots: return range(static_cast<std::size_t>(w.slot_begin.back()), w.slot_begin[lo], w.slot_begin[hi]);
      case StateScope::markets:
        if constexpr (std::is_same_v<T, double>) {
          // Owners' entries to every rank (a copy: the run keeps its own).
          std::vector<double> all = range(static_cast<std::size_t>(w.markets), 0, w.markets);
          sim_.exchange().allgather_owned(all, sim_.decomposition().market_rank);
          return sim_.rank() == 0 ? all : std::vector<double>{};
        }
        break;
    }
    throw InternalError(fmt::format("checkpoint: state {}: unsupported scope", name));
  }
  Simulation& sim_;
  PanelFile& file_;
};

// Reads every array whole on every rank: owned entries are what the run needs; the others are
// then current too, which no rank reads (the same as a 1-rank run's).
class Loader final : public StateVisitor {
 public:
  Loader(const Simulation& sim, const PanelReader& file, std::string path)
      : sim_(sim), file_(file), path_(std::move(path)) {}
  bool loading() const override { return true; }
  void f64(const std::string& name, StateScope scope, std::vector<double>& v) override { load(name, scope, v); }
  void i64(const std::string& name, StateScope scope, std::vector<std::int64_t>& v) override { load(name, scope, v); }
  void text(const std::string& name, std::vector<std::string>& v) override { load(name, StateScope::replicated, v); }

 private:
  template <class T>
  void load(const std::string& name, StateScope scope, std::vector<T>& v) {
    const std::string d = kState + name;
    if (!file_.exists(d))
      throw InputError(path_, "--resume", fmt::format("has no state {} (written by another version of decouple?)", name));
    ColumnData data = file_.array(d);
    auto* values = std::get_if<std::vector<T>>(&data);
    if (values == nullptr) throw InputError(path_, "--resume", fmt::format("state {} has the wrong type", name));
    // Link state is stored for every link; this rank keeps its own firms' links.
    const auto& w = sim_.world();
    const std::size_t expected = scope == StateScope::links ? static_cast<std::size_t>(w.links) : v.size();
    if (scope != StateScope::replicated && values->size() != expected)
      throw InputError(path_, "--resume", fmt::format("state {} has {} values, this world {}", name,
                                                      values->size(), expected));
    if (scope == StateScope::links) {
      const auto lo = static_cast<std::ptrdiff_t>(w.link_begin[sim_.firm_begin()]);
      v.assign(values->begin() + lo, values->begin() + lo + static_cast<std::ptrdiff_t>(v.size()));
      return;
    }
    v = std::move(*values);
  }
  const Simulation& sim_;
  const PanelReader& file_;
  std::string path_;
};

// After a step each rank ran on its own: all go on, or all throw (this rank its own error).
void agree(Exchange& ex, const std::exception_ptr& failure, const std::string& message) {
  const ErrorAgreement verdict = ex.agree_error(failure != nullptr, message);
  if (failure) std::rethrow_exception(failure);
  if (verdict.failed) throw InternalError(fmt::format("rank {}: {}", verdict.rank, verdict.message));
}

// Where two texts first differ: "line N: 'this' here, 'that' in the checkpoint".
std::string first_difference(const std::string& here, const std::string& there) {
  auto lines = [](const std::string& s) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at <= s.size()) {
      const std::size_t nl = std::min(s.find('\n', at), s.size());
      out.push_back(s.substr(at, nl - at));
      at = nl + 1;
    }
    return out;
  };
  auto shown = [](const std::string& s) { return s.size() > 60 ? s.substr(0, 57) + "..." : s; };
  const auto a = lines(here), b = lines(there);
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "(end)", y = i < b.size() ? b[i] : "(end)";
    if (x != y) return fmt::format("line {}: '{}' here, '{}' in the checkpoint", i + 1, shown(x), shown(y));
  }
  return "no line differs";
}

}  // namespace

void StateVisitor::check_rows(const std::string& name, std::size_t rows, std::size_t values) {
  if (rows != values)
    throw InternalError(fmt::format("checkpoint: {} has fields of {} and {} rows", name, rows, values));
}

std::uint64_t write_checkpoint(const std::string& path, Simulation& sim, Recorder& recorder, PanelFile& out,
                               int next_period) {
  recorder.flush_all();
  const auto& sc = sim.scenario();
  PanelFile ck(path, /*force=*/true, out.communicator());  // path.partial, renamed over path by commit()
  ck.set_attributes("/", {{"format", std::string(kFormat)},
                          {"checkpoint_version", kCheckpointVersion},
                          {"scenario", sc.run.scenario},
                          {"seed", static_cast<std::int64_t>(sc.run.seed)},
                          {"next_period", static_cast<std::int64_t>(next_period)},
                          {"periods", static_cast<std::int64_t>(sc.run.periods)},
                          {"ranks", static_cast<std::int64_t>(sim.ranks())}});
  ck.write_text("/config", sc.resolved_toml);
  ck.set_deflate(sc.output.deflate);
  const auto P = static_cast<std::uint64_t>(sim.ranks()), r = static_cast<std::uint64_t>(sim.rank());
  for (const auto& g : out.panels()) {
    ck.create_panel(g, out.panel_columns(g));
    const std::uint64_t rows = out.panel_rows(g);
    for (std::uint64_t at = 0; at < rows; at += kCopyRows) {
      const std::uint64_t n = std::min(kCopyRows, rows - at);
      const std::uint64_t lo = at + n * r / P, hi = at + n * (r + 1) / P;
      ck.append(g, out.read_panel(g, lo, hi - lo));
    }
  }
  Saver saver(sim, ck);
  sim.state(saver);
  ck.commit();
  std::error_code ec;
  const auto size = sim.rank() == 0 ? std::filesystem::file_size(path, ec) : 0;
  return ec ? 0 : size;
}

int check_checkpoint(const std::string& path, const Scenario& sc) {
  const PanelReader f = PanelReader::any_hdf5(path, "--resume");
  const auto format = f.attribute("/", "format");
  if (!format || !std::holds_alternative<std::string>(*format) || std::get<std::string>(*format) != kFormat)
    throw InputError(path, "--resume",
                     fmt::format("is not a decouple checkpoint (no root attribute format = \"{}\")", kFormat));
  const auto version = f.attribute("/", "checkpoint_version");
  if (!version || !std::holds_alternative<std::int64_t>(*version) || std::get<std::int64_t>(*version) != kCheckpointVersion)
    throw InputError(path, "--resume", fmt::format("checkpoint format version is not {}", kCheckpointVersion));
  const auto next = f.attribute("/", "next_period");
  if (!next || !std::holds_alternative<std::int64_t>(*next) || !f.exists("/config"))
    throw InputError(path, "--resume", "is an incomplete checkpoint (no next_period or /config)");
  const std::string text = f.text("/config");
  if (text != sc.resolved_toml)
    throw InputError(path, "--resume",
                     fmt::format("belongs to another configuration ({}); resume with the config and the "
                                 "--set/--seed/--replicate options it was written with",
                                 first_difference(sc.resolved_toml, text)));
  return static_cast<int>(std::get<std::int64_t>(*next));
}

int restore_checkpoint(const std::string& path, Simulation& sim, PanelFile& out) {
  Exchange& ex = sim.exchange();
  std::exception_ptr failure;
  std::string message;
  int next = 0;
  std::unique_ptr<PanelReader> file;
  std::vector<std::string> panels;
  std::vector<std::vector<ColumnSpec>> columns;
  std::vector<std::uint64_t> rows;
  try {
    next = check_checkpoint(path, sim.scenario());
    file = std::make_unique<PanelReader>(PanelReader::any_hdf5(path, "--resume"));
    Loader loader(sim, *file, path);
    sim.state(loader);
    if (file->exists("/panel"))
      for (const auto& name : file->groups("/panel")) {
        panels.push_back("/panel/" + name);
        columns.push_back(file->columns(panels.back()));
        rows.push_back(file->rows(panels.back()));
      }
  } catch (const std::exception& e) {
    failure = std::current_exception();
    message = e.what();
  }
  agree(ex, failure, message);
  // The rows so far, block by block, each rank reading its share.
  const auto P = static_cast<std::uint64_t>(sim.ranks()), r = static_cast<std::uint64_t>(sim.rank());
  for (std::size_t i = 0; i < panels.size(); ++i)
    for (std::uint64_t at = 0; at < rows[i]; at += kCopyRows) {
      const std::uint64_t n = std::min(kCopyRows, rows[i] - at);
      const std::uint64_t lo = at + n * r / P, hi = at + n * (r + 1) / P;
      Table t;
      try {
        file->read(panels[i], columns[i], lo, hi - lo, t);
      } catch (const std::exception& e) {
        failure = std::current_exception();
        message = e.what();
      }
      agree(ex, failure, message);
      out.append(panels[i], t);
    }
  return next;
}

}  // namespace decouple
