#include "engine/run.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <exception>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "core/errors.hpp"
#include "core/rng.hpp"
#include "engine/checkpoint.hpp"
#include "engine/config.hpp"
#include "engine/design.hpp"
#include "engine/mpi_communicator.hpp"
#include "engine/panel_file.hpp"
#include "engine/recorder.hpp"
#include "engine/simulation.hpp"

namespace decouple {

inline constexpr const char* kModelVersion = "0.1.0";
inline constexpr std::int64_t kFormatVersion = 1;

double peak_memory_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

std::uint64_t replicate_seed(std::uint64_t base_seed, int replicate) {
  const auto w = random_words({base_seed, static_cast<std::uint64_t>(replicate), 0, Purpose::sampling, 0xFFFFFF});
  return (static_cast<std::uint64_t>(w[0]) << 32 | w[1]) >> 1;  // fits a TOML integer
}

std::string config_id_of(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (const unsigned char ch : text) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

Scenario load_for_run(const RunOptions& o, RunIdentity* identity) {
  std::vector<std::string> sets = o.sets;
  if (o.seed) sets.push_back(fmt::format("run.seed={}", *o.seed));
  Scenario sc = load_scenario(o.config, sets);
  if (o.seed && sc.ensemble.present) {
    sets.push_back(fmt::format("ensemble.seed={}", *o.seed));
    sc = load_scenario(o.config, sets);
  }
  const std::uint64_t base = sc.ensemble.present ? sc.ensemble.seed : sc.run.seed;
  if (identity) *identity = {config_id_of(sc.resolved_toml), base};
  if (o.replicate) {
    // Load again with the replicate's own seed (and point), so /config alone reproduces the run.
    if (*o.replicate < 0) throw InputError("command line", "--replicate", "must be >= 0");
    if (sc.ensemble.present) {
      sets.push_back(fmt::format("ensemble.seed={}", base));
      const auto point = parameter_overrides(sc.ensemble, *o.replicate);
      sets.insert(sets.end(), point.begin(), point.end());
    }
    sets.push_back(fmt::format("run.seed={}", replicate_seed(base, *o.replicate)));
    sc = load_scenario(o.config, sets);
  }
  return sc;
}

namespace {
// ---- stopping on a signal (SLURM sends SIGTERM or, with --signal, SIGUSR1 before the time
// limit; mpirun forwards SIGUSR1): the handler only sets a flag, read once per period.
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void on_stop_signal(int signal) { stop_signal = signal; }

// SIGTERM and SIGUSR1 set the flag while a run lasts; the previous handlers come back after.
class StopSignals {
 public:
  StopSignals() {
    stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGUSR1, &sa, &old_usr1_);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_term_ {}, old_usr1_ {};
};

// A word for a shell command line, quoted when it needs to be.
std::string shell_word(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=.,:/@%") == std::string::npos;
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command that continues a stopped run.
std::string resume_command(const RunOptions& o, const std::string& out, const std::string& checkpoint) {
  std::string cmd = fmt::format("decouple run {} --out {}", shell_word(o.config), shell_word(out));
  for (const auto& kv : o.sets) cmd += " --set " + shell_word(kv);
  if (o.seed) cmd += fmt::format(" --seed {}", *o.seed);
  if (o.replicate) cmd += fmt::format(" --replicate {}", *o.replicate);
  if (o.checkpoint_every) cmd += fmt::format(" --checkpoint-every {}", *o.checkpoint_every);
  return cmd + " --resume " + shell_word(checkpoint);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

std::string checkpoint_path(const RunOptions& o) {
  return (o.out.empty() ? std::filesystem::path(o.config).stem().string() + ".h5" : o.out) + ".checkpoint.h5";
}

void check_run_options(const RunOptions& o, const Scenario& sc) {
  if (o.checkpoint_every && *o.checkpoint_every < 1)
    throw InputError("command line", "--checkpoint-every", "must be a number of periods >= 1");
  if (o.stop_after && *o.stop_after < 1)
    throw InputError("command line", "--stop-after", "must be a number of periods >= 1");
  if (!o.resume.empty()) (void)check_checkpoint(o.resume, sc);
  if (!o.period_timings.empty()) check_output_path(o.period_timings, o.force, "--period-timings");
}

namespace {
// Rank 0 writes every rank's per-period phase times (Simulation::period_times, concatenated
// in rank order) as CSV, a row per period and rank in that order (through FILE.partial).
void write_period_timings(const std::string& path, const std::vector<double>& all, int ranks) {
  constexpr int F = Simulation::kPeriodTimeFields, P = Simulation::kPhases;
  const std::size_t rows = all.size() / F / static_cast<std::size_t>(ranks);
  std::string text = "period,rank";
  for (const char* name : Simulation::kPhaseNames) {
    std::string column(name);
    std::replace(column.begin(), column.end(), ' ', '_');
    text += fmt::format(",{0}_work,{0}_exchange", column);
  }
  text += '\n';
  for (std::size_t i = 0; i < rows; ++i)
    for (int r = 0; r < ranks; ++r) {
      const double* row = all.data() + (static_cast<std::size_t>(r) * rows + i) * F;
      text += fmt::format("{},{}", static_cast<long>(row[0]), r);
      for (int k = 0; k < 2 * P; ++k) text += fmt::format(",{:.6f}", row[1 + k]);
      text += '\n';
    }
  CsvWriter file(path, "--period-timings");
  file.write(text);
  file.finish();
}
}  // namespace

RunSummary run_scenario(const RunOptions& o, std::ostream& out, std::ostream& err) {
  return run_scenario(o, out, err, Communicator::world());
}

RunSummary run_scenario(const RunOptions& o, std::ostream& out, std::ostream& err, const Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  RunIdentity id;
  const Scenario sc = load_for_run(o, &id);
  check_run_options(o, sc);
  const StopSignals signals;  // before the output exists: a signal from then on is a clean stop
  const bool root = comm.rank() == 0;
  RunSummary s;
  s.out = o.out.empty() ? std::filesystem::path(o.config).stem().string() + ".h5" : o.out;
  const std::string checkpoint = checkpoint_path(o);
  // Refuses an existing output without --force, before any work.
  PanelFile file(s.out, o.force, MpiCommunicator::native(comm));
  file.set_attributes("/", {{"format", std::string("decouple-panel")},
                            {"format_version", kFormatVersion},
                            {"model_version", std::string(kModelVersion)},
                            {"scenario", sc.run.scenario},
                            {"seed", static_cast<std::int64_t>(sc.run.seed)},
                            {"replicate", static_cast<std::int64_t>(o.replicate.value_or(0))},
                            {"periods", static_cast<std::int64_t>(sc.run.periods)},
                            {"burn_in", static_cast<std::int64_t>(sc.run.burn_in)},
                            {"start", sc.run.start},
                            {"ranks", static_cast<std::int64_t>(comm.size())},
                            {"created_utc", utc_now()},
                            {"config_id", id.config_id},
                            {"base_seed", static_cast<std::int64_t>(id.base_seed)}});
  file.write_text("/config", sc.resolved_toml);
  file.set_deflate(sc.output.deflate);

  Simulation sim(sc, comm);
  sim.keep_period_times(!o.period_timings.empty());
  Exchange& ex = sim.exchange();
  Recorder recorder(sim, file);
  int first = sim.first_period();
  if (!o.resume.empty()) {
    first = restore_checkpoint(o.resume, sim, file);
    file.set_attributes("/", {{"resumed_at", static_cast<std::int64_t>(first)}});
  }
  const bool show = root && !o.quiet && (o.progress || isatty(STDERR_FILENO));
  std::int64_t link_periods = 0;  // this rank's firms' active links × periods
  double io_seconds = 0.0;        // this rank's time in the recorder and file (its waits: below)
  const auto loop_start = std::chrono::steady_clock::now();
  const double setup_seconds = std::chrono::duration<double>(loop_start - t0).count();
  ex.reset_stats();
  const auto& w = sim.world();
  int done = 0, stopped_after = 0;  // periods this invocation simulated; the period it stopped after
  std::uint64_t checkpoint_bytes = 0;
  for (int t = first; t < sc.run.periods; ++t) {
    // An error on one rank must not leave the others waiting in a collective: every rank
    // checks in after each period and all stop together, the failing rank with its own
    // error, the others with its message.
    std::exception_ptr failure;
    std::string message;
    try {
      sim.step(t);
      if (t >= 0) {
        const auto r0 = std::chrono::steady_clock::now();
        recorder.record(t);
        io_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
      }
    } catch (const std::exception& e) {
      failure = std::current_exception();
      message = e.what();
    }
    // A signal (on any rank) or --stop-after rides on the same agreement.
    ++done;
    const bool stop_here = stop_signal != 0 || (o.stop_after && done >= *o.stop_after);
    const ErrorAgreement verdict = ex.agree_error(failure != nullptr, message, stop_here);
    if (failure) std::rethrow_exception(failure);
    if (verdict.failed) throw InternalError(fmt::format("rank {}: {}", verdict.rank, verdict.message));
    for (Index f = sim.firm_begin(); f < sim.firm_end(); ++f)
      if (w.firm_status[f] == FirmStatus::active) link_periods += w.link_begin[f + 1] - w.link_begin[f];
    if (show && (t % 12 == 0 || t + 1 == sc.run.periods))
      fmt::print(err, "\rperiod {:>6}/{} ({})", t + 1, sc.run.periods, period_label(sc.run, t));
    if (t + 1 == sc.run.periods) break;  // finished: the output is the result, not a checkpoint
    const bool due = o.checkpoint_every && (t - sim.first_period() + 1) % *o.checkpoint_every == 0;
    if (verdict.stop || due) {
      const auto c0 = std::chrono::steady_clock::now();
      checkpoint_bytes = write_checkpoint(checkpoint, sim, recorder, file, t + 1);
      ++s.checkpoints;
      s.checkpoint_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    }
    if (verdict.stop) {
      s.stopped = true;
      stopped_after = t;
      break;
    }
  }
  if (show) fmt::print(err, "\n");
  if (s.stopped) {
    // The output's partial file goes with `file`; the checkpoint holds the run.
    s.checkpoint = checkpoint;
    if (root) {
      const std::string why = stop_signal == SIGTERM  ? "on SIGTERM"
                              : stop_signal == SIGUSR1 ? "on SIGUSR1"
                              : stop_signal != 0       ? fmt::format("on signal {}", static_cast<int>(stop_signal))
                              : o.stop_after && done >= *o.stop_after
                                  ? fmt::format("by --stop-after {}", *o.stop_after)
                                  : std::string("on a signal to another rank");
      fmt::print(err, "decouple: stopped {} after period {} ({}); checkpoint {} ({:.1f} MB, written in {:.2f} s); "
                      "continue with: {}\n",
                 why, stopped_after, period_label(sc.run, stopped_after), checkpoint, checkpoint_bytes / 1e6,
                 s.checkpoint_seconds, resume_command(o, s.out, checkpoint));
    }
    return s;
  }
  const ExchangeStats traffic = ex.stats();
  const auto f0 = std::chrono::steady_clock::now();
  recorder.finish();
  link_periods = ex.sum_over_ranks(link_periods);
  // The slowest rank's time up to its last write (every rank stores the same value).
  double to_last_write[1] = {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
  ex.max_over_ranks(to_last_write);
  file.set_attributes("/", {{"wall_seconds", to_last_write[0]}});
  file.commit();
  // The finished output supersedes the run's checkpoint (one this run wrote or resumed from).
  if (root) {
    std::error_code ec;
    if (s.checkpoints > 0 || (!o.resume.empty() && std::filesystem::equivalent(o.resume, checkpoint, ec))) {
      std::filesystem::remove(checkpoint, ec);
      std::filesystem::remove(checkpoint + ".partial", ec);  // left by a checkpoint write that was killed
    }
  }
  io_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
  // The summary's wall time runs to the commit (the file's close and rename, which the output
  // share counts too): the attribute, written before, is the run up to its last write.
  double to_commit[1] = {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
  ex.max_over_ranks(to_commit);
  s.wall_seconds = to_commit[0];
  // Rank 0's shares of the wall time; bytes every rank sent, per simulated period.
  s.setup_seconds = setup_seconds;
  // Before its collective writes the recorder waits for ranks still busy with the periods
  // before: that is load imbalance, counted with the exchange's waiting, not as output.
  const double waited = recorder.waiting_seconds();
  s.io_share = s.wall_seconds > 0.0 ? (io_seconds - waited) / s.wall_seconds : 0.0;
  s.exchange_share = s.wall_seconds > 0.0 ? (traffic.seconds + waited) / s.wall_seconds : 0.0;
  const int simulated = sc.run.periods + sc.run.burn_in;
  s.bytes_per_period = static_cast<double>(ex.sum_over_ranks(static_cast<std::int64_t>(
                           traffic.routed_bytes_sent + traffic.collective_bytes_sent))) /
                       std::max(1, simulated);

  s.periods = sc.run.periods;
  s.firms = w.firms;
  s.links = w.links;
  s.markets = w.markets;
  s.updates_per_second = s.wall_seconds > 0.0 ? static_cast<double>(link_periods) / s.wall_seconds : 0.0;
  double memory[1] = {peak_memory_mb()};
  s.peak_memory_total_mb = static_cast<double>(ex.sum_over_ranks(static_cast<std::int64_t>(memory[0] * 1024.0))) / 1024.0;
  ex.max_over_ranks(memory);
  s.peak_memory_mb = memory[0];
  s.ranks = comm.size();
  std::int64_t entered = 0, exited = 0;
  for (Index f = sim.firm_begin(); f < sim.firm_end(); ++f) {
    entered += w.firm_pool[f] != kNone && w.firm_status[f] != FirmStatus::candidate;
    exited += w.firm_status[f] == FirmStatus::exited;
  }
  entered = ex.sum_over_ranks(entered);
  exited = ex.sum_over_ranks(exited);
  // Per rank: each phase's work and exchange seconds, then set-up and output.
  std::vector<double> timings;
  if (o.timings) {
    const auto& pt = sim.phase_times();
    std::vector<double> mine(pt.work.begin(), pt.work.end());
    mine.insert(mine.end(), pt.exchange.begin(), pt.exchange.end());
    mine.push_back(setup_seconds);
    mine.push_back(io_seconds - waited);  // as in the summary: the wait for slower ranks is not output
    timings = ex.allgather_concat(mine);
  }
  if (!o.period_timings.empty()) {
    const std::vector<double> all = ex.allgather_concat(sim.period_times());
    if (root) write_period_timings(o.period_timings, all, comm.size());
  }
  if (o.quiet || !root) return s;

  fmt::print(out, "{} — {} months from {} ({} firms incl. entrant candidates, {} firm-market links, {} markets; {} rank{})\n",
             sc.run.scenario, sc.run.periods, sc.run.start, s.firms, s.links, s.markets, s.ranks,
             s.ranks == 1 ? "" : "s");
  const int last = sc.run.periods - 1;
  fmt::print(out, "\nMarkets in {} (last period)\n", period_label(sc.run, last));
  fmt::print(out, "{:<14} {:<10} {:>12} {:>12} {:>10} {:>10} {:>10}\n", "good", "region", "price",
             "quantity", "dep.share", "HHI firms", "shortage");
  const auto& mm = sim.markets();
  constexpr Index kShown = 40;  // a synthetic world has thousands: the panel has them all
  for (Index m = 0; m < std::min(w.markets, kShown); ++m)
    fmt::print(out, "{:<14} {:<10} {:>12.2f} {:>12.2f} {:>10.3f} {:>10.0f} {:>10.2f}\n",
               sc.goods[w.market_good[m]].id, sc.regions[w.market_region[m]].id, w.market_price[m],
               mm.sold[m], mm.dependency_share[m], mm.hhi_firms[m], mm.shortage[m]);
  if (w.markets > kShown) fmt::print(out, "… and {} more markets (/panel/market)\n", w.markets - kShown);
  fmt::print(out, "\nEntries {}, exits {}\n", entered, exited);
  fmt::print(out, "\nwritten {} in {:.2f} s ({:.3g} firm-market updates/s, peak memory {:.0f} MB{})\n",
             s.out, s.wall_seconds, s.updates_per_second, s.peak_memory_mb,
             s.ranks == 1 ? std::string() : fmt::format(" per rank, {:.0f} MB in all", s.peak_memory_total_mb));
  fmt::print(out, "time (rank 0): set-up {:.2f} s, output {:.1f}%, exchange {:.1f}% (waiting included); {:.3g} MB sent between ranks per period\n",
             s.setup_seconds, 100.0 * s.io_share, 100.0 * s.exchange_share, s.bytes_per_period / 1e6);
  if (o.timings) {
    constexpr int P = Simulation::kPhases;
    const std::size_t per = 2 * P + 2;
    fmt::print(out, "\nseconds per rank (work + exchange, waiting included)\n{:<14}", "phase");
    for (int r = 0; r < s.ranks; ++r) fmt::print(out, " {:>17}", fmt::format("rank {}", r));
    fmt::print(out, "\n");
    for (int k = 0; k < P; ++k) {
      fmt::print(out, "{:<14}", Simulation::kPhaseNames[k]);
      for (int r = 0; r < s.ranks; ++r) {
        const double* t = timings.data() + r * per;
        fmt::print(out, " {:>8.2f} + {:>6.2f}", t[k], t[P + k]);
      }
      fmt::print(out, "\n");
    }
    for (int k : {0, 1}) {
      fmt::print(out, "{:<14}", k == 0 ? "set-up" : "output");
      for (int r = 0; r < s.ranks; ++r) fmt::print(out, " {:>17.2f}", timings[r * per + 2 * P + k]);
      fmt::print(out, "\n");
    }
    // What each rank owns (the decomposition is the same on every rank).
    const auto& d = sim.decomposition();
    std::vector<std::int64_t> firms(s.ranks), links(s.ranks), slots(s.ranks), markets(s.ranks),
        offers(s.ranks), bids(s.ranks);
    for (int r = 0; r < s.ranks; ++r) {
      const Index lo = d.firm_begin[r], hi = d.firm_begin[r + 1];
      firms[r] = hi - lo;
      links[r] = w.link_begin[hi] - w.link_begin[lo];
      slots[r] = w.slot_begin[hi] - w.slot_begin[lo];
    }
    for (Index m = 0; m < w.markets; ++m) {
      const int r = d.market_rank[m];
      ++markets[r];
      offers[r] += w.offer_begin[m + 1] - w.offer_begin[m];
      bids[r] += w.bid_begin[m + 1] - w.bid_begin[m];
    }
    const std::pair<const char*, const std::vector<std::int64_t>*> owned[] = {
        {"firms", &firms}, {"links", &links}, {"input slots", &slots},
        {"markets", &markets}, {"offer slots", &offers}, {"bid slots", &bids}};
    for (const auto& [name, v] : owned) {
      fmt::print(out, "{:<14}", name);
      for (int r = 0; r < s.ranks; ++r) fmt::print(out, " {:>17}", (*v)[r]);
      fmt::print(out, "\n");
    }
  }
  if (s.checkpoints > 0)
    fmt::print(out, "{} checkpoint{} written in {:.2f} s (the last {:.1f} MB; {} removed now that the run is complete)\n",
               s.checkpoints, s.checkpoints == 1 ? "" : "s", s.checkpoint_seconds, checkpoint_bytes / 1e6, checkpoint);
  return s;
}

}  // namespace decouple
