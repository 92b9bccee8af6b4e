// The input-output structure (DESIGN §2): goods' Leontief coefficients form A
// (A[i][j] = units of good i per unit of good j); the Leontief inverse (I − A)⁻¹ gives each
// final good's total requirement of every upstream good — the exposure of a final good to a
// cut-off of one input, and the sizing of inventories and demand in calibration.
#pragma once

#include <vector>

namespace decouple {

struct InputCoefficient {
  int input = 0;      // good i
  int output = 0;     // good j
  double units = 0;   // A[i][j]
};

// (I − A)⁻¹ as a dense row-major goods × goods matrix: entry [i·n + j] is the units of
// good i needed, directly and indirectly, per unit of final good j. Throws InternalError
// if I − A is singular (an input cycle with a product of coefficients ≥ 1).
std::vector<double> leontief_inverse(int goods, const std::vector<InputCoefficient>& a);

}  // namespace decouple
