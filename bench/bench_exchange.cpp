// The exchange's routed copy at scale, under mpiexec (e.g. `mpiexec -n 2 bench_exchange`).
// A synthetic layout of ~7 million offer slots: 1 million firms with 7 links each (home
// market plus 6 random destinations for their good), 100 goods × 10 regions, owners from
// the real decomposition. Every rank runs the same fixed number of iterations (ranks must
// agree on the number of collective calls); each iteration's time is the slowest rank's.
// Only rank 0 reports. Counters: ns per slot, bytes sent per call summed over ranks, and the
// share of slots whose source lives on another rank.
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <random>
#include <span>
#include <vector>

#include "engine/decomposition.hpp"
#include "engine/exchange.hpp"

using namespace decouple;

namespace {

constexpr Index kRegions = 10, kGoods = 100, kLinksPerFirm = 7;
constexpr Index kFirms = 1'000'000;

struct Layout {
  std::vector<Index> offer_link;  // slot → link, by market then firm id
  std::vector<int> link_rank, slot_rank;
  std::size_t remote = 0;  // slots whose link is owned by another rank than the market
};

const Layout& layout(int ranks) {
  static Layout L;
  static int built_for = -1;
  if (built_for == ranks) return L;
  built_for = ranks;
  std::mt19937 rng(12345);
  std::uniform_int_distribution<Index> region(0, kRegions - 1), good(0, kGoods - 1);
  const Index M = kRegions * kGoods;
  std::vector<Index> firm_region(kFirms), link_market, link_firm;
  link_market.reserve(static_cast<std::size_t>(kFirms) * kLinksPerFirm);
  link_firm.reserve(link_market.capacity());
  std::vector<Index> others(kRegions);
  for (Index f = 0; f < kFirms; ++f) {
    const Index home = firm_region[f] = region(rng), g = good(rng);
    std::iota(others.begin(), others.end(), 0);
    std::swap(others[0], others[home]);
    std::shuffle(others.begin() + 1, others.end(), rng);
    for (Index k = 0; k < kLinksPerFirm; ++k) {  // destinations ascending, like the world
      link_market.push_back(g * kRegions + others[k]);
      link_firm.push_back(f);
    }
    std::sort(link_market.end() - kLinksPerFirm, link_market.end());
  }
  const std::size_t links = link_market.size();
  // Market-side slots: by market, firm id ascending (a stable counting sort by market).
  std::vector<int> offer_begin(M + 1, 0);
  for (Index m : link_market) ++offer_begin[m + 1];
  std::partial_sum(offer_begin.begin(), offer_begin.end(), offer_begin.begin());
  L.offer_link.assign(links, 0);
  std::vector<int> at(offer_begin.begin(), offer_begin.end() - 1);
  for (std::size_t l = 0; l < links; ++l) L.offer_link[at[link_market[l]]++] = static_cast<Index>(l);

  std::vector<Index> market_region(M);
  std::vector<std::int64_t> market_weight(M), firm_work(kFirms, kLinksPerFirm);
  for (Index m = 0; m < M; ++m) {
    market_region[m] = m % kRegions;
    market_weight[m] = offer_begin[m + 1] - offer_begin[m];
  }
  DecompositionInput in;
  in.ranks = ranks;
  in.regions = kRegions;
  in.market_region = market_region;
  in.market_weight = market_weight;
  in.firm_region = firm_region;
  in.firm_work = firm_work;
  const Decomposition d = decompose(in);
  const std::vector<int> firm_rank = d.firm_rank();
  L.link_rank.resize(links);
  for (std::size_t l = 0; l < links; ++l) L.link_rank[l] = firm_rank[link_firm[l]];
  L.slot_rank = expand_owner(offer_begin, d.market_rank);
  L.remote = 0;
  for (std::size_t j = 0; j < links; ++j) L.remote += L.slot_rank[j] != L.link_rank[L.offer_link[j]];
  return L;
}

// Times `call` (after an untimed `before`) per iteration as the slowest rank's time, and sets
// the counters every kernel reports.
template <class Before, class Call>
void time_calls(benchmark::State& state, Exchange& ex, std::size_t slots, Before&& before, Call&& call) {
  ex.reset_stats();
  double total = 0.0;
  for (auto _ : state) {
    before();
    ex.barrier();
    const double t0 = MPI_Wtime();
    call();
    double elapsed = MPI_Wtime() - t0, slowest = 0.0;
    MPI_Allreduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    state.SetIterationTime(slowest);
    total += slowest;
  }
  const auto calls = static_cast<double>(ex.stats().routed_calls);
  const auto bytes = static_cast<double>(ex.sum_over_ranks(static_cast<std::int64_t>(ex.stats().routed_bytes_sent)));
  state.counters["ranks"] = ex.ranks();
  state.counters["slots"] = static_cast<double>(slots);
  state.counters["bytes_per_call"] = bytes / calls;
  state.counters["ns_per_slot"] = 1e9 * total / calls / static_cast<double>(slots);
}

template <class Call>
void run(benchmark::State& state, std::size_t arrays, Call&& call) {
  Exchange ex(Communicator::world());
  const Layout& L = layout(ex.ranks());
  const RoutingPlan plan(L.offer_link, L.link_rank, L.slot_rank, ex.communicator());
  const std::size_t n = L.offer_link.size();
  std::vector<std::vector<double>> source(arrays, std::vector<double>(n)), slot(arrays, std::vector<double>(n));
  for (auto& v : source) std::iota(v.begin(), v.end(), 0.0);
  time_calls(state, ex, n, [] {}, [&] { call(ex, plan, source, slot); });
  state.counters["remote_share"] = static_cast<double>(L.remote) / static_cast<double>(n);
}

void BM_ToMarkets(benchmark::State& state) {
  run(state, 1, [](Exchange& ex, const RoutingPlan& plan, auto& source, auto& slot) { ex.to_markets(plan, source[0], slot[0]); });
}

void BM_ToMarketsTwoArrays(benchmark::State& state) {  // bids: quantity and reservation price
  run(state, 2, [](Exchange& ex, const RoutingPlan& plan, auto& source, auto& slot) {
    const std::array<std::span<const double>, 2> from{source[0], source[1]};
    const std::array<std::span<double>, 2> to{slot[0], slot[1]};
    ex.to_markets(plan, from, to);
  });
}

void BM_ToFirms(benchmark::State& state) {
  run(state, 1, [](Exchange& ex, const RoutingPlan& plan, auto& source, auto& slot) { ex.to_firms(plan, slot[0], source[0]); });
}

// The offers' copy as the simulation calls it: memo'd, most values exactly 0 (one link in
// seven ships, as the home market does in the million world, 86% of offers 0) and a few
// changing between calls.
void BM_ToMarketsMemoSparse(benchmark::State& state) {
  Exchange ex(Communicator::world());
  const Layout& L = layout(ex.ranks());
  const RoutingPlan plan(L.offer_link, L.link_rank, L.slot_rank, ex.communicator());
  const std::size_t n = L.offer_link.size();
  std::vector<double> source(n, 0.0), slot(n, 0.0);
  for (std::size_t l = 0; l < n; l += kLinksPerFirm) source[l] = 1.0 + static_cast<double>(l);
  RouteMemo memo;
  ex.to_markets(plan, source, slot, memo);  // the first call writes every entry
  std::size_t call = 0;
  auto change = [&] {
    for (std::size_t l = 1 + call % kLinksPerFirm; l < n; l += 97) source[l] = source[l] != 0.0 ? 0.0 : 2.0;
    ++call;
  };
  time_calls(state, ex, n, change, [&] { ex.to_markets(plan, source, slot, memo); });
}

// The plain local loop the simulation runs today, for reference (no plan, no MPI).
void BM_LocalLoop(benchmark::State& state) {
  const Layout& L = layout(1);
  const std::size_t n = L.offer_link.size();
  std::vector<double> source(n), slot(n);
  std::iota(source.begin(), source.end(), 0.0);
  const Exchange ex;
  double total = 0.0;
  for (auto _ : state) {
    const double t0 = MPI_Wtime();
    ex.to_markets(L.offer_link, source, slot);
    benchmark::DoNotOptimize(slot.data());
    total += MPI_Wtime() - t0;
  }
  state.counters["ns_per_slot"] = 1e9 * total / static_cast<double>(state.iterations()) / static_cast<double>(n);
}

}  // namespace

// Fixed iterations: every rank must make the same collective calls.
BENCHMARK(BM_ToMarkets)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ToMarketsTwoArrays)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ToFirms)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ToMarketsMemoSparse)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

namespace {
// Rank 0 prints; the other ranks run the same benchmarks silently.
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};
}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  // The local loop involves no other rank: registered only when running alone.
  if (size == 1) benchmark::RegisterBenchmark("BM_LocalLoop", BM_LocalLoop)->Iterations(20)->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  MPI_Finalize();
  return 0;
}
