// Kernels of the period loop, one firm or one market at a time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <limits>
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

// The million-firm world's typical firm: 7 links, the home market profitable and 6 export
// links priced out by transport costs (α < 0, q = 0), no caps, rising marginal cost,
// capacity slack.
static void BM_BestResponseMillion(benchmark::State& state) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<LinkTerms> links(7);
  links[0] = {52.0, 1.0, 38.0, 0.004, kInf};
  for (std::size_t i = 1; i < links.size(); ++i)
    links[i] = {50.0 + 0.7 * i, 1.0 + 0.01 * i, 38.0 + 15.0 + 0.3 * i, 0.0042, kInf};
  std::vector<double> q(links.size()), scratch(2 * links.size());
  for (auto _ : state) {
    const auto plan = best_response(links, 0.002, 1e5, 0.0, q, scratch);
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(links.size()));
}
BENCHMARK(BM_BestResponseMillion);

// Firms as the million-firm world has them: 600 best-response inputs sampled from a run of
// configs/synthetic/million.toml (bench/data/million_best_response.txt: 5-10 links, nearly all
// live, capacity binding for about a third), taken in turn so that the branch predictor cannot
// learn one firm's path (the fixed firm of BM_BestResponseMillion lets it).
namespace {
struct SampledFirm {
  double cost_slope, capacity, min_output;
  std::vector<LinkTerms> links;
};
std::vector<SampledFirm> sampled_firms() {
  // BR_FILE: another sample in the same format (e.g. from later periods).
  const std::string path = std::getenv("BR_FILE") ? std::getenv("BR_FILE") : DECOUPLE_BENCH_DATA "/million_best_response.txt";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<SampledFirm> firms;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string tag;
    s >> tag;
    if (tag == "F") {
      SampledFirm f{};
      int n = 0;
      s >> f.cost_slope >> f.capacity >> f.min_output >> n;
      firms.push_back(f);
    } else if (tag == "L") {
      LinkTerms l{};
      std::string cap;  // "inf" is not read by operator>>
      s >> l.intercept >> l.multiplier >> l.base_cost >> l.slope >> cap;
      l.cap = std::stod(cap);
      firms.back().links.push_back(l);
    }
  }
  return firms;
}
}  // namespace

static void BM_BestResponseSampled(benchmark::State& state) {
  const auto firms = sampled_firms();
  std::vector<double> q(64), scratch(128);
  std::size_t i = 0;
  long links = 0;
  for (auto _ : state) {
    const auto& f = firms[i];
    const auto plan = best_response(f.links, f.cost_slope, f.capacity, f.min_output, q, scratch);
    benchmark::DoNotOptimize(plan);
    links += static_cast<long>(f.links.size());
    i = i + 1 == firms.size() ? 0 : i + 1;
  }
  state.SetItemsProcessed(links);
}
BENCHMARK(BM_BestResponseSampled);

// The same firms four at a time, one per lane (best_response_batch; a lane it leaves gets
// best_response, as plan_offers does).
static void BM_BestResponseBatchSampled(benchmark::State& state) {
  const auto firms = sampled_firms();
  std::vector<double> q(kBatchLanes * 64), scratch(128);
  std::size_t i = 0;
  long links = 0;
  for (auto _ : state) {
    FirmBatch batch;
    std::span<double> qs[kBatchLanes];
    ShipmentPlan plan[kBatchLanes];
    for (int j = 0; j < kBatchLanes; ++j) {
      const auto& f = firms[i];
      batch.links[j] = f.links.size();
      for (std::size_t m = 0; m < f.links.size(); ++m) batch.set(j, m, f.links[m]);
      qs[j] = std::span<double>(q.data() + 64 * j, f.links.size());
      batch.cost_slope[j] = f.cost_slope;
      batch.capacity[j] = f.capacity;
      batch.min_output[j] = f.min_output;
      links += static_cast<long>(f.links.size());
      i = i + 1 == firms.size() ? 0 : i + 1;
    }
    const unsigned done = best_response_batch(batch, plan);
    for (int j = 0; j < kBatchLanes; ++j)
      if (!(done >> j & 1u)) {
        std::vector<LinkTerms> l(batch.links[j]);
        for (std::size_t m = 0; m < l.size(); ++m) l[m] = batch.link(j, m);
        plan[j] = best_response(l, batch.cost_slope[j], batch.capacity[j], batch.min_output[j], qs[j], scratch);
      }
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(links);
}
BENCHMARK(BM_BestResponseBatchSampled);

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
