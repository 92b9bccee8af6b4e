#include "engine/ensemble.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "core/errors.hpp"
#include "engine/config.hpp"
#include "engine/mpi_communicator.hpp"
#include "engine/run.hpp"

namespace decouple {

namespace fs = std::filesystem;

std::string replicate_file(const std::string& dir, int i) {
  return (fs::path(dir) / fmt::format("rep_{}.h5", i)).string();
}
std::string failure_file(const std::string& dir, int i) {
  return (fs::path(dir) / fmt::format("rep_{}.failed", i)).string();
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw InternalError(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    throw InternalError(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(e)));
  }
}

EnsemblePlan plan_ensemble(const EnsembleOptions& o) {
  if (o.ranks_per_replicate < 1)
    throw InputError("command line", "--ranks-per-replicate", "must be >= 1");
  if (o.replications && *o.replications < 1)
    throw InputError("command line", "--replications", "must be >= 1");
  EnsemblePlan plan;
  plan.sets = o.sets;
  const Scenario sc = load_scenario(o.config, plan.sets);
  if (sc.ensemble.present) {
    plan.replications = o.replications.value_or(sc.ensemble.replications);
    if (o.replications) {
      plan.sets.push_back(fmt::format("ensemble.replications={}", *o.replications));
      (void)load_scenario(o.config, plan.sets);
    }
  } else {
    if (!o.replications)
      throw InputError("command line", "--replications",
                       fmt::format("required: {} has no [ensemble] table", o.config));
    plan.replications = *o.replications;
  }
  if (o.out_dir.empty()) throw InputError("command line", "--out", "the output folder is empty");
  std::error_code ec;
  const auto st = fs::status(o.out_dir, ec);
  if (fs::exists(st) && !fs::is_directory(st))
    throw InputError(o.out_dir, "--out", "exists and is not a folder");
  if (!fs::exists(st)) {
    fs::path parent = fs::path(o.out_dir).parent_path();
    if (parent.empty()) parent = ".";
    if (!fs::is_directory(parent, ec))
      throw InputError(o.out_dir, "--out", fmt::format("folder {} does not exist", parent.string()));
  }
  return plan;
}

namespace {

enum Status : int { none = 0, ran = 1, kept = 2, failed = 3, unrecorded = 4, stopped = 5 };  // MAX-reduced

// Rank 0 of `comm` runs f; if it throws InputError, every rank throws it.
template <class F>
void rank0_input(MPI_Comm comm, F&& f) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  Problem p;
  int failed = 0;
  if (rank == 0) {
    try {
      f();
    } catch (const InputError& e) {
      failed = 1;
      if (!e.problems().empty()) p = e.problems().front();
    }
  }
  MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
  if (!failed) return;
  for (std::string* s : {&p.file, &p.key, &p.message}) {
    unsigned long n = s->size();
    MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG, 0, comm);
    s->resize(n);
    if (n > 0) MPI_Bcast(s->data(), static_cast<int>(n), MPI_CHAR, 0, comm);
  }
  throw InputError(p.file, p.key, p.message);
}

// An error as `decouple` prints it on stderr: one line per input problem.
std::string error_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const InputError& x) {
    std::string t;
    for (const auto& p : x.problems()) t += p.format() + "\n";
    return t.empty() ? std::string(x.what()) + "\n" : t;
  } catch (const std::exception& x) {
    return fmt::format("decouple: internal error: {}\n", x.what());
  }
}

}  // namespace

EnsembleSummary run_ensemble(const EnsembleOptions& o, std::ostream& out, std::ostream& err) {
  const auto t0 = std::chrono::steady_clock::now();
  const EnsemblePlan plan = plan_ensemble(o);
  int world_rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  const int k = o.ranks_per_replicate;
  if (world_size % k != 0)
    throw InputError("command line", "--ranks-per-replicate",
                     fmt::format("{} ranks cannot be split into groups of {} (use a multiple of {} ranks)",
                                 world_size, k, k));
  rank0_input(MPI_COMM_WORLD, [&] {
    std::error_code ec;
    fs::create_directory(o.out_dir, ec);
    if (ec || !fs::is_directory(o.out_dir))
      throw InputError(o.out_dir, "--out", fmt::format("cannot create folder: {}", ec ? ec.message() : "not a folder"));
    if (::access(o.out_dir.c_str(), W_OK | X_OK) != 0)
      throw InputError(o.out_dir, "--out", "folder is not writable");
  });

  // Groups of k consecutive ranks; group g runs replicates g, g + groups, g + 2·groups, …
  const int groups = world_size / k;
  const int color = world_rank / k;
  MPI_Comm group = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, color, world_rank, &group);
  int group_rank = 0;
  MPI_Comm_rank(group, &group_rank);
  const int n = plan.replications;
  std::vector<int> status(static_cast<std::size_t>(n), Status::none);
  {
    const Communicator comm = MpiCommunicator::attach(group);
    for (int i = color; i < n; i += groups) {
      const std::string file = replicate_file(o.out_dir, i);
      int exists = 0;
      if (group_rank == 0) exists = fs::exists(file) ? 1 : 0;
      MPI_Bcast(&exists, 1, MPI_INT, 0, group);
      if (exists && !o.force) {
        status[i] = Status::kept;
        continue;
      }
      RunOptions run;
      run.config = o.config;
      run.out = file;
      run.force = true;  // only ever replaces a file that --force allowed or that appeared since
      run.sets = plan.sets;
      run.replicate = i;
      run.quiet = true;
      // A replicate stopped by a signal left its checkpoint: running the command again resumes it.
      int resume = 0;
      if (group_rank == 0) resume = !o.force && fs::exists(checkpoint_path(run)) ? 1 : 0;
      MPI_Bcast(&resume, 1, MPI_INT, 0, group);
      if (resume) run.resume = checkpoint_path(run);
      std::exception_ptr failure;
      bool stopped = false;
      try {
        std::ostringstream quiet;
        stopped = run_scenario(run, quiet, quiet, comm).stopped;
      } catch (...) {
        failure = std::current_exception();
      }
      if (stopped) {  // SIGTERM/SIGUSR1: this group stops; the checkpoint holds the replicate
        status[i] = Status::stopped;
        break;
      }
      status[i] = failure ? Status::failed : Status::ran;
      if (group_rank != 0) continue;
      std::error_code ec;
      if (!failure) {
        fs::remove(failure_file(o.out_dir, i), ec);  // an earlier attempt's
        continue;
      }
      const std::string text = error_text(failure);
      fmt::print(err, "rep_{}: {}", i, text);
      try {
        write_file_atomically(failure_file(o.out_dir, i), text);
      } catch (const std::exception& e) {
        status[i] = Status::unrecorded;
        fmt::print(err, "rep_{}: the failure could not be recorded: {}\n", i, e.what());
      }
      err.flush();
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, status.data(), n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Comm_free(&group);

  EnsembleSummary s;
  s.replicates = n;
  for (int i = 0; i < n; ++i) {
    s.ok += status[i] == Status::ran || status[i] == Status::kept;
    s.kept += status[i] == Status::kept;
    s.unrecorded += status[i] == Status::unrecorded;
    s.stopped += status[i] == Status::stopped;
    if (status[i] == Status::failed || status[i] == Status::unrecorded) {
      ++s.failed;
      s.failed_indices.push_back(i);
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MPI_Allreduce(MPI_IN_PLACE, &wall, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  s.wall_seconds = wall;
  if (world_rank == 0) {
    std::string failed_list;
    constexpr std::size_t kNamed = 10;
    for (std::size_t j = 0; j < std::min(kNamed, s.failed_indices.size()); ++j)
      failed_list += fmt::format("{}rep_{}", j == 0 ? "" : ", ", s.failed_indices[j]);
    if (s.failed_indices.size() > kNamed) failed_list += ", …";
    fmt::print(out, "ensemble: {} replicates, {} ok{}, {} failed{}, {:.1f} s\n", s.replicates, s.ok,
               s.kept > 0 ? fmt::format(" ({} kept from an earlier run)", s.kept) : std::string(),
               s.failed, s.failed > 0 ? fmt::format(" ({})", failed_list) : std::string(), s.wall_seconds);
    if (s.stopped > 0)
      fmt::print(err, "decouple: ensemble stopped on a signal with {} replicate(s) checkpointed and {} not started; "
                      "run the same command again to continue\n",
                 s.stopped, s.replicates - s.ok - s.failed - s.stopped);
  }
  return s;
}

}  // namespace decouple
