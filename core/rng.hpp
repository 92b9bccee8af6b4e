// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011, "Parallel random
// numbers: as easy as 1, 2, 3"). A draw is a pure function of
// (seed, entity, period, purpose): no stream, no state, so results do not depend on
// which rank owns the entity or in which order entities are visited.
#pragma once

#include <array>
#include <cstdint>

namespace decouple {

using Philox4x32Counter = std::array<std::uint32_t, 4>;
using Philox4x32Key = std::array<std::uint32_t, 2>;

// The raw block function, exposed for the known-answer tests.
Philox4x32Counter philox4x32_10(Philox4x32Counter counter, Philox4x32Key key);

// What a draw is for; part of the counter so that two purposes never share a draw.
enum class Purpose : std::uint32_t {
  entry_cost = 1,      // entrant candidate's marginal cost
  entry_capex = 2,     // entrant candidate's ε
  license = 3,         // export licence approval (entity = firm, sub = destination)
  sampling = 4,        // ensemble sampling (entity = replicate, sub = parameter)
  generator = 5,       // synthetic world generation
};

struct Draw {
  std::uint64_t seed;
  std::uint64_t entity;
  std::int64_t period;
  Purpose purpose;
  std::uint32_t sub = 0;  // a second index inside a purpose (destination, parameter, ...)
};

// Four independent 32-bit words for one key.
std::array<std::uint32_t, 4> random_words(const Draw& d);
// Uniform in [0, 1) with 53 random bits.
double uniform01(const Draw& d);
// Standard normal (Box–Muller on the two 53-bit uniforms of one block).
double standard_normal(const Draw& d);

}  // namespace decouple
