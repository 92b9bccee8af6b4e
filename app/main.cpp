// decouple — command line (DESIGN §8). Exit status: 0 ok, 2 bad input, 1 internal failure,
// 3 stopped on a signal or --stop-after with a checkpoint written (resume with --resume).
// Every user mistake surfaces here as an InputError: one line per problem on stderr.
#include <charconv>
#include <cstdint>
#include <iostream>

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <mpi.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/errors.hpp"
#include "engine/config.hpp"
#include "engine/ensemble.hpp"
#include "engine/merge.hpp"
#include "engine/panel_file.hpp"
#include "engine/run.hpp"

using namespace decouple;

namespace {
// MPI while a run lasts: the HDF5 writer is collective over MPI_COMM_WORLD (one rank when
// started without mpiexec). Only `run` needs it: MPI_Init costs ~0.3 s here, too much for
// validate/info/export. Finalizes only what it initialised.
struct MpiSession {
  bool mine = false;
  MpiSession() {
    // Started without mpiexec (a singleton): Open MPI need not probe network transports or
    // spawn a helper daemon (0.35 s → 0.06 s; no orphaned orted). The user's environment wins.
    if (!std::getenv("OMPI_COMM_WORLD_SIZE")) {
      setenv("OMPI_MCA_pml", "ob1", 0);
      setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
      // Isolated singletons share one session folder (/tmp/ompi.*/jf.0/1), which the first to
      // finish removes: the shared-memory shared-file-pointer component then fails to create
      // its file there and says so on stderr when another singleton opens an HDF5 file
      // (seen with concurrent runs). HDF5 never uses shared file pointers.
      setenv("OMPI_MCA_sharedfp", "^sm", 0);
    }
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) mine = MPI_Init(nullptr, nullptr) == MPI_SUCCESS;
  }
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (mine && !finalized) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};
// This process's rank as the launcher tells it (mpiexec, srun), known before MPI_Init, so that
// an error every rank detects — bad input above all — is printed once, by rank 0.
int launch_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Large arrays from the heap, and freed memory kept for the next: by default glibc maps
  // each large block apart (over 128 kB, a threshold that rises to at most 32 MB) and unmaps
  // it when freed, so temporaries — set-up's, and some every month — fault their pages in
  // again (a million-firm rank: 255k → 201k page faults in set-up, each a few µs on this VM;
  // docs/PERFORMANCE.md, twelfth pass). The heap grows to the run's peak and stays there.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT32_MAX);
#endif
  CLI::App app{"decouple — an agent-based model of US-China decoupling in critical minerals and chips"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "decouple 0.1.0");

  // run.seed is a TOML integer: 0 ..= 2^63-1. Checked on the text, before CLI11 converts it
  // to uint64 (which would wrap "-1" around to 2^64-1).
  const CLI::Validator toml_seed(
      [](std::string& s) -> std::string {
        std::int64_t v = -1;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || end != s.data() + s.size() || v < 0)
          return fmt::format("must be an integer from 0 to {}, got '{}'", INT64_MAX, s);
        return {};
      },
      "0..2^63-1");

  RunOptions run;
  auto* cmd_run = app.add_subcommand("run", "run a scenario and write its panels to HDF5");
  cmd_run->add_option("CONFIG", run.config, "scenario file (TOML)")->required();
  cmd_run->add_option("--out", run.out, "output file (default: <config name>.h5)");
  cmd_run->add_flag("--force", run.force, "replace an existing output file (only on success)");
  // One value per --set (repeat the flag), so `run --set k=v CONFIG --out X` keeps CONFIG.
  cmd_run->add_option("--set", run.sets, "override a key: dotted.key=value (repeatable)")
      ->allow_extra_args(false);
  cmd_run->add_option("--seed", run.seed, "override run.seed")->check(toml_seed);
  cmd_run->add_option("--replicate", run.replicate, "run replicate I (its seed derives from run.seed and I)");
  auto* progress = cmd_run->add_flag("--progress", run.progress, "show progress even when stderr is not a terminal");
  cmd_run->add_flag("--quiet", run.quiet, "print nothing on success")->excludes(progress);
  cmd_run->add_flag("--timings", run.timings, "at the end, print each rank's seconds per phase of the period loop");
  cmd_run->add_option("--period-timings", run.period_timings,
                      "write each rank's seconds per phase of every period to FILE (CSV)");
  cmd_run->add_option("--checkpoint-every", run.checkpoint_every,
                      "keep the state after every N periods in OUT.checkpoint.h5");
  cmd_run->add_option("--resume", run.resume, "continue the run a checkpoint holds (same config and options)");
  cmd_run->add_option("--stop-after", run.stop_after,
                      "stop after N periods as on SIGTERM: write OUT.checkpoint.h5, exit 3");

  std::string validate_config;
  std::vector<std::string> validate_sets;
  auto* cmd_validate = app.add_subcommand("validate", "check a scenario file and exit");
  cmd_validate->add_option("CONFIG", validate_config, "scenario file (TOML)")->required();
  cmd_validate->add_option("--set", validate_sets, "override a key: dotted.key=value (repeatable)")
      ->allow_extra_args(false);

  std::string info_file;
  auto* cmd_info = app.add_subcommand("info", "describe a panel file");
  cmd_info->add_option("FILE", info_file, "HDF5 file written by decouple")->required();

  std::string export_file, export_dir;
  auto* cmd_export = app.add_subcommand("export", "write every panel as CSV (for Stata and R)");
  cmd_export->add_option("FILE", export_file, "HDF5 file written by decouple")->required();
  cmd_export->add_option("--csv", export_dir, "output folder")->required();

  EnsembleOptions ens;
  auto* cmd_ensemble = app.add_subcommand("ensemble", "run replicates 0..N-1 of a scenario into DIR/rep_<I>.h5");
  cmd_ensemble->add_option("CONFIG", ens.config, "scenario file (TOML)")->required();
  cmd_ensemble->add_option("--replications", ens.replications, "number of replicates N (default: ensemble.replications)");
  cmd_ensemble->add_option("--ranks-per-replicate", ens.ranks_per_replicate, "MPI ranks per replicate K (the world size must be a multiple)")
      ->check(CLI::PositiveNumber);
  cmd_ensemble->add_option("--out", ens.out_dir, "output folder (created if missing)")->required();
  cmd_ensemble->add_option("--set", ens.sets, "override a key in every replicate: dotted.key=value (repeatable)")
      ->allow_extra_args(false);
  cmd_ensemble->add_flag("--force", ens.force, "run again replicates whose rep_<I>.h5 exists (else kept)");

  MergeOptions merge;
  auto* cmd_merge = app.add_subcommand("merge", "merge an ensemble's replicate files into one file with /replicates and /summary");
  cmd_merge->add_option("INPUTS", merge.inputs, "a folder of rep_<I>.h5 / rep_<I>.failed, or files")->required();
  cmd_merge->add_option("--out", merge.out, "output file")->required();
  cmd_merge->add_flag("--force", merge.force, "replace an existing output file (only on success)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(std::cerr, "decouple: {}\n", e.what());
    return 2;
  }

  const bool speaks = launch_rank() == 0;
  try {
    if (*cmd_run) {
      check_run_options(run, load_for_run(run));  // bad input exits 2 before MPI starts
      const MpiSession mpi;
      if (run_scenario(run, std::cout, std::cerr).stopped) return 3;
    } else if (*cmd_ensemble) {
      (void)plan_ensemble(ens);  // bad input exits 2 before MPI starts
      const MpiSession mpi;
      const EnsembleSummary summary = run_ensemble(ens, std::cout, std::cerr);
      // 0: some replicates succeeded and every failure is recorded in its rep_<I>.failed.
      if (summary.stopped > 0) return 3;  // a signal: checkpoints written, run again to continue
      return summary.ok > 0 && summary.unrecorded == 0 ? 0 : 1;
    } else if (*cmd_merge) {
      const MpiSession mpi;  // the writer is MPI-IO (on MPI_COMM_SELF); one rank merges
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      if (rank != 0) return 0;
      const MergeSummary s = merge_replicates(merge);
      auto join = [](const std::vector<std::string>& v) {
        std::string r;
        for (const auto& x : v) r += (r.empty() ? "" : ", ") + x;
        return r.empty() ? std::string("none") : r;
      };
      fmt::print("merged {} replicates ({} ok, {} failed, {} missing) into {}; panels: {}; summaries: {}\n",
                 s.replications, s.ok, s.failed, s.missing, merge.out, join(s.panels), join(s.summaries));
    } else if (*cmd_validate) {
      const Scenario sc = load_scenario(validate_config, validate_sets);
      fmt::print("{}: ok ({} regions, {} goods, {} firms, {} entrant pools, {} events)\n",
                 validate_config, sc.regions.size(), sc.goods.size(), sc.firms.size(),
                 sc.entrant_pools.size(), sc.events.size());
    } else if (*cmd_info) {
      std::cout << describe_file(info_file);
    } else if (*cmd_export) {
      for (const auto& f : export_csv(export_file, export_dir)) fmt::print("{}\n", f);
    }
    return 0;
  } catch (const InputError& e) {
    // Every rank detects bad input (the same files before MPI starts, agreed errors after), so
    // rank 0 alone reports it and exits 2. The others exit 0: a launcher aborts the job at the
    // first non-zero exit, which could kill rank 0 before its message reaches the terminal.
    if (!speaks) return 0;
    for (const auto& p : e.problems()) fmt::print(std::cerr, "{}\n", p.format());
    return 2;
  } catch (const std::exception& e) {
    if (speaks) fmt::print(std::cerr, "decouple: internal error: {}\n", e.what());
    return 1;
  }
}
