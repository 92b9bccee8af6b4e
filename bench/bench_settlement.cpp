// Settlement at scale, one process: the million-firm world's period loop, timed by
// Simulation's own phase clock. Settlement is two phases of the loop, not a free function:
//   market side — each owned market's sales, trade-pair flows and metrics (settle_markets),
//                 publishing them, this month's net prices;
//   firm side   — each firm's sales, revenue, input use, inventories, costs and profit
//                 (settle), then learning, exit and entry (dynamics) and the account sums.
// An iteration is one period (the loop runs on from the burn-in; the world is built again
// when the run's periods are used up), its time the phase's seconds in that period. Counters:
// markets (market side), firms and firm-market links (firm side) settled per second.
//   build/bench/bench_settlement --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// DECOUPLE_BENCH_CONFIG chooses another scenario (default configs/synthetic/million.toml).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/config.hpp"
#include "engine/simulation.hpp"

using namespace decouple;

namespace {

struct Run {
  Scenario scenario;
  std::unique_ptr<Simulation> sim;
  int period = 0;
};

Run& run() {
  static Run r = [] {
    const char* path = std::getenv("DECOUPLE_BENCH_CONFIG");
    Run made;
    made.scenario = load_scenario(path != nullptr ? path : DECOUPLE_SOURCE_DIR "/configs/synthetic/million.toml");
    return made;
  }();
  if (!r.sim || r.period >= r.scenario.run.periods) {
    r.sim.reset();  // (before the next: one world in memory at a time)
    r.sim = std::make_unique<Simulation>(r.scenario);
    r.period = r.sim->first_period();
  }
  return r;
}

int phase_index(const char* name) {
  const auto& names = Simulation::kPhaseNames;
  const auto it = std::find_if(names.begin(), names.end(), [&](const char* n) { return std::string(n) == name; });
  if (it == names.end()) throw std::logic_error(std::string("no phase ") + name);
  return static_cast<int>(std::distance(names.begin(), it));
}

// One period per iteration; `firm_side` counts firms and links settled, else markets.
void settlement_phase(benchmark::State& state, const char* phase, bool firm_side) {
  const int k = phase_index(phase);
  double firms = 0.0, links = 0.0, markets = 0.0;
  for (auto _ : state) {
    Run& r = run();
    const auto& t = r.sim->phase_times();
    const double before = t.work[k] + t.exchange[k];
    r.sim->step(r.period++);
    state.SetIterationTime(t.work[k] + t.exchange[k] - before);
    firms = static_cast<double>(r.sim->firm_end() - r.sim->firm_begin());
    links = static_cast<double>(r.sim->world().link_q.size());
    markets = static_cast<double>(r.sim->owned_markets().size());
  }
  const auto rate = benchmark::Counter::kIsIterationInvariantRate;
  if (firm_side) {
    state.counters["firms/s"] = benchmark::Counter(firms, rate);
    state.counters["links/s"] = benchmark::Counter(links, rate);
  } else {
    state.counters["markets/s"] = benchmark::Counter(markets, rate);
  }
}

}  // namespace

BENCHMARK_CAPTURE(settlement_phase, market_side, "market side", false)
    ->UseManualTime()->Iterations(12)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(settlement_phase, firm_side, "firm side", true)
    ->UseManualTime()->Iterations(12)->Unit(benchmark::kMillisecond);
