// `decouple merge DIR|FILES... --out FILE`: one file from an ensemble's replicate files
// (layout in README "Ensembles"): /replicates, every panel with a `replicate` column, and
// /summary/<panel> (mean and 5/50/95% quantiles across replicates per row) for the panels
// whose key columns agree across replicates. Streams: files are opened one at a time and
// rows are read in blocks under a fixed memory budget, so memory does not grow with the
// number of replicates. Serial; the writer needs MPI initialised (it runs on MPI_COMM_SELF).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace decouple {

struct MergeOptions {
  std::vector<std::string> inputs;  // folders (their rep_<I>.h5 and rep_<I>.failed) or files
  std::string out;
  bool force = false;
};

struct MergeSummary {
  std::int64_t replications = 0, ok = 0, failed = 0, missing = 0;
  std::vector<std::string> panels, summaries;
};

// Throws InputError (exit 2, nothing written) for bad inputs: missing files, files that are
// not decouple files, mixed configurations (config_id), duplicate replicate indices.
MergeSummary merge_replicates(const MergeOptions& options);

}  // namespace decouple
