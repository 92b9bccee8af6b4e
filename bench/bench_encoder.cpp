// The output encoder: zlib's compress2 at level 1 as HDF5's deflate filter calls it, which
// this project replaces (engine/panel_file.cpp), on chunks shaped like the million-firm
// world's firm panel after HDF5's byte shuffle. Speed is measured here, never asserted.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace {

constexpr std::size_t kRows = 16384;  // a panel chunk (engine/panel_file.cpp: kChunkRows)

// A chunk of doubles, byte-shuffled as HDF5's filter leaves it (byte j of row i at j·n + i).
std::vector<unsigned char> shuffled(const std::vector<double>& v) {
  std::vector<unsigned char> out(v.size() * 8);
  for (std::size_t i = 0; i < v.size(); ++i) {
    unsigned char b[8];
    std::memcpy(b, &v[i], 8);
    for (std::size_t j = 0; j < 8; ++j) out[j * v.size() + i] = b[j];
  }
  return out;
}

// The firm panel's kinds of f64 column: lognormal outputs and costs (random mantissas,
// exponents over a few values), a few prices shared by a region's firms, zeros (subsidies,
// floor payments), inventories that are zero for most firms.
std::vector<std::vector<unsigned char>> firm_chunks() {
  std::mt19937_64 rng(2024);
  std::lognormal_distribution<double> lognormal(3.0, 0.5);
  std::uniform_int_distribution<int> region(0, 199);
  std::vector<std::vector<unsigned char>> chunks;
  std::vector<double> v(kRows);
  for (int c = 0; c < 5; ++c) {  // output, planned output, unit cost, capacity, profit
    for (auto& x : v) x = lognormal(rng);
    chunks.push_back(shuffled(v));
  }
  std::vector<double> price(200);
  for (auto& p : price) p = 40.0 + lognormal(rng);
  for (std::size_t i = 0; i < kRows; ++i) v[i] = price[i / 82];  // a region's firms together
  chunks.push_back(shuffled(v));
  std::fill(v.begin(), v.end(), 0.0);
  chunks.push_back(shuffled(v));
  chunks.push_back(shuffled(v));
  for (int c = 0; c < 6; ++c) {  // inventories: a sixth of the firms use each input
    for (std::size_t i = 0; i < kRows; ++i) v[i] = (i / 500) % 6 == static_cast<std::size_t>(c) ? lognormal(rng) : 0.0;
    chunks.push_back(shuffled(v));
  }
  return chunks;
}

void BM_Compress2Level1FirmChunks(benchmark::State& state) {
  const auto chunks = firm_chunks();
  std::vector<unsigned char> out(compressBound(kRows * 8));
  std::size_t in_bytes = 0, out_bytes = 0;
  for (auto _ : state) {
    in_bytes = out_bytes = 0;
    for (const auto& c : chunks) {
      uLongf len = out.size();
      if (compress2(out.data(), &len, c.data(), c.size(), 1) != Z_OK) state.SkipWithError("compress2 failed");
      in_bytes += c.size();
      out_bytes += len;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in_bytes));
  state.counters["ratio"] = static_cast<double>(in_bytes) / static_cast<double>(out_bytes);
}
BENCHMARK(BM_Compress2Level1FirmChunks)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
