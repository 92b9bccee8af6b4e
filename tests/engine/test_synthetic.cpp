// Synthetic worlds ([[region_group]], [[firm_group]], engine/synthetic): determinism, ranges
// generated alone equal to slices of the whole, destinations, exact bloc counts, distribution
// moments, the World build_world lays out, and configs/synthetic/small.toml running sanely.
// Invalid group configs are in configs/invalid/ (checked by test_config).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/errors.hpp"
#include "core/rng.hpp"
#include "engine/config.hpp"
#include "engine/simulation.hpp"
#include "engine/synthetic.hpp"
#include "engine/world.hpp"

namespace fs = std::filesystem;
using namespace decouple;

namespace {

const std::string kSmall = std::string(DECOUPLE_SOURCE_DIR) + "/configs/synthetic/small.toml";
const std::string kMillion = std::string(DECOUPLE_SOURCE_DIR) + "/configs/synthetic/million.toml";

Scenario load(const std::string& path, const std::vector<std::string>& sets = {}) {
  try {
    return load_scenario(path, sets);
  } catch (const InputError& e) {
    ADD_FAILURE() << e.what();
    throw;
  }
}

// A scenario file written for one test, removed afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    static std::atomic<int> n{0};
    path_ = fs::temp_directory_path() / fmt::format("decouple_test_synthetic_{}_{}.toml", ::getpid(), n++);
    std::ofstream(path_) << text;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

bool same(const SyntheticFirm& a, const SyntheticFirm& b) {
  auto eq = [](double x, double y) { return x == y || (std::isnan(x) && std::isnan(y)); };
  return a.group == b.group && a.region == b.region && a.good == b.good && a.kind == b.kind &&
         eq(a.marginal_cost, b.marginal_cost) && eq(a.cost_slope, b.cost_slope) && eq(a.capacity, b.capacity) &&
         eq(a.fixed_cost, b.fixed_cost) && eq(a.output_weight, b.output_weight) &&
         a.destination_count == b.destination_count &&
         std::equal(a.destinations.begin(), a.destinations.begin() + a.destination_count, b.destinations.begin());
}

std::vector<SyntheticFirm> all_firms(const SyntheticFirms& gen) {
  std::vector<SyntheticFirm> out;
  gen.generate(0, gen.size(), [&](std::int64_t, const SyntheticFirm& f) { out.push_back(f); });
  return out;
}

// A world of one region group and one firm group, for the statistical tests.
std::string big_group_world(int regions, std::int64_t firms, const std::string& extra = "") {
  return fmt::format(R"(
[run]
scenario = "stats"
periods = 1
seed = 11
start = "2024-01"

[[good]]
id = "widget"
unit = "t"

[[region_group]]
id = "R"
count = {}
blocs = {{ west = 0.35, china = 0.25, third = 0.4 }}
markets = {{ widget = {{ a = 100, b = {{ dist = "uniform", low = 0.5, high = 1.5 }} }} }}

[[firm_group]]
id = "w"
good = "widget"
count = {}
soe_share = 0.3
marginal_cost = {{ dist = "lognormal", median = 20, sigma = 0.4 }}
cost_slope = {{ dist = "uniform", low = 1, high = 3 }}
capacity = 50
destinations = {{ min = 5, max = 10 }}
{}
)",
                     regions, firms, extra);
}

}  // namespace

TEST(Synthetic, SmallConfigCountsAndIds) {
  const Scenario sc = load(kSmall);
  ASSERT_EQ(sc.region_groups.size(), 1u);
  const auto& rg = sc.region_groups[0];
  EXPECT_EQ(rg.count, 20);
  EXPECT_EQ(sc.regions.size(), 20u);
  EXPECT_EQ(sc.regions[0].id, "S0000");
  EXPECT_EQ(sc.regions[7].id, "S0007");
  EXPECT_EQ(sc.markets.size(), 20u * 8u);  // every good in every region
  EXPECT_TRUE(sc.firms.empty());          // group firms never become FirmSpecs
  std::int64_t total = 0;
  for (const auto& g : sc.firm_groups) total += g.count;
  EXPECT_EQ(total, 2000);
  const SyntheticFirms gen(sc);
  EXPECT_EQ(gen.size(), 2000);
  // Region-major: region S0000's 10 ree firms, then its 8 sme firms, …; then region S0001's.
  EXPECT_EQ(gen.name(0), "ree-0000");
  EXPECT_EQ(gen.name(9), "ree-0009");
  EXPECT_EQ(gen.name(10), "sme-0000");
  EXPECT_EQ(gen.name(100), "ree-0010");  // 100 firms per region
  EXPECT_EQ(gen.name(1999), "ai-0259");  // 13 per region
  EXPECT_EQ(synthetic_name("autos", '-', 123, 1000000), "autos-000123");
  EXPECT_EQ(synthetic_name("S", 0, 7, 200), "S0007");
  // Formatted by hand: as fmt's zero padding, widths 4–8, numbers wider than the width.
  for (const std::int64_t count : {1, 10, 10000, 10001, 1000000, 123456789})
    for (const std::int64_t k : {0, 1, 9, 10, 999, 1000, 9999, 10000, 99999, 123456, 1000000, 999999999}) {
      const int width = std::max<int>(4, static_cast<int>(fmt::format("{}", std::max<std::int64_t>(count - 1, 0)).size()));
      EXPECT_EQ(synthetic_name("g1", '-', k, count), fmt::format("g1-{:0{}}", k, width)) << k << " of " << count;
      EXPECT_EQ(synthetic_name("R", 0, k, count), fmt::format("R{:0{}}", k, width)) << k << " of " << count;
    }
}

// Ids run region by region; within a region group by group, each group's firms in ordinal
// order; every (group, ordinal) exactly once, and a firm's home is the one its ordinal gives.
TEST(Synthetic, IdsAreRegionMajor) {
  const TempFile f(big_group_world(7, 1000) + R"(
[[firm_group]]
id = "v"
good = "widget"
count = 45
regions = ["R0005", "R0001", "R0003"]
marginal_cost = 10
capacity = 5
destinations = { min = 1, max = 2 }
)");
  const Scenario sc = load(f.path());
  const SyntheticFirms gen(sc);
  ASSERT_EQ(gen.size(), 1045);
  std::vector<std::vector<int>> seen(sc.firm_groups.size());
  for (std::size_t g = 0; g < seen.size(); ++g) seen[g].assign(static_cast<std::size_t>(sc.firm_groups[g].count), 0);
  Index last_region = -1, last_group = -1;
  std::int64_t last_ordinal = -1;
  std::int64_t blocks_total = 0;
  for (const auto& b : gen.blocks()) {
    EXPECT_EQ(b.begin, blocks_total);
    EXPECT_GT(b.count, 0);
    blocks_total += b.count;
  }
  EXPECT_EQ(blocks_total, gen.size());
  gen.generate(0, gen.size(), [&](std::int64_t i, const SyntheticFirm& s) {
    const Index g = gen.group_of(i);
    const std::int64_t k = gen.ordinal(i);
    ASSERT_EQ(s.group, g);
    ASSERT_GE(s.region, last_region) << i;
    if (s.region == last_region) {
      ASSERT_GE(g, last_group) << i;
      if (g == last_group) {
        ASSERT_EQ(k, last_ordinal + 1) << i;
      }
    }
    const auto& spec = sc.firm_groups[static_cast<std::size_t>(g)];
    const auto H = static_cast<std::int64_t>(spec.homes.size());
    ASSERT_EQ(s.region, spec.homes[static_cast<std::size_t>(k * H / spec.count)]) << i;
    ASSERT_EQ(gen.name(i), synthetic_name(spec.id, '-', k, spec.count));
    ++seen[static_cast<std::size_t>(g)][static_cast<std::size_t>(k)];
    last_region = s.region;
    last_group = g;
    last_ordinal = k;
  });
  for (const auto& v : seen)
    for (int n : v) ASSERT_EQ(n, 1);
  // The World names its firms the same way (ids after the listed firms).
  const World w = build_world(sc);
  for (Index i = 0; i < w.firms; i += 11) EXPECT_EQ(w.firm_name(i), gen.name(i)) << i;
  EXPECT_EQ(w.firm_name(w.firms), "");
}

TEST(Synthetic, BlocCountsAreExact) {
  // Largest remainder: 20 × (0.3, 0.2, 0.5) = 6, 4, 10; 7 × (0.35, 0.25, 0.4) = 2.45, 1.75, 2.8 → 2, 2, 3.
  const Scenario sc = load(kSmall);
  int n[kBlocCount] = {0, 0, 0};
  for (const auto& r : sc.regions) ++n[static_cast<int>(r.bloc)];
  EXPECT_EQ(n[0], 6);
  EXPECT_EQ(n[1], 4);
  EXPECT_EQ(n[2], 10);
  const TempFile f(big_group_world(7, 10));
  const Scenario s7 = load(f.path());
  int m[kBlocCount] = {0, 0, 0};
  for (const auto& r : s7.regions) ++m[static_cast<int>(r.bloc)];
  EXPECT_EQ(m[0], 2);
  EXPECT_EQ(m[1], 2);
  EXPECT_EQ(m[2], 3);
}

TEST(Synthetic, SameSeedSameWorldOtherSeedOther) {
  const Scenario a = load(kSmall), b = load(kSmall);
  const auto fa = all_firms(SyntheticFirms(a)), fb = all_firms(SyntheticFirms(b));
  ASSERT_EQ(fa.size(), fb.size());
  for (std::size_t i = 0; i < fa.size(); ++i) ASSERT_TRUE(same(fa[i], fb[i])) << i;
  for (std::size_t m = 0; m < a.markets.size(); ++m) {
    EXPECT_EQ(a.markets[m].a, b.markets[m].a);
    EXPECT_EQ(a.markets[m].b, b.markets[m].b);
  }
  const Scenario c = load(kSmall, {"run.seed=2025"});
  const auto fc = all_firms(SyntheticFirms(c));
  std::size_t differ = 0;
  for (std::size_t i = 0; i < fa.size(); ++i) differ += same(fa[i], fc[i]) ? 0 : 1;
  EXPECT_GT(differ, fa.size() * 9 / 10);
  // A group's own seed fixes its world whatever run.seed is.
  const Scenario d = load(kSmall, {"run.seed=2025", "firm_group.ree.seed=2024", "region_group.S.seed=2024"});
  const SyntheticFirms gd(d);
  int ree = 0;
  for (std::int64_t i = 0; i < gd.size(); ++i)
    if (gd.group_of(i) == 0) {
      EXPECT_TRUE(same(gd.firm(i), fa[static_cast<std::size_t>(i)])) << i;
      ++ree;
    }
  EXPECT_EQ(ree, 200);
}

TEST(Synthetic, RangeAloneEqualsSliceOfAll) {
  const Scenario sc = load(kSmall);
  const auto all = all_firms(SyntheticFirms(sc));
  // Ranges inside a group, across group boundaries, single firms, the whole tail.
  for (auto [b, e] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {0, 1}, {150, 420}, {199, 201}, {777, 1300}, {1999, 2000}, {1234, 2000}}) {
    const SyntheticFirms fresh(sc);  // a rank that knows nothing else
    fresh.generate(b, e, [&](std::int64_t i, const SyntheticFirm& f) {
      ASSERT_TRUE(same(f, all[static_cast<std::size_t>(i)])) << i;
    });
  }
  // Backwards, one at a time: no hidden state.
  const SyntheticFirms gen(sc);
  for (std::int64_t i = gen.size() - 1; i >= 0; i -= 37) EXPECT_TRUE(same(gen.firm(i), all[static_cast<std::size_t>(i)]));
}

TEST(Synthetic, DestinationsAreDistinctMarketsWithHome) {
  const TempFile f(big_group_world(40, 20000));
  const Scenario sc = load(f.path());
  std::set<std::pair<Index, Index>> market;
  for (const auto& m : sc.markets) market.insert({m.good, m.region});
  const SyntheticFirms gen(sc);
  std::vector<int> by_count(11, 0);
  gen.generate(0, gen.size(), [&](std::int64_t i, const SyntheticFirm& s) {
    ASSERT_GE(s.destination_count, 5) << i;
    ASSERT_LE(s.destination_count, 10) << i;
    ++by_count[s.destination_count];
    const auto* d = s.destinations.data();
    ASSERT_TRUE(std::is_sorted(d, d + s.destination_count)) << i;
    ASSERT_EQ(std::adjacent_find(d, d + s.destination_count), d + s.destination_count) << i;
    ASSERT_TRUE(std::binary_search(d, d + s.destination_count, s.region)) << i;
    for (int k = 0; k < s.destination_count; ++k) ASSERT_TRUE(market.count({s.good, d[k]})) << i;
  });
  // The count is uniform on 5..10: each about 1/6 of 20,000 (sd ≈ 53).
  for (int k = 5; k <= 10; ++k) EXPECT_NEAR(by_count[k], 20000.0 / 6.0, 300.0) << k;

  // Fewer candidate regions than wanted: every other region, no duplicates.
  const TempFile g(big_group_world(4, 100));
  const SyntheticFirms few(load(g.path()));
  for (std::int64_t i = 0; i < few.size(); ++i) EXPECT_EQ(few.firm(i).destination_count, 4);
}

TEST(Synthetic, HomesKindsAndDistributionMoments) {
  const TempFile f(big_group_world(50, 200000));
  const Scenario sc = load(f.path());
  const SyntheticFirms gen(sc);
  std::vector<double> cost, slope;
  std::vector<int> per_region(sc.regions.size(), 0);
  std::int64_t china = 0, soe = 0;
  Index last_region = -1;
  gen.generate(0, gen.size(), [&](std::int64_t, const SyntheticFirm& s) {
    EXPECT_GE(s.region, last_region);  // a region's firms have adjacent ids
    last_region = s.region;
    cost.push_back(s.marginal_cost);
    slope.push_back(s.cost_slope);
    ++per_region[s.region];
    EXPECT_EQ(s.capacity, 50.0);
    if (sc.regions[s.region].bloc == Bloc::china) {
      ++china;
      soe += s.kind == FirmKind::soe;
    } else {
      EXPECT_EQ(s.kind, FirmKind::western);  // SOEs only at home in the china bloc
    }
    EXPECT_TRUE(std::isnan(s.output_weight));  // unset: the government's θ
  });
  // Homes in equal blocks over the 50 regions (4,000 each).
  for (int n : per_region) EXPECT_EQ(n, 4000);
  // SOE share among china-home firms (≈ 50,000 firms, sd of the share ≈ 0.002).
  ASSERT_GT(china, 0);
  EXPECT_NEAR(static_cast<double>(soe) / static_cast<double>(china), 0.3, 0.01);
  // Lognormal: median 20, mean 20·e^{0.08}; uniform [1, 3]: mean 2.
  std::vector<double> sorted = cost;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  EXPECT_NEAR(sorted[sorted.size() / 2], 20.0, 0.2);
  double mean_cost = 0.0, mean_slope = 0.0;
  for (double c : cost) mean_cost += c / static_cast<double>(cost.size());
  for (double k : slope) mean_slope += k / static_cast<double>(slope.size());
  EXPECT_NEAR(mean_cost, distribution_mean({Distribution::Kind::lognormal, 20.0, 0.4}), 0.1);
  EXPECT_NEAR(mean_slope, 2.0, 0.01);
  EXPECT_GE(*std::min_element(slope.begin(), slope.end()), 1.0);
  EXPECT_LE(*std::max_element(slope.begin(), slope.end()), 3.0);
  // Market b: uniform [0.5, 1.5] per region.
  for (const auto& m : sc.markets) {
    EXPECT_EQ(m.a, 100.0);
    EXPECT_GE(m.b, 0.5);
    EXPECT_LE(m.b, 1.5);
  }
}

TEST(Synthetic, SampleMatchesClosedForms) {
  const Distribution u{Distribution::Kind::uniform, 2.0, 6.0}, ln{Distribution::Kind::lognormal, 5.0, 0.25},
      c{Distribution::Kind::constant, 3.5, 0.0};
  const int n = 200000;
  double su = 0.0, sl = 0.0;
  std::vector<double> l(n);
  for (int i = 0; i < n; ++i) {
    const Draw d{99, static_cast<std::uint64_t>(i), 0, Purpose::generator, 3};
    su += sample(u, d);
    l[i] = sample(ln, d);
    sl += l[i];
    ASSERT_EQ(sample(c, d), 3.5);
  }
  EXPECT_NEAR(su / n, distribution_mean(u), 0.01);  // sd of the mean ≈ 0.0026
  EXPECT_NEAR(sl / n, distribution_mean(ln), 0.01); // 5·e^{1/32} ≈ 5.159; sd ≈ 0.003
  std::nth_element(l.begin(), l.begin() + n / 2, l.end());
  EXPECT_NEAR(l[n / 2], distribution_median(ln), 0.01);
}

TEST(Synthetic, ListedFirmsDoNotChangeTheGroupFirms) {
  // Group draws are keyed by the ordinal among group firms, not the World id.
  const std::string base = big_group_world(10, 500);
  const TempFile a(base);
  const TempFile b(base + R"(
[[firm]]
id = "extra"
region = "R0003"
good = "widget"
kind = "western"
marginal_cost = 10
capacity = 5
sells_to = ["R0003"]
)");
  const Scenario sa = load(a.path()), sb = load(b.path());
  const auto fa = all_firms(SyntheticFirms(sa)), fb = all_firms(SyntheticFirms(sb));
  ASSERT_EQ(fa.size(), fb.size());
  for (std::size_t i = 0; i < fa.size(); ++i) EXPECT_TRUE(same(fa[i], fb[i])) << i;
  const World w = build_world(sb);
  EXPECT_EQ(w.firms, 501);
  EXPECT_EQ(w.firm_name(0), "extra");
  EXPECT_EQ(w.firm_name(1), "w-0000");  // group firms follow the listed ones
}

TEST(Synthetic, WorldLaysOutGroupFirmsLikeListedOnes) {
  const Scenario sc = load(kSmall);
  const World w = build_world(sc);
  const SyntheticFirms gen(sc);
  ASSERT_EQ(w.firms, 2000);
  EXPECT_EQ(w.markets, 160);
  std::int64_t links = 0;
  for (Index f = 0; f < w.firms; ++f) {
    const SyntheticFirm s = gen.firm(f);
    ASSERT_EQ(w.firm_name(f), gen.name(f));
    ASSERT_EQ(w.firm_region[f], s.region);
    ASSERT_EQ(w.firm_good[f], s.good);
    ASSERT_EQ(w.firm_kind[f], s.kind);
    ASSERT_EQ(w.firm_status[f], FirmStatus::active);
    ASSERT_EQ(w.firm_cost0[f], s.marginal_cost);
    ASSERT_EQ(w.firm_capacity[f], s.capacity);
    ASSERT_EQ(w.link_begin[f + 1] - w.link_begin[f], s.destination_count);
    for (int l = w.link_begin[f], k = 0; l < w.link_begin[f + 1]; ++l, ++k) {
      ASSERT_EQ(w.link_firm(l), f);
      ASSERT_EQ(w.link_destination(l), s.destinations[k]);
      ASSERT_EQ(w.market_good[w.link_market[l]], s.good);
      ASSERT_EQ(w.market_region[w.link_market[l]], s.destinations[k]);
    }
    // Inputs are bought in the home region's market, stocked at full capacity.
    const int inputs = w.input_begin[s.good + 1] - w.input_begin[s.good];
    ASSERT_EQ(w.slot_begin[f + 1] - w.slot_begin[f], inputs);
    for (int k = w.slot_begin[f]; k < w.slot_begin[f + 1]; ++k) {
      ASSERT_EQ(w.market_region[w.slot_market[k]], s.region);
      ASSERT_EQ(w.market_good[w.slot_market[k]], w.slot_good[k]);
      ASSERT_GT(w.slot_inventory[k], 0.0);
    }
    links += s.destination_count;
  }
  EXPECT_EQ(w.links, links);
  for (auto* v : {&w.firm_planned, &w.firm_output, &w.firm_theta, &w.firm_cumulative, &w.firm_welfare_weight})
    EXPECT_EQ(v->size(), 2000u);
  EXPECT_EQ(w.firm_entry_period.size(), 2000u);
  EXPECT_EQ(w.firm_pool.size(), 2000u);
  // Every exogenous market carries its drawn schedule.
  for (const auto& m : sc.markets) {
    const Index mi = w.market_of[static_cast<std::size_t>(m.good) * w.regions + m.region];
    ASSERT_NE(mi, kNone);
    EXPECT_EQ(w.market_exogenous[mi].a, m.a);
  }
}

TEST(Synthetic, SmallWorldRunsSanely) {
  const Scenario sc = load(kSmall);
  Simulation sim(sc);
  for (int p = sim.first_period(); p < sc.run.periods; ++p) sim.step(p);
  const World& w = sim.world();
  for (Index m = 0; m < w.markets; ++m) {
    EXPECT_GT(w.market_price[m], 0.0) << m;
    EXPECT_GT(w.market_sold[m], 0.0) << m;
  }
  Index producing = 0, active = 0;
  double planned = 0.0, output = 0.0;
  for (Index f = 0; f < w.firms; ++f) {
    active += w.firm_status[f] == FirmStatus::active;
    producing += w.firm_output[f] > 0.0;
    planned += w.firm_planned[f];
    output += w.firm_output[f];
  }
  EXPECT_GT(active, w.firms * 95 / 100);
  EXPECT_GT(producing, w.firms * 95 / 100);
  EXPECT_GT(output, 0.999 * planned);  // no lasting input shortage
  // Settled: prices move by less than 0.5% in the last month.
  Simulation again(sc);
  for (int p = again.first_period(); p < sc.run.periods - 1; ++p) again.step(p);
  for (Index m = 0; m < w.markets; ++m)
    EXPECT_NEAR(again.world().market_price[m], w.market_price[m], 0.005 * w.market_price[m]) << m;
}

TEST(Synthetic, ResolvedTomlReloadsToTheSameGroups) {
  const Scenario a = load(kSmall);
  const TempFile f(a.resolved_toml);
  const Scenario b = load(f.path());
  ASSERT_EQ(a.regions.size(), b.regions.size());
  for (std::size_t r = 0; r < a.regions.size(); ++r) {
    EXPECT_EQ(a.regions[r].id, b.regions[r].id);
    EXPECT_EQ(a.regions[r].bloc, b.regions[r].bloc);
  }
  const auto fa = all_firms(SyntheticFirms(a)), fb = all_firms(SyntheticFirms(b));
  ASSERT_EQ(fa.size(), fb.size());
  for (std::size_t i = 0; i < fa.size(); ++i) ASSERT_TRUE(same(fa[i], fb[i])) << i;
}

TEST(Synthetic, MillionConfigValidatesWithoutDrawingFirms) {
  // Loading is O(regions + markets): the million firms are only counted.
  const Scenario sc = load(kMillion);
  std::int64_t firms = 0;
  for (const auto& g : sc.firm_groups) {
    firms += g.count;
    EXPECT_EQ(g.destinations_min, 5);
    EXPECT_EQ(g.destinations_max, 10);
  }
  EXPECT_GE(firms, 1000000);
  EXPECT_EQ(sc.regions.size(), 200u);
  EXPECT_EQ(sc.goods.size(), 8u);
  EXPECT_EQ(sc.output.firm_every, 12);
  // A slice from the middle, as a rank would draw it.
  const SyntheticFirms gen(sc);
  gen.generate(600000, 600100, [&](std::int64_t, const SyntheticFirm& s) {
    EXPECT_GE(s.destination_count, 5);
    EXPECT_LE(s.destination_count, 10);
  });
}

TEST(Synthetic, GroupProblemsAreReported) {
  // One config with several mistakes: all reported, one line each.
  const TempFile f(big_group_world(5, 10, R"(
[[firm_group]]
id = "v"
good = "gizmo"
count = 0
marginal_cost = { dist = "uniform", low = 3, hight = 4 }
capacity = { dist = "lognormal", median = -1, sigma = 0.1 }
)"));
  try {
    load_scenario(f.path(), {});
    FAIL() << "loaded";
  } catch (const InputError& e) {
    std::string all;
    for (const auto& p : e.problems()) all += p.format() + "\n";
    for (const char* want : {"firm_group.v.good: unknown good 'gizmo'", "firm_group.v.count: must be >= 1 (got 0)",
                             "firm_group.v.marginal_cost.hight: unknown key (did you mean 'high'?)",
                             "firm_group.v.marginal_cost.high: required key missing",
                             "firm_group.v.capacity.median: must be > 0 (got -1)"})
      EXPECT_NE(all.find(want), std::string::npos) << want << " not in:\n" << all;
  }
}
