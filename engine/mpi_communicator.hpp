// Communicator ↔ MPI_Comm, for the code that speaks MPI itself: the HDF5 writer's
// communicator and `decouple ensemble`'s replicate groups. Kept apart from exchange.hpp so
// that no MPI type crosses that header. Defined in exchange.cpp.
#pragma once

#include <mpi.h>

#include "engine/exchange.hpp"

namespace decouple {

struct MpiCommunicator {
  // Attaches `comm` (not duplicated, not freed: it must outlive every copy). MPI must be
  // initialised.
  static Communicator attach(MPI_Comm comm);
  // The MPI communicator behind `c`; MPI_COMM_SELF for the serial (no-MPI) one.
  static MPI_Comm native(const Communicator& c);
};

}  // namespace decouple
