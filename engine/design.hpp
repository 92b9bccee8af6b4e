// Ensemble designs ([ensemble], DESIGN §9): replicate i → its parameter point, a pure function
// of (EnsembleSpec, i). No state, no I/O: `decouple run --replicate i`, `decouple ensemble`
// and `decouple merge` all compute the same point from the config alone. (The replicate's
// seed is replicate_seed(spec.seed, i), engine/run.hpp.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/scenario.hpp"

namespace decouple {

// Sobol direction numbers are tabulated for this many dimensions (parameters).
inline constexpr int kSobolMaxDimensions = 21;

const char* to_string(Design);

// Point i of the Sobol sequence in `dims` dimensions (1 ≤ dims ≤ kSobolMaxDimensions), in
// [0, 1)^dims: Joe & Kuo's direction numbers (new-joe-kuo-6.21201), Gray-code order as their
// generator and SciPy's unscrambled sequence produce it. Point 0 is the origin.
std::vector<double> sobol_point(std::uint64_t i, int dims);

// Replicate i's coordinates in [0, 1), one per parameter, for the random, latin_hypercube and
// sobol designs (not grid):
// - random: independent uniforms, Philox (seed, entity = i, purpose sampling, sub = parameter);
// - latin_hypercube: replicates are taken in blocks of N = replications; within a block each
//   parameter's N strata [k/N, (k+1)/N) hold one replicate each (a random permutation per
//   parameter and block) with a uniform jitter inside the stratum. N is part of the design;
//   replicates from N on form further independent hypercubes. (A point costs O(N) draws:
//   its stratum is the rank of its random key among its block's.)
// - sobol: Sobol point i (point 0, the origin, is not skipped, so the first 2^m replicates
//   are a balanced net).
std::vector<double> unit_point(const EnsembleSpec& e, std::int64_t i);

// Grid: replicate i's index along each parameter's levels (values, or `points` evenly spaced
// from min to max), enumerated in mixed radix with the LAST parameter varying fastest (like
// itertools.product); i ≥ grid_size cycles through the grid again (with fresh seeds).
std::int64_t grid_size(const EnsembleSpec& e);
std::vector<std::int64_t> grid_indices(const EnsembleSpec& e, std::int64_t i);

// Replicate i's parameter values (in spec order). Bounds: min + u·(max − min), for integer
// keys min + ⌊u·(max − min + 1)⌋ (each whole number equally likely); lists: values[⌊u·n⌋].
std::vector<double> parameter_values(const EnsembleSpec& e, std::int64_t i);

// The same as --set overrides "key=value" (doubles in shortest round-trip form).
std::vector<std::string> parameter_overrides(const EnsembleSpec& e, std::int64_t i);

}  // namespace decouple
