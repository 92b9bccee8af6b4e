// Checkpoint/restart (DESIGN §8). A checkpoint is one HDF5 file, OUT.checkpoint.h5, written as
// OUT.checkpoint.h5.partial and renamed over the previous one, holding
//   /config              the resolved configuration text (resuming checks it is the same)
//   /panel/<name>        every panel row recorded so far (a snapshot of the output)
//   /state/<name>        every state variable later periods depend on (Simulation::state),
//                        in global id order, so any number of ranks can restore it
// and root attributes format = "decouple-checkpoint", next_period, seed, scenario, ranks.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace decouple {

class Simulation;
class Recorder;
class PanelFile;
struct Scenario;

// How an array is spread over the ranks while a run lasts (global index space, except links).
enum class StateScope : std::uint8_t {
  replicated,  // the same on every rank
  firms,       // [firm]: current for the rank's own firms
  links,       // [link]: held for the rank's own firms' links only (saved for every link)
  slots,       // [input slot]: current for the rank's own firms' slots
  markets,     // [market]: current on each market's owner only
};

// One pass over named state. Saving reads every array; loading replaces it (replicated arrays
// take the saved length; the others must match the world's size).
class StateVisitor {
 public:
  virtual ~StateVisitor() = default;
  virtual bool loading() const = 0;
  virtual void f64(const std::string& name, StateScope scope, std::vector<double>& values) = 0;
  virtual void i64(const std::string& name, StateScope scope, std::vector<std::int64_t>& values) = 0;
  virtual void text(const std::string& name, std::vector<std::string>& values) = 0;

  // A vector of doubles, integers or enums.
  template <class T>
  void array(const std::string& name, StateScope scope, std::vector<T>& v) {
    if constexpr (std::is_same_v<T, double>) {
      f64(name, scope, v);
    } else {
      static_assert(std::is_integral_v<T> || std::is_enum_v<T>, "state arrays hold numbers");
      std::vector<std::int64_t> x(loading() ? v.size() : 0);  // the size the loader checks against
      if (!loading()) {
        x.reserve(v.size());
        for (const T& e : v) x.push_back(static_cast<std::int64_t>(e));
      }
      i64(name, scope, x);
      if (loading()) {
        v.resize(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) v[i] = static_cast<T>(x[i]);
      }
    }
  }
  // One replicated number (or bool).
  template <class T>
  void value(const std::string& name, T& x) {
    std::vector<std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>> v{
        static_cast<std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>>(x)};
    array(name, StateScope::replicated, v);
    if (loading()) x = static_cast<T>(v.at(0));
  }
  // A replicated vector of structs, one array per listed field: field("period", &Row::period).
  template <class Row, class... F>
  void records(const std::string& name, std::vector<Row>& rows, std::pair<const char*, F Row::*>... fields) {
    std::size_t k = 0;
    (record_field(name, rows, fields.first, fields.second, k++ == 0), ...);
  }
  // A field of every row that is itself a list (stored as row offsets + the concatenation).
  template <class Row, class T>
  void record_lists(const std::string& name, std::vector<Row>& rows, const char* field,
                    std::vector<T> Row::*member) {
    std::vector<std::int64_t> begin{0};
    std::vector<T> all;
    if (!loading())
      for (const auto& r : rows) {
        all.insert(all.end(), (r.*member).begin(), (r.*member).end());
        begin.push_back(static_cast<std::int64_t>(all.size()));
      }
    array(name + "/" + field + "_begin", StateScope::replicated, begin);
    array(name + "/" + field, StateScope::replicated, all);
    if (loading()) {
      check_rows(name, rows.size(), begin.size() - 1);
      for (std::size_t i = 0; i < rows.size(); ++i)
        (rows[i].*member).assign(all.begin() + begin[i], all.begin() + begin[i + 1]);
    }
  }

 private:
  template <class Row, class F>
  void record_field(const std::string& name, std::vector<Row>& rows, const char* field, F Row::*member,
                    bool first) {
    std::vector<F> column;
    if (!loading())
      for (const auto& r : rows) column.push_back(r.*member);
    array(name + "/" + field, StateScope::replicated, column);
    if (!loading()) return;
    if (first) rows.resize(column.size());
    check_rows(name, rows.size(), column.size());
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i].*member = column[i];
  }
  static void check_rows(const std::string& name, std::size_t rows, std::size_t values);
};

template <class Row, class F>
std::pair<const char*, F Row::*> field(const char* name, F Row::*member) {
  return {name, member};
}

// Collective: flushes the recorder and writes `path` (via path.partial, renamed over an
// existing checkpoint) with the panels of `out` so far and the simulation's state, to continue
// at `next_period`. Returns the checkpoint's size in bytes.
std::uint64_t write_checkpoint(const std::string& path, Simulation& sim, Recorder& recorder,
                               PanelFile& out, int next_period);

// Serial, no MPI: throws InputError(path, "--resume", …) unless `path` is a checkpoint of
// exactly this resolved configuration. Returns the period it continues from.
int check_checkpoint(const std::string& path, const Scenario& scenario);

// Collective: restores the state in `path` into a freshly built `sim` (any number of ranks)
// and appends the checkpoint's panel rows to `out`, whose panels must exist (Recorder).
// Returns the period to continue from.
int restore_checkpoint(const std::string& path, Simulation& sim, PanelFile& out);

}  // namespace decouple
