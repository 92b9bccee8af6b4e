// `decouple ensemble`: replicates 0..N-1 of a config, each the same run as
// `decouple run CONFIG --replicate I` (engine/run.hpp), written to DIR/rep_<I>.h5. The MPI world
// is split into groups of K ranks that take replicates round-robin; a replicate that fails
// leaves DIR/rep_<I>.failed (its message) and the others go on.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace decouple {

struct EnsembleOptions {
  std::string config;
  std::optional<int> replications;     // --replications N (default: ensemble.replications)
  int ranks_per_replicate = 1;         // --ranks-per-replicate K
  std::string out_dir;                 // --out DIR
  std::vector<std::string> sets;       // --set, for every replicate
  bool force = false;                  // replace existing rep_<I>.h5 (else kept and skipped)
};

// What every replicate runs with: the user's --set plus ensemble.replications=N when the
// config has an [ensemble] (N is part of the design and so of each replicate's /config).
struct EnsemblePlan {
  int replications = 0;
  std::vector<std::string> sets;
};

// Validates the config and the options without MPI (InputError: exit 2, nothing written).
EnsemblePlan plan_ensemble(const EnsembleOptions& options);

struct EnsembleSummary {
  int replicates = 0, ok = 0, kept = 0, failed = 0;
  int unrecorded = 0;  // failed and their rep_<I>.failed could not be written
  int stopped = 0;     // stopped by SIGTERM/SIGUSR1 with a checkpoint (rep_<I>.h5.checkpoint.h5)
  std::vector<int> failed_indices;
  double wall_seconds = 0.0;
};

// Collective over MPI_COMM_WORLD (MPI initialised by the caller). Every rank returns the same
// summary; world rank 0 prints failures to `err` and the summary line to `out`.
EnsembleSummary run_ensemble(const EnsembleOptions& options, std::ostream& out, std::ostream& err);

// "rep_<i>.h5" / "rep_<i>.failed" in `dir`.
std::string replicate_file(const std::string& dir, int i);
std::string failure_file(const std::string& dir, int i);
// Writes `text` to `path` through a temporary file and a rename.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace decouple
