// Building small scenarios in code for the analytic tests (no TOML involved).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/scenario.hpp"
#include "engine/simulation.hpp"

namespace decouple::testing {

struct Builder {
  Scenario s;

  explicit Builder(int periods = 400, double kappa = 0.3) {
    s.run = {"test", periods, 7, "2024-01", 2024, 1, 0};
    s.behaviour.adjustment = kappa;
  }
  Index region(std::string id, Bloc bloc) {
    s.regions.push_back({std::move(id), bloc});
    s.governments.push_back({});
    s.governments.back().region = static_cast<Index>(s.regions.size() - 1);
    return static_cast<Index>(s.regions.size() - 1);
  }
  Index good(std::string id, std::vector<InputCoef> inputs = {}, double cover = 1.0) {
    GoodSpec g;
    g.id = std::move(id);
    g.unit = "t";
    g.inputs = std::move(inputs);
    g.inventory_cover = cover;
    s.goods.push_back(g);
    return static_cast<Index>(s.goods.size() - 1);
  }
  void market(Index good, Index region, double a, double b) { s.markets.push_back({good, region, a, b}); }
  Index firm(std::string id, Index region, Index good, FirmKind kind, double c,
             std::vector<Index> sells_to, double capacity = 1e6) {
    FirmSpec f;
    f.id = std::move(id);
    f.region = region;
    f.good = good;
    f.kind = kind;
    f.marginal_cost = c;
    f.capacity = capacity;
    f.sells_to = std::move(sells_to);
    s.firms.push_back(f);
    return static_cast<Index>(s.firms.size() - 1);
  }
  GovernmentSpec& gov(Index region) { return s.governments[region]; }
  FirmSpec& firm_spec(Index f) { return s.firms[f]; }
  void event(EventSpec e) { s.events.push_back(std::move(e)); }
};

// A two-stage world for layout tests: ore and metal (1 ore per metal) markets in US, CN and ROW;
// per region `per_region` ore firms selling everywhere and as many metal firms selling at home
// (and to ROW again if `metal_to_row`), so links, offer slots and bid slots cross regions.
inline Builder ore_metal_world(int per_region, bool metal_to_row) {
  Builder b;
  const Index us = b.region("US", Bloc::west), cn = b.region("CN", Bloc::china), row = b.region("ROW", Bloc::third);
  const Index ore = b.good("ore");
  const Index metal = b.good("metal", {{ore, 1.0}});
  for (Index r : {us, cn, row}) {
    b.market(ore, r, 100.0, 1.0);
    b.market(metal, r, 200.0, 1.0);
  }
  for (int k = 0; k < per_region; ++k)
    for (Index r : {us, cn, row}) {
      b.firm("ore" + std::to_string(k) + std::to_string(r), r, ore, FirmKind::western, 10.0 + k, {us, cn, row});
      std::vector<Index> dests{r};
      if (metal_to_row) dests.push_back(row);  // ROW's own metal firms get two links to ROW
      b.firm("metal" + std::to_string(k) + std::to_string(r), r, metal, FirmKind::western, 20.0 + k, dests);
    }
  return b;
}

// What a firm shipped this period, over all its destinations.
inline double shipped(const Simulation& sim, Index firm) {
  const auto& w = sim.world();
  double q = 0.0;
  for (int l = w.link_begin[firm]; l < w.link_begin[firm + 1]; ++l) q += w.link_q[l];
  return q;
}

// Runs every period and calls `each(sim, period)` after each one.
template <class F>
void run(Simulation& sim, F&& each) {
  for (int t = sim.first_period(); t < sim.scenario().run.periods; ++t) {
    sim.step(t);
    each(sim, t);
  }
}
inline void run(Simulation& sim) {
  run(sim, [](Simulation&, int) {});
}

}  // namespace decouple::testing
