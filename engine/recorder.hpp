// Turns the simulation's state into the panel rows and meta tables of DESIGN §6 and
// streams them to a PanelFile, buffered so that rows are written in large appends.
#pragma once

#include <string>

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

 private:
  void flush(bool all);
  const Simulation& sim_;
  PanelFile& file_;
  Table market_, trade_, firm_, government_, policy_, bloc_;
};

// The code tables written to /meta for enum columns.
extern const char* const kFirmStatusNames[4];

}  // namespace decouple
