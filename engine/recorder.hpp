// Turns the simulation's state into the panel rows and meta tables of DESIGN §6 and
// streams them to a PanelFile, buffered so that rows are written in large appends.
// Distributed: market, trade, bloc, government and policy rows are replicated on every rank,
// and each rank writes a contiguous share of them (in rank order: the rows once, the
// compression shared); firm rows by each rank for its own firms, in (period, firm id) order
// through segmented appends. Every flush decision is the same on every rank.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/panel_file.hpp"
#include "engine/simulation.hpp"

namespace decouple {

class Recorder {
 public:
  Recorder(const Simulation& sim, PanelFile& file);
  // Rows for `period` (≥ 0), honouring [output] choices and frequencies.
  void record(int period);
  // Flush buffered rows and write /meta (firm entry periods are known only at the end).
  void finish();
  // Every buffered row to the file now (a checkpoint snapshots the panels). Collective. Its
  // waiting is the checkpoint's, not counted in waiting_seconds().
  void flush_all();
  // Seconds this rank waited, before its collective writes, for ranks still busy with the
  // periods before (a barrier ahead of each flush and of /meta/firms): load imbalance, not
  // output.
  double waiting_seconds() const { return waiting_seconds_; }

 private:
  void flush(bool all);
  void wait_for_all();
  double waiting_seconds_ = 0.0;
  const Simulation& sim_;
  PanelFile& file_;
  Table market_, trade_, firm_, government_, policy_, bloc_;
  std::vector<std::uint64_t> firm_segments_;  // firm rows buffered per recorded period
};

// The code tables written to /meta for enum columns.
extern const char* const kFirmStatusNames[4];

}  // namespace decouple
