// Throwaway throughput check of the parallel HDF5 writer (PanelFile): 10^7 rows x 12 f64
// columns appended 10^6 rows at a time (each rank its contiguous share), collectively over
// MPI-IO. Times only the PanelFile calls (constructor to commit), not making the rows.
//   mpiexec -n N bench_panel_write [OUT.h5] [RUNS]   (prints seconds and MB/s of raw data)
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/panel_file.hpp"

using namespace decouple;

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::string out = argc > 1 ? argv[1] : "bench_panel.h5";
  const int runs = argc > 2 ? std::stoi(argv[2]) : 3;
  constexpr std::size_t kRows = 10'000'000, kBlock = 1'000'000, kCols = 12;

  std::vector<ColumnSpec> specs;
  for (std::size_t c = 0; c < kCols; ++c)
    specs.push_back({"c" + std::to_string(c), ColumnType::f64, "1", "", ""});
  std::vector<double> seconds;
  std::uintmax_t bytes_on_disk = 0;
  for (int run = 0; run < runs; ++run) {
    MPI_Barrier(MPI_COMM_WORLD);
    double busy = 0;  // time inside PanelFile calls on this rank
    auto timed = [&](auto&& f) {
      const double t = MPI_Wtime();
      f();
      busy += MPI_Wtime() - t;
    };
    {
      std::unique_ptr<PanelFile> f;
      timed([&] { f = std::make_unique<PanelFile>(out, /*force=*/true, MPI_COMM_WORLD); });
      timed([&] { f->create_panel("/panel/bench", specs); });
      Table t;
      for (const auto& s : specs) t.add(s);
      for (std::size_t first = 0; first < kRows; first += kBlock) {
        // Values look like model output (smooth in the row index, noise in the low bits), so
        // deflate has real work to do.
        const std::size_t lo = first + kBlock * rank / size;
        const std::size_t hi = first + kBlock * (rank + 1) / size;
        t.clear_rows();
        for (std::size_t c = 0; c < kCols; ++c) {
          auto& v = t.f64(c);
          v.reserve(hi - lo);
          for (std::size_t i = lo; i < hi; ++i) {
            std::uint64_t h = (i * 0x9E3779B97F4A7C15ULL) ^ (c * 0xBF58476D1CE4E5B9ULL);
            h ^= h >> 31;
            v.push_back(static_cast<double>(c + 1) * 100.0 +
                        static_cast<double>(i % 1000) * 0.25 +
                        static_cast<double>(h % 100000) * 1e-6);
          }
        }
        timed([&] { f->append("/panel/bench", t); });
      }
      timed([&] { f->commit(); });
      timed([&] { f.reset(); });
    }
    double slowest = 0;
    MPI_Reduce(&busy, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    seconds.push_back(slowest);
    if (rank == 0) bytes_on_disk = std::filesystem::file_size(out);
  }
  if (rank == 0) {
    const double mb = kRows * kCols * 8 / 1e6;
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    for (double s : seconds) std::printf("run: %.3f s  %.1f MB/s\n", s, mb / s);
    std::printf("ranks=%d rows=%zu cols=%zu raw=%.0f MB file=%.0f MB median=%.3f s  %.1f MB/s\n",
                size, kRows, kCols, mb, static_cast<double>(bytes_on_disk) / 1e6, median,
                mb / median);
  }
  MPI_Finalize();
  return 0;
}
