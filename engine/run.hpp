// `decouple run`: load → build → simulate → write, with the output committed only on
// success. Also what `validate` needs. The CLI (app/main.cpp) maps exceptions to exit codes.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/scenario.hpp"

namespace decouple {

class Communicator;  // engine/exchange.hpp

struct RunOptions {
  std::string config;
  std::string out;                     // empty: <config stem>.h5 in the current folder
  bool force = false;
  std::vector<std::string> sets;       // --set dotted.key=value
  std::optional<std::uint64_t> seed;   // --seed
  std::optional<int> replicate;        // --replicate
  bool progress = false, quiet = false;
  bool timings = false;                 // --timings: per-rank seconds per phase at the end
  std::string period_timings;           // --period-timings FILE: the same per period, as CSV
  // Checkpoints (engine/checkpoint.hpp): OUT.checkpoint.h5 after every N simulated periods;
  // continue from a checkpoint; stop (checkpoint, RunSummary::stopped) after N periods.
  std::optional<int> checkpoint_every;  // --checkpoint-every N
  std::string resume;                   // --resume FILE
  std::optional<int> stop_after;        // --stop-after N
};

struct RunSummary {
  std::string out;
  int periods = 0;
  long firms = 0, links = 0, markets = 0;
  double wall_seconds = 0.0;          // from the config's load to the output's commit (slowest rank)
  double updates_per_second = 0.0;     // Σ active firms' links × periods ÷ wall time
  double peak_memory_mb = 0.0;        // the largest rank's
  double peak_memory_total_mb = 0.0;  // summed over ranks
  int ranks = 1;
  double setup_seconds = 0.0;     // load, build, decomposition and file creation (rank 0)
  double io_share = 0.0;          // rank 0's time writing output ÷ wall time
  double exchange_share = 0.0;    // rank 0's time in the exchange ÷ wall time
  double bytes_per_period = 0.0;  // sent between ranks, all ranks, per simulated period
  // Stopped on SIGTERM/SIGUSR1 or --stop-after: no output, the checkpoint holds the run.
  bool stopped = false;
  std::string checkpoint;         // OUT.checkpoint.h5
  int checkpoints = 0;            // written by this run
  double checkpoint_seconds = 0;  // rank 0's time writing them
};

// What ties a run to its ensemble: recorded as root attributes of its file.
struct RunIdentity {
  std::string config_id;        // config_id_of(the resolved base configuration)
  std::uint64_t base_seed = 0;  // ensemble.seed with an [ensemble], else run.seed (before --replicate)
};

// The scenario with --seed/--replicate/--set applied (throws InputError). With --replicate I:
// seed = replicate_seed(base seed, I) and, if the config has an [ensemble], I's parameter
// point (engine/design.hpp) applied as --set overrides after the user's. The resolved text
// records ensemble.seed explicitly, so `run <its /config> --replicate I` runs the same.
// --seed N sets run.seed and, with an [ensemble], ensemble.seed.
Scenario load_for_run(const RunOptions& options, RunIdentity* identity = nullptr);
// The seed replicate i runs with: a pure function of (base seed, i).
std::uint64_t replicate_seed(std::uint64_t base_seed, int replicate);
// 16 hex digits: FNV-1a 64 of a resolved configuration text.
std::string config_id_of(const std::string& resolved_toml);
// Runs and writes the panel file; prints the summary table to `out` unless quiet. Every rank
// of `comm` takes part (the first form: MPI_COMM_WORLD). On SIGTERM or SIGUSR1 (caught while
// it runs) or after --stop-after periods, it finishes the period, writes the checkpoint,
// prints one line on `err` (rank 0) and returns with `stopped` set.
RunSummary run_scenario(const RunOptions& options, std::ostream& out, std::ostream& err);
RunSummary run_scenario(const RunOptions& options, std::ostream& out, std::ostream& err,
                        const Communicator& comm);
// Bad --checkpoint-every/--stop-after/--resume (the checkpoint's config must be the run's):
// InputError. Serial, no MPI.
void check_run_options(const RunOptions& options, const Scenario& scenario);
// OUT.checkpoint.h5 for the run's output path.
std::string checkpoint_path(const RunOptions& options);

double peak_memory_mb();

}  // namespace decouple
