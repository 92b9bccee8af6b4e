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
