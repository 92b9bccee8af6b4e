// Kernels of the period loop, one firm or one market at a time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "agents/best_response.hpp"
#include "markets/clearing.hpp"

using namespace decouple;

// One firm's water-filled best response over `links` destinations, capacity binding.
static void BM_BestResponse(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<LinkTerms> links(n);
  for (std::size_t i = 0; i < n; ++i)
    links[i] = {100.0 + 3.0 * i, 1.0 + 0.05 * i, 10.0 + i, 2.0 + 0.1 * i, i % 3 == 0 ? 15.0 : 1e300};
  std::vector<double> q(n), scratch(2 * n);
  for (auto _ : state) {
    const auto plan = best_response(links, 0.01, 40.0, 0.0, q, scratch);
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(n));
}
BENCHMARK(BM_BestResponse)->Arg(1)->Arg(5)->Arg(10);

// Clearing a market with `bids` input bids (sorted) on top of linear demand.
static void BM_Clearing(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<double> q(n), r(n), served(n);
  for (std::size_t i = 0; i < n; ++i) {
    q[i] = 1.0 + i % 7;
    r[i] = 500.0 - i * (400.0 / n);
  }
  const LinearDemand d{true, 300.0, 0.5};
  for (auto _ : state) {
    const auto c = clear_market(2.0 * n + 100.0, d, q, r, served);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(n));
}
BENCHMARK(BM_Clearing)->Arg(0)->Arg(16)->Arg(1024);
