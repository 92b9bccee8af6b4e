// Scenario loading: the smallest config, every invalid config in configs/invalid/,
// base layering, --set overrides, the resolved-TOML round trip.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/errors.hpp"
#include "engine/config.hpp"

namespace fs = std::filesystem;
using namespace decouple;

namespace {

const std::string kConfigs = std::string(DECOUPLE_SOURCE_DIR) + "/configs";
const std::string kTwoFirm = kConfigs + "/two_firm_check.toml";
const std::string kLayered = kConfigs + "/valid/layered.toml";

// A fresh directory for files written by one test; removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / fmt::format("decouple_test_config_{}_{}", ::getpid(), counter++);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The problems of a failing load; an empty vector (and a test failure) if it loads.
std::vector<Problem> problems_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_scenario(path, overrides);
  } catch (const InputError& e) {
    return e.problems();
  }
  ADD_FAILURE() << path << " loaded without error";
  return {};
}

std::string joined(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.format() + "\n";
  return s;
}

// Problems whose formatted line contains `text`.
std::vector<Problem> matching(const std::vector<Problem>& ps, const std::string& text) {
  std::vector<Problem> out;
  for (const auto& p : ps)
    if (p.format().find(text) != std::string::npos) out.push_back(p);
  return out;
}

Scenario load_ok(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    return load_scenario(path, overrides);
  } catch (const InputError& e) {
    ADD_FAILURE() << "unexpected InputError:\n" << e.what();
    return {};
  }
}

std::string num(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }
std::string opt(const std::optional<double>& v) { return v ? num(*v) : "unset"; }
template <class T>
std::string list(const std::vector<T>& v) {
  std::string s = "[";
  for (const auto& x : v) s += fmt::format("{},", x);
  return s + "]";
}

// Every field of a Scenario except source_path, one per line, for equality checks.
std::string dump(const Scenario& s) {
  std::ostringstream o;
  const auto& r = s.run;
  o << fmt::format("run {} {} {} {} {} {} {}\n", r.scenario, r.periods, r.seed, r.start, r.start_year,
                   r.start_month, r.burn_in);
  const auto& b = s.behaviour;
  o << fmt::format("behaviour {} {} {} {} {} {} {}\n", num(b.adjustment), num(b.price_expectation),
                   num(b.demand_window), num(b.inventory_cover), b.exit_after, num(b.uncertainty_premium),
                   num(b.investment_rate));
  for (const auto& x : s.regions) o << fmt::format("region {} {}\n", x.id, to_string(x.bloc));
  for (const auto& x : s.goods) {
    o << fmt::format("good {} {} {} {} {} {} inputs:", x.id, x.unit, num(x.transport_cost), num(x.progress_ratio),
                     num(x.learning_floor), opt(x.inventory_cover));
    for (const auto& in : x.inputs) o << fmt::format(" {}={}", in.good, num(in.units));
    o << "\n";
  }
  for (const auto& x : s.markets) o << fmt::format("market {} {} {} {}\n", x.good, x.region, num(x.a), num(x.b));
  for (const auto& x : s.routes)
    o << fmt::format("route {} {} {} {}\n", x.origin, x.destination, x.good, num(x.cost));
  for (const auto& x : s.firms)
    o << fmt::format("firm {} {} {} {} {} {} {} {} {} {} {}\n", x.id, x.region, x.good, to_string(x.kind),
                     num(x.marginal_cost), num(x.cost_slope), num(x.capacity), num(x.fixed_cost),
                     opt(x.output_weight), num(x.welfare_weight), list(x.sells_to));
  for (const auto& x : s.entrant_pools)
    o << fmt::format("pool {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n", x.id, x.good, x.region,
                     to_string(x.kind), x.candidates, num(x.capex), num(x.capacity), num(x.marginal_cost),
                     num(x.cost_sigma), num(x.capex_sigma), num(x.fixed_cost), x.build_lag, num(x.hurdle_rate),
                     x.lifetime, x.first_period, list(x.sells_to));
  for (const auto& g : s.governments) {
    o << fmt::format("government {} {} {}\n", g.region, to_string(g.rule), num(g.output_weight));
    for (const auto& x : g.tariffs)
      o << fmt::format("  tariff {} {} {} {}\n", x.good, x.exporter, num(x.ad_valorem), num(x.specific));
    for (const auto& x : g.export_controls)
      o << fmt::format("  control {} {} {} {} {} {}\n", x.good, x.partner, to_string(x.kind), num(x.quantity),
                       num(x.approval), x.delay);
    for (const auto& x : g.production_subsidies) o << fmt::format("  psub {} {}\n", x.good, num(x.rate));
    for (const auto& x : g.investment_subsidies) o << fmt::format("  isub {} {}\n", x.good, num(x.rate));
    for (const auto& x : g.equity_stakes) o << fmt::format("  equity {} {}\n", x.good, num(x.rate));
    for (const auto& x : g.price_floors)
      o << fmt::format("  floor {} {} {} {} {}\n", x.good, num(x.floor), num(x.volume), x.months, list(x.firms));
    for (const auto& x : g.underpricing)
      o << fmt::format("  under {} {} {} {}\n", x.good, x.market, opt(x.limit_price), num(x.margin));
    for (const auto& x : g.sourcing_mandates)
      o << fmt::format("  mandate {} {} {}\n", x.good, num(x.min_allied_share), x.ban_adversary);
  }
  for (const auto& e : s.events)
    o << fmt::format("event {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n", e.period,
                     e.government, to_string(e.instrument), e.good, e.partner, to_string(e.kind), num(e.ad_valorem),
                     num(e.specific), num(e.quantity), num(e.approval), e.delay, num(e.rate), num(e.floor),
                     num(e.volume), e.months, opt(e.limit_price), num(e.margin), num(e.share), e.ban_adversary,
                     e.lift, e.cause);
  const auto& out = s.output;
  o << fmt::format("output {} {} {} {} {} {} {} {}\n", out.market, out.trade, out.firm, out.government, out.policy,
                   out.every, out.firm_every, out.trade_every);
  return o.str();
}


}  // namespace

// ---------------------------------------------------------------------------------------

TEST(ParseYearMonth, AcceptsOnlyYYYYMM) {
  int y = 0, m = 0;
  EXPECT_TRUE(parse_year_month("2024-01", y, m));
  EXPECT_EQ(y, 2024);
  EXPECT_EQ(m, 1);
  EXPECT_TRUE(parse_year_month("1999-12", y, m));
  EXPECT_EQ(y, 1999);
  EXPECT_EQ(m, 12);
  for (const char* bad : {"2024-13", "2024-00", "2024-1", "24-01", "2024/01", "2024-01-01", "", "abcd-ef",
                          " 2024-01", "2024-1a"}) {
    y = m = -7;
    EXPECT_FALSE(parse_year_month(bad, y, m)) << bad;
    EXPECT_EQ(y, -7) << bad;  // untouched on failure
  }
}

TEST(LoadScenario, TwoFirmCheckHasTheExpectedValues) {
  const Scenario s = load_ok(kTwoFirm);
  EXPECT_EQ(s.source_path, kTwoFirm);
  EXPECT_EQ(s.run.scenario, "two-firm-check");
  EXPECT_EQ(s.run.periods, 300);
  EXPECT_EQ(s.run.seed, 7u);
  EXPECT_EQ(s.run.start, "2024-01");
  EXPECT_EQ(s.run.start_year, 2024);
  EXPECT_EQ(s.run.start_month, 1);
  EXPECT_EQ(s.run.burn_in, 0);
  EXPECT_EQ(s.behaviour.adjustment, 0.3);
  EXPECT_EQ(s.behaviour.price_expectation, 0.2);  // defaults
  EXPECT_EQ(s.behaviour.demand_window, 0.1);
  EXPECT_EQ(s.behaviour.exit_after, 12);

  ASSERT_EQ(s.regions.size(), 2u);
  EXPECT_EQ(s.regions[0].id, "HOME");
  EXPECT_EQ(s.regions[0].bloc, Bloc::west);
  EXPECT_EQ(s.regions[1].id, "ABROAD");
  EXPECT_EQ(s.regions[1].bloc, Bloc::china);

  ASSERT_EQ(s.goods.size(), 1u);
  EXPECT_EQ(s.goods[0].id, "widget");
  EXPECT_EQ(s.goods[0].unit, "t");
  EXPECT_TRUE(s.goods[0].inputs.empty());
  EXPECT_EQ(s.goods[0].progress_ratio, 1.0);
  EXPECT_FALSE(s.goods[0].inventory_cover.has_value());

  ASSERT_EQ(s.markets.size(), 1u);
  EXPECT_EQ(s.markets[0].good, 0);
  EXPECT_EQ(s.markets[0].region, 0);
  EXPECT_EQ(s.markets[0].a, 120.0);
  EXPECT_EQ(s.markets[0].b, 0.5);
  EXPECT_TRUE(s.routes.empty());

  // ĉ = 10 for home-1 and 1.2·(12 − 5) = 8.4 for abroad-1.
  ASSERT_EQ(s.firms.size(), 2u);
  const FirmSpec& home = s.firms[0];
  EXPECT_EQ(home.id, "home-1");
  EXPECT_EQ(home.region, 0);
  EXPECT_EQ(home.good, 0);
  EXPECT_EQ(home.kind, FirmKind::western);
  EXPECT_EQ(home.marginal_cost, 10.0);
  EXPECT_EQ(home.cost_slope, 0.0);
  EXPECT_EQ(home.capacity, 1000.0);
  EXPECT_FALSE(home.output_weight.has_value());
  EXPECT_EQ(home.sells_to, std::vector<Index>{0});
  const FirmSpec& abroad = s.firms[1];
  EXPECT_EQ(abroad.id, "abroad-1");
  EXPECT_EQ(abroad.region, 1);
  EXPECT_EQ(abroad.kind, FirmKind::soe);
  EXPECT_EQ(abroad.marginal_cost, 12.0);
  ASSERT_TRUE(abroad.output_weight.has_value());
  EXPECT_EQ(*abroad.output_weight, 5.0);
  EXPECT_EQ(abroad.welfare_weight, 0.0);
  EXPECT_EQ(abroad.sells_to, std::vector<Index>{0});
  EXPECT_TRUE(s.entrant_pools.empty());

  ASSERT_EQ(s.governments.size(), 1u);
  const GovernmentSpec& g = s.governments[0];
  EXPECT_EQ(g.region, 0);
  EXPECT_EQ(g.rule, Rule::none);
  ASSERT_EQ(g.tariffs.size(), 1u);
  EXPECT_EQ(g.tariffs[0].good, 0);
  EXPECT_EQ(g.tariffs[0].exporter, 1);  // ABROAD
  EXPECT_EQ(g.tariffs[0].ad_valorem, 0.2);
  EXPECT_EQ(g.tariffs[0].specific, 0.0);
  EXPECT_TRUE(g.export_controls.empty());
  EXPECT_TRUE(s.events.empty());
  EXPECT_TRUE(s.output.firm);
  EXPECT_EQ(s.output.every, 1);
  EXPECT_EQ(s.output.trade_period(), 1);  // trade rows follow `every` unless trade_every is set
  EXPECT_FALSE(s.resolved_toml.empty());
  EXPECT_EQ(s.resolved_toml.find("base"), std::string::npos);
}

// Every file in configs/invalid/ starts with `# expect: TEXT`; optional
// `# expect-line: N` and `# expect-file: RELATIVE` lines pin the position.
TEST(LoadScenario, EveryInvalidConfigFailsWithItsExpectedProblem) {
  const fs::path dir = kConfigs + "/invalid";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".toml") continue;
    ++cases;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    std::ifstream in(path, std::ios::binary);
    std::string expect, expect_file = path;
    int expect_line = -1;
    for (std::string line; std::getline(in, line) && line.rfind("# expect", 0) == 0;) {
      if (line.rfind("# expect: ", 0) == 0) expect = line.substr(10);
      if (line.rfind("# expect-line: ", 0) == 0) expect_line = std::stoi(line.substr(15));
      if (line.rfind("# expect-file: ", 0) == 0)
        expect_file = (entry.path().parent_path() / line.substr(15)).lexically_normal().string();
    }
    ASSERT_FALSE(expect.empty()) << "no '# expect: ' first line";
    const auto ps = problems_of(path);
    const auto hits = matching(ps, expect);
    ASSERT_EQ(hits.size(), 1u) << "expected exactly one line with '" << expect << "' in:\n" << joined(ps);
    EXPECT_EQ(hits[0].file, expect_file) << joined(ps);
    if (expect_line >= 0)
      EXPECT_EQ(hits[0].line, expect_line) << joined(ps);
    else
      EXPECT_GT(hits[0].line, 0) << joined(ps);
    if (hits[0].line > 0) {
      EXPECT_GT(hits[0].column, 0);
    }
  }
  EXPECT_GE(cases, 30) << "too few invalid cases in " << dir;
}

TEST(LoadScenario, EveryValidExampleLoads) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(kConfigs + "/valid")) {
    if (entry.path().extension() != ".toml") continue;
    ++n;
    SCOPED_TRACE(entry.path().string());
    load_ok(entry.path().string());
  }
  EXPECT_GE(n, 2);
}

TEST(LoadScenario, ReportsEveryProblemOrderedByPosition) {
  TempDir tmp;
  const std::string path = tmp.write("multi.toml", R"(base = ")" + kTwoFirm + R"("
[run]
periods = -1
burn_in = 1.5

[[firm]]
id = "home-1"
capacity = -2
region = "XX"
sells_to = ["HOME", "HOME"]
colour = "red"

[[event]]
at = 1000
government = "HOME"
instrument = "tariff"
good = "widget"
partner = "ABROAD"
ad_valorem = nan
rate = 1
)");
  const auto ps = problems_of(path);
  const std::vector<std::pair<int, std::string>> expected = {
      {3, "run.periods: must be >= 1 (got -1)"},
      {4, "run.burn_in: expected an integer, got a float"},
      {8, "firm.home-1.capacity: must be >= 0 (got -2)"},
      {9, "firm.home-1.region: unknown region 'XX'"},
      {10, "firm.home-1.sells_to[1]: duplicate region 'HOME'"},
      {11, "firm.home-1.colour: unknown key"},
      {19, "event[0].ad_valorem: must be a finite number"},
      {20, "event[0].rate: not used by instrument 'tariff'"},
  };
  ASSERT_EQ(ps.size(), expected.size()) << joined(ps);
  for (std::size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(ps[i].file, path);
    EXPECT_EQ(ps[i].line, expected[i].first) << ps[i].format();
    EXPECT_NE(ps[i].format().find(expected[i].second), std::string::npos) << ps[i].format();
  }
  // at = 1000 is outside the run only when periods is valid; here periods is not, so no
  // extra problem. The InputError message holds every line.
  try {
    load_scenario(path);
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()) + "\n", joined(ps));
  }
}

TEST(LoadScenario, FileLevelProblems) {
  TempDir tmp;
  auto one = [](const std::string& path, const std::string& text) {
    const auto ps = problems_of(path);
    ASSERT_EQ(ps.size(), 1u) << joined(ps);
    EXPECT_EQ(ps[0].file, path);
    EXPECT_NE(ps[0].message.find(text), std::string::npos) << ps[0].format();
  };
  one(tmp.path("missing.toml"), "file not found");
  fs::create_directories(tmp.path("adir"));
  one(tmp.path("adir"), "is a directory");
  one(tmp.write("empty.toml", ""), "file is empty");
  one(tmp.write("blank.toml", "  \n\n# only a comment\n\t\n"), "file is empty");
  one(tmp.write("nul.toml", std::string("[run]\nscenario = \"a\0b\"\n", 22)), "not a text TOML file");
  one(tmp.write("latin1.toml", "[run]\nscenario = \"caf\xe9\"\n"), "not a text TOML file");
  // A syntax error has toml++'s position.
  const auto ps = problems_of(tmp.write("syntax.toml", "[run]\nscenario = \"x\"\nperiods = [1,\n"));
  ASSERT_EQ(ps.size(), 1u) << joined(ps);
  EXPECT_EQ(ps[0].key, "syntax");
  EXPECT_GE(ps[0].line, 3);
}

TEST(LoadScenario, ProblemsInABaseFileNameTheBaseFile) {
  TempDir tmp;
  tmp.write("sub/base.toml", "[run]\nscenario = \"b\"\nperiods = 12\nseed = 1\nstart = \"2024-01\"\nburn_in = -1\n");
  const std::string top = tmp.write("top.toml", "base = \"sub/base.toml\"\n[run]\nseed = 2\n");
  const auto ps = problems_of(top);
  ASSERT_EQ(ps.size(), 1u) << joined(ps);
  EXPECT_EQ(ps[0].file, tmp.path("sub/base.toml"));
  EXPECT_EQ(ps[0].line, 6);
  EXPECT_EQ(ps[0].key, "run.burn_in");
  // Missing base: reported at the base key, naming the file.
  const std::string bad = tmp.write("bad.toml", "\n\nbase = \"nope.toml\"\n");
  const auto ms = problems_of(bad);
  ASSERT_EQ(ms.size(), 1u) << joined(ms);
  EXPECT_EQ(ms[0].file, bad);
  EXPECT_EQ(ms[0].line, 3);
  EXPECT_NE(ms[0].message.find("nope.toml"), std::string::npos);
  // Base cycle: the chain is named.
  tmp.write("a.toml", "base = \"b.toml\"\n");
  tmp.write("b.toml", "base = \"a.toml\"\n");
  const auto cs = problems_of(tmp.path("a.toml"));
  ASSERT_EQ(cs.size(), 1u) << joined(cs);
  EXPECT_NE(cs[0].message.find("base cycle: " + tmp.path("a.toml") + " -> " + tmp.path("b.toml") + " -> " +
                               tmp.path("a.toml")),
            std::string::npos)
      << cs[0].format();
}

TEST(LoadScenario, BaseLayering) {
  const Scenario s = load_ok(kLayered);
  EXPECT_EQ(s.run.periods, 120);            // scalar override
  EXPECT_EQ(s.run.scenario, "two-firm-check");  // kept from the base
  EXPECT_EQ(s.run.seed, 7u);
  EXPECT_EQ(s.run.burn_in, 6);
  EXPECT_EQ(s.behaviour.adjustment, 0.3);   // table merged key by key
  EXPECT_EQ(s.behaviour.demand_window, 0.05);
  EXPECT_EQ(s.output.firm_every, 12);

  ASSERT_EQ(s.regions.size(), 2u);
  ASSERT_EQ(s.goods.size(), 2u);  // widget merged, ore appended
  EXPECT_EQ(s.goods[0].id, "widget");
  EXPECT_EQ(s.goods[0].unit, "t");
  EXPECT_EQ(s.goods[0].progress_ratio, 0.9);
  ASSERT_EQ(s.goods[0].inputs.size(), 1u);
  EXPECT_EQ(s.goods[0].inputs[0].good, 1);
  EXPECT_EQ(s.goods[0].inputs[0].units, 0.4);
  EXPECT_EQ(s.goods[1].id, "ore");
  EXPECT_EQ(s.goods[1].transport_cost, 0.5);

  ASSERT_EQ(s.markets.size(), 2u);  // widget@HOME merged: a from the layer, b from the base
  EXPECT_EQ(s.markets[0].a, 130.0);
  EXPECT_EQ(s.markets[0].b, 0.5);
  EXPECT_EQ(s.markets[1].good, 1);
  EXPECT_EQ(s.markets[1].region, 1);

  ASSERT_EQ(s.routes.size(), 2u);
  EXPECT_EQ(s.routes[0].good, kNone);
  EXPECT_EQ(s.routes[0].cost, 2.0);
  EXPECT_EQ(s.routes[1].good, 1);

  ASSERT_EQ(s.firms.size(), 3u);  // home-1 merged by id, miner-1 appended
  EXPECT_EQ(s.firms[0].id, "home-1");
  EXPECT_EQ(s.firms[0].capacity, 500.0);
  EXPECT_EQ(s.firms[0].marginal_cost, 10.0);
  EXPECT_EQ(s.firms[1].id, "abroad-1");
  EXPECT_EQ(s.firms[2].id, "miner-1");
  EXPECT_EQ(s.firms[2].welfare_weight, 0.5);
  EXPECT_EQ(s.firms[2].sells_to, (std::vector<Index>{1, 0}));

  ASSERT_EQ(s.entrant_pools.size(), 1u);
  const auto& p = s.entrant_pools[0];
  EXPECT_EQ(p.candidates, 4);
  EXPECT_EQ(p.first_period, 12);  // "2025-01" relative to 2024-01
  EXPECT_EQ(p.build_lag, 18);
  EXPECT_EQ(p.hurdle_rate, 0.08);  // default
  EXPECT_EQ(p.lifetime, 120);

  ASSERT_EQ(s.governments.size(), 2u);
  const auto& home = s.governments[0];  // merged with the base's HOME government
  EXPECT_EQ(home.region, 0);
  EXPECT_EQ(home.rule, Rule::diversify);
  ASSERT_EQ(home.tariffs.size(), 1u);  // from the base
  ASSERT_EQ(home.price_floors.size(), 1u);
  EXPECT_EQ(home.price_floors[0].firms, std::vector<Index>{0});
  EXPECT_EQ(home.investment_subsidies[0].rate, 0.25);
  EXPECT_EQ(home.sourcing_mandates[0].min_allied_share, 0.6);
  const auto& abroad = s.governments[1];
  EXPECT_EQ(abroad.region, 1);
  EXPECT_EQ(abroad.rule, Rule::reactive);
  ASSERT_EQ(abroad.export_controls.size(), 1u);
  EXPECT_EQ(abroad.export_controls[0].kind, ControlKind::license);
  EXPECT_EQ(abroad.export_controls[0].approval, 0.3);
  EXPECT_EQ(abroad.export_controls[0].delay, 2);
  ASSERT_EQ(abroad.underpricing.size(), 1u);
  EXPECT_FALSE(abroad.underpricing[0].limit_price.has_value());  // default "auto"
  EXPECT_EQ(abroad.underpricing[0].margin, 0.1);

  // Events: the base's two, then the layer's four, sorted by period (stable).
  ASSERT_EQ(s.events.size(), 6u);
  EXPECT_EQ(s.events[0].period, 0);
  EXPECT_EQ(s.events[0].instrument, Instrument::export_control);
  EXPECT_EQ(s.events[0].kind, ControlKind::quota);
  EXPECT_EQ(s.events[0].quantity, 100.0);
  EXPECT_EQ(s.events[1].period, 15);  // base event (file order within a period)
  EXPECT_EQ(s.events[1].instrument, Instrument::tariff);
  EXPECT_EQ(s.events[1].ad_valorem, 0.5);
  EXPECT_TRUE(std::isnan(s.events[1].specific));
  EXPECT_EQ(s.events[1].cause, "escalation");
  EXPECT_EQ(s.events[2].period, 15);
  EXPECT_EQ(s.events[2].instrument, Instrument::truce);
  EXPECT_EQ(s.events[2].partner, 0);
  EXPECT_EQ(s.events[2].good, kNone);
  EXPECT_EQ(s.events[3].period, 24);
  EXPECT_EQ(s.events[3].instrument, Instrument::underpricing);
  ASSERT_TRUE(s.events[3].limit_price.has_value());
  EXPECT_EQ(*s.events[3].limit_price, 20.0);
  EXPECT_EQ(s.events[4].period, 30);
  EXPECT_EQ(s.events[4].instrument, Instrument::output_weight);
  EXPECT_EQ(s.events[4].rate, 8.0);
  EXPECT_EQ(s.events[5].period, 40);
  EXPECT_TRUE(s.events[5].lift);
}

TEST(LoadScenario, SetOverridesEveryAddressForm) {
  const Scenario s = load_ok(kLayered, {
                                           "run.periods=60",
                                           "run.scenario=foo",  // bare string
                                           "behaviour.adjustment=0.5",
                                           "output.every = 3",
                                           "output.trade_every = 12",
                                           "output.deflate = 0",
                                           "region.ABROAD.bloc=third",
                                           "good.ore.unit=\"kg\"",
                                           "good.widget.inputs.ore=0.25",
                                           "firm.home-1.capacity=500.5",
                                           "firm.miner-1.sells_to=[\"HOME\"]",
                                           "entrant_pool.greenfield.first_period=\"2024-07\"",
                                           "government.HOME.rule=\"none\"",
                                           "government.HOME.tariffs[0].ad_valorem=0.35",
                                           "market.widget@HOME.demand.a=140",
                                           "market.ore@ABROAD.demand={ a = 50, b = 2 }",
                                           "route[1].cost=0.75",
                                           "event[0].at=11",
                                           "firm.abroad-1.welfare_weight=0.25",
                                       });
  EXPECT_EQ(s.run.periods, 60);
  EXPECT_EQ(s.run.scenario, "foo");
  EXPECT_EQ(s.behaviour.adjustment, 0.5);
  EXPECT_EQ(s.output.every, 3);
  EXPECT_EQ(s.output.trade_period(), 12);
  EXPECT_EQ(s.output.deflate, 0);
  EXPECT_EQ(s.regions[1].bloc, Bloc::third);
  EXPECT_EQ(s.goods[1].unit, "kg");
  EXPECT_EQ(s.goods[0].inputs[0].units, 0.25);
  EXPECT_EQ(s.firms[0].capacity, 500.5);
  EXPECT_EQ(s.firms[2].sells_to, std::vector<Index>{0});
  EXPECT_EQ(s.entrant_pools[0].first_period, 6);
  EXPECT_EQ(s.governments[0].rule, Rule::none);
  EXPECT_EQ(s.governments[0].tariffs[0].ad_valorem, 0.35);
  EXPECT_EQ(s.markets[0].a, 140.0);
  EXPECT_EQ(s.markets[0].b, 0.5);
  EXPECT_EQ(s.markets[1].a, 50.0);
  EXPECT_EQ(s.markets[1].b, 2.0);
  EXPECT_EQ(s.routes[1].cost, 0.75);
  EXPECT_EQ(s.firms[1].welfare_weight, 0.25);
  // event[0] of the merged file (the base's tariff at 2025-04) moved to period 11.
  ASSERT_EQ(s.events.size(), 6u);
  EXPECT_EQ(s.events[1].period, 11);
  EXPECT_EQ(s.events[1].instrument, Instrument::tariff);
  // Overrides apply in order: the last one wins; a new key in an absent table is created.
  const Scenario t = load_ok(kTwoFirm, {"run.periods=10", "run.periods=20", "output.firm=false"});
  EXPECT_EQ(t.run.periods, 20);
  EXPECT_FALSE(t.output.firm);
}

TEST(LoadScenario, SetErrors) {
  struct Case {
    std::string set;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"firm.nope.capacity=1", "firm.nope.capacity: no [[firm]] with id 'nope'"},
      {"region.MARS.bloc=west", "no [[region]] with id 'MARS'"},
      {"government.ABROAD.rule=none", "no [[government]] for region 'ABROAD'"},
      {"market.widget@ABROAD.demand.a=1", "no [[market]] for 'widget@ABROAD'"},
      {"market.widget.demand.a=1", "markets are addressed as market.<good>@<region>"},
      {"run.nope=1", "run.nope: unknown key"},
      {"run.perids=1", "run.perids: unknown key (did you mean 'periods'?)"},
      {"firm.home-1.capcity=1", "firm.home-1.capcity: unknown key (did you mean 'capacity'?)"},
      {"nope.x=1", "nope: unknown key"},
      {"run.periods=-4", "run.periods: must be >= 1 (got -4)"},
      {"run.periods=abc", "run.periods: expected an integer, got a string"},
      {"firm.home-1.capacity=inf", "firm.home-1.capacity: must be a finite number"},
      {"firm.home-1.region=\"XX\"", "firm.home-1.region: unknown region 'XX'"},
      {"run.periods", "expected key=value"},
      {"run..periods=1", "malformed key"},
      {"firm=1", "cannot replace all [[firm]] entries"},
      {"firm.home-1=1", "expected a key after 'firm.home-1'"},
      {"event.at=1", "[[event]] entries are addressed by index"},
      {"event[5].at=1", "no entry 'event[5]'"},
      {"run.periods.x=1", "'run.periods' is an integer, not a table"},
      {"base=\"x.toml\"", "'base' cannot be set with --set"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.set);
    const auto ps = problems_of(kTwoFirm, {"run.seed=1", c.set});
    const auto hits = matching(ps, c.expect);
    ASSERT_EQ(hits.size(), 1u) << joined(ps);
    EXPECT_EQ(hits[0].file, "--set");
    EXPECT_EQ(hits[0].line, 2);
    EXPECT_EQ(hits[0].column, 1);
    EXPECT_EQ(hits[0].format().rfind("--set:2:1: ", 0), 0u) << hits[0].format();
  }
}

TEST(LoadScenario, ResolvedTomlRoundTrips) {
  TempDir tmp;
  const Scenario a = load_ok(kLayered, {"firm.home-1.capacity=321.125", "market.widget@HOME.demand.b=0.3",
                                        "output.every=2", "behaviour.adjustment=0.1"});
  ASSERT_FALSE(a.resolved_toml.empty());
  EXPECT_EQ(a.resolved_toml.find("base ="), std::string::npos);
  const std::string path = tmp.write("resolved.toml", a.resolved_toml);
  const Scenario b = load_ok(path);
  EXPECT_EQ(dump(a), dump(b));
  EXPECT_EQ(b.source_path, path);
  EXPECT_EQ(a.resolved_toml, b.resolved_toml);
  // The smallest config as well.
  const Scenario c = load_ok(kTwoFirm);
  const Scenario d = load_ok(tmp.write("two.toml", c.resolved_toml));
  EXPECT_EQ(dump(c), dump(d));
}

TEST(LoadScenario, NumbersAndPeriods) {
  TempDir tmp;
  // Integers where floats are expected; dates converted to periods.
  const Scenario s = load_ok(kTwoFirm, {"firm.home-1.marginal_cost=11", "run.start=\"2023-11\"",
                                        "behaviour.investment_rate=1"});
  EXPECT_EQ(s.firms[0].marginal_cost, 11.0);
  EXPECT_EQ(s.behaviour.investment_rate, 1.0);
  const std::string path = tmp.write("ev.toml", "base = \"" + kTwoFirm + R"("
[run]
start = "2023-11"
periods = 3
[[event]]
at = "2024-01"
government = "HOME"
instrument = "output_weight"
rate = 2
[[event]]
at = "2024-02"
government = "HOME"
instrument = "output_weight"
rate = 3
)");
  const auto ps = problems_of(path);
  ASSERT_EQ(ps.size(), 1u) << joined(ps);
  EXPECT_NE(ps[0].format().find("event[1].at: '2024-02' is outside the run (2023-11 to 2024-01)"),
            std::string::npos)
      << ps[0].format();
  const Scenario t = load_ok(path, {"run.periods=4"});
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[0].period, 2);
  EXPECT_EQ(t.events[1].period, 3);
}

TEST(LoadScenario, EventsOfEveryInstrument) {
  TempDir tmp;
  auto event = [](const std::string& body) { return "\n[[event]]\nat = 1\n" + body + "\n"; };
  std::string text = "base = \"" + kTwoFirm + "\"\n";
  text += event("government = \"HOME\"\ninstrument = \"tariff\"\ngood = \"widget\"\npartner = \"ABROAD\"\nspecific = 2");
  text += event(
      "government = \"ABROAD\"\ninstrument = \"export_control\"\ngood = \"widget\"\npartner = \"HOME\"\n"
      "kind = \"license\"\napproval = 0.4\ndelay = 3");
  text += event("government = \"HOME\"\ninstrument = \"production_subsidy\"\ngood = \"widget\"\nrate = 1.5");
  text += event("government = \"HOME\"\ninstrument = \"production_subsidy\"\ngood = \"widget\"\nlift = true");
  text += event("government = \"HOME\"\ninstrument = \"investment_subsidy\"\ngood = \"widget\"\nrate = 0.3");
  text += event("government = \"ABROAD\"\ninstrument = \"equity_stake\"\ngood = \"widget\"\nrate = 0.2");
  text += event(
      "government = \"HOME\"\ninstrument = \"price_floor\"\ngood = \"widget\"\nfloor = 40\nvolume = 10\n"
      "months = 6\ncause = \"offtake\"");
  text += event(
      "government = \"ABROAD\"\ninstrument = \"underpricing\"\ngood = \"widget\"\npartner = \"HOME\"\n"
      "limit_price = \"auto\"\nmargin = 0.2");
  text += event(
      "government = \"HOME\"\ninstrument = \"sourcing_mandate\"\ngood = \"widget\"\nshare = 0.7\n"
      "ban_adversary = true");
  text += event("government = \"ABROAD\"\ninstrument = \"output_weight\"\nrate = 6");
  text += event("government = \"HOME\"\ninstrument = \"truce\"\npartner = \"ABROAD\"");
  const Scenario s = load_ok(tmp.write("events.toml", text));
  ASSERT_EQ(s.events.size(), 11u);
  const auto& e = s.events;
  EXPECT_TRUE(std::isnan(e[0].ad_valorem));
  EXPECT_EQ(e[0].specific, 2.0);
  EXPECT_EQ(e[1].kind, ControlKind::license);
  EXPECT_EQ(e[1].approval, 0.4);
  EXPECT_EQ(e[1].delay, 3);
  EXPECT_EQ(e[1].partner, 0);
  EXPECT_EQ(e[2].rate, 1.5);
  EXPECT_TRUE(e[3].lift);
  EXPECT_EQ(e[4].rate, 0.3);
  EXPECT_EQ(e[5].instrument, Instrument::equity_stake);
  EXPECT_EQ(e[6].floor, 40.0);
  EXPECT_EQ(e[6].volume, 10.0);
  EXPECT_EQ(e[6].months, 6);
  EXPECT_EQ(e[6].cause, "offtake");
  EXPECT_FALSE(e[7].limit_price.has_value());
  EXPECT_EQ(e[7].margin, 0.2);
  EXPECT_EQ(e[8].share, 0.7);
  EXPECT_TRUE(e[8].ban_adversary);
  EXPECT_EQ(e[9].good, kNone);
  EXPECT_EQ(e[9].rate, 6.0);
  EXPECT_EQ(e[10].instrument, Instrument::truce);
  EXPECT_EQ(e[10].partner, 1);
  EXPECT_TRUE(std::isnan(e[10].ad_valorem));
  for (const auto& ev : e) EXPECT_EQ(ev.period, 1);
}

// [ensemble]: defaults, the example config, integer keys found by applying them, --set, and
// a resolved text read back by load_scenario_text.
TEST(LoadScenario, EnsembleTable) {
  TempDir tmp;
  const std::string path = tmp.write("ens.toml", R"(base = ")" + kTwoFirm + R"("
[ensemble]
replications = 8

[[ensemble.parameter]]
key = "behaviour.adjustment"
min = 0.1
max = 0.5

[[ensemble.parameter]]
key = "behaviour.exit_after"
values = [6, 12]

[[ensemble.parameter]]
key = "firm.home-1.capacity"
values = [800, 1000.5]
)");
  const Scenario s = load_ok(path);
  const EnsembleSpec& e = s.ensemble;
  ASSERT_TRUE(e.present);
  EXPECT_EQ(e.replications, 8);
  EXPECT_EQ(e.seed, s.run.seed);  // default: run.seed
  EXPECT_EQ(e.design, Design::random);
  ASSERT_EQ(e.parameters.size(), 3u);
  EXPECT_EQ(e.parameters[0].key, "behaviour.adjustment");
  EXPECT_FALSE(e.parameters[0].integer);
  EXPECT_EQ(e.parameters[0].min, 0.1);
  EXPECT_EQ(e.parameters[0].max, 0.5);
  EXPECT_TRUE(e.parameters[1].integer);  // exit_after takes integers
  EXPECT_EQ(e.parameters[1].values, (std::vector<double>{6, 12}));
  EXPECT_FALSE(e.parameters[2].integer);

  const Scenario t = load_ok(path, {"ensemble.replications=3", "ensemble.seed=11", "ensemble.design=\"sobol\""});
  EXPECT_EQ(t.ensemble.replications, 3);
  EXPECT_EQ(t.ensemble.seed, 11u);
  EXPECT_EQ(t.ensemble.design, Design::sobol);

  const Scenario back = load_scenario_text(t.resolved_toml, "resolved");
  EXPECT_EQ(back.resolved_toml, t.resolved_toml);
  EXPECT_EQ(back.ensemble.seed, 11u);
  EXPECT_TRUE(back.ensemble.parameters[1].integer);

  const Scenario none = load_ok(kTwoFirm);
  EXPECT_FALSE(none.ensemble.present);
}

TEST(LoadScenario, EnsembleExampleConfig) {
  const Scenario s = load_ok(kConfigs + "/ensemble_reciprocal.toml");
  ASSERT_TRUE(s.ensemble.present);
  EXPECT_EQ(s.ensemble.design, Design::grid);
  ASSERT_EQ(s.ensemble.parameters.size(), 1u);
  EXPECT_EQ(s.ensemble.parameters[0].key, "behaviour.uncertainty_premium");
}

TEST(LoadScenario, ResolvedTextWithBaseIsRefused) {
  try {
    load_scenario_text("base = \"x.toml\"\n", "text");
    ADD_FAILURE() << "loaded";
  } catch (const InputError& e) {
    EXPECT_NE(e.problems().front().message.find("no base"), std::string::npos);
  }
}
