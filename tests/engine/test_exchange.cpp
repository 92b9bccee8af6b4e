// The exchange under real mpiexec at 1, 2 and 3 ranks: routed copies against a serial
// reference computed on every rank, ranks that own nothing, the collectives, and sums that
// must be bit-identical whatever the rank count.
//
// Every rank draws the same layouts (same seeds): the arrays are replicated, as the world is.
// Entries a rank does not own are filled with poison, so a value that arrives correctly can
// only have come from its owner.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "engine/config.hpp"
#include "engine/decomposition.hpp"
#include "engine/exchange.hpp"
#include "engine/world.hpp"
#include "support/builder.hpp"

using namespace decouple;

namespace {

constexpr double kPoison = -777.0;     // non-owned inputs: must never be read
constexpr double kUntouched = -555.0;  // non-owned outputs: must never be written

// n entries' owners drawn from ranks [0, ranks), in entry order.
std::vector<int> random_owners(std::size_t n, int ranks, std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, ranks - 1);
  std::vector<int> owner(n);
  for (auto& o : owner) o = pick(rng);
  return owner;
}

struct Layout {
  std::vector<Index> index;
  std::vector<int> source_rank, slot_rank;
};

// `owners`: ranks allowed to own anything (so some ranks may own nothing); `repeats`: whether
// a source may feed several slots.
Layout random_layout(unsigned seed, std::size_t sources, std::size_t slots, const std::vector<int>& owners, bool repeats) {
  std::mt19937 rng(seed);
  Layout L;
  std::uniform_int_distribution<std::size_t> pick(0, owners.size() - 1);
  for (std::size_t i = 0; i < sources; ++i) L.source_rank.push_back(owners[pick(rng)]);
  for (std::size_t j = 0; j < slots; ++j) L.slot_rank.push_back(owners[pick(rng)]);
  if (repeats) {
    std::uniform_int_distribution<Index> src(0, static_cast<Index>(sources) - 1);
    for (std::size_t j = 0; j < slots; ++j) L.index.push_back(src(rng));
  } else {  // a random injection of slots into sources
    std::vector<Index> all(sources);
    for (std::size_t i = 0; i < sources; ++i) all[i] = static_cast<Index>(i);
    std::shuffle(all.begin(), all.end(), rng);
    L.index.assign(all.begin(), all.begin() + static_cast<long>(slots));
  }
  return L;
}

// Mostly zeros (as most offers are), with −0, a denormal and NaN among them: the exchange
// sends only non-zero bit patterns and must restore every value bit for bit.
double special(std::size_t i, double plain) {
  switch (i % 9) {
    case 0: case 1: case 2: case 3: return 0.0;
    case 4: return -0.0;
    case 5: return std::numeric_limits<double>::denorm_min();
    case 6: return std::numeric_limits<double>::quiet_NaN();
    default: return plain;
  }
}
double source_value(std::size_t i, int a) { return special(i + a, 1000.0 * (a + 1) + 0.25 * static_cast<double>(i)); }
double slot_value(std::size_t j, int a) { return special(j + 2 * a, -1000.0 * (a + 1) - 0.5 * static_cast<double>(j)); }
std::uint64_t bits(double x) { return std::bit_cast<std::uint64_t>(x); }

// Runs to_markets then to_firms (single or batched with `arrays` arrays) and checks every
// owned entry against the serial loops and every other entry untouched.
void check_round_trip(Exchange& ex, const Layout& L, int arrays, bool batched) {
  const int me = ex.rank();
  const std::size_t n_src = L.source_rank.size(), n_slot = L.index.size();
  const RoutingPlan plan(L.index, L.source_rank, L.slot_rank, ex.communicator());
  ex.verify(plan);

  std::vector<std::vector<double>> from_src(arrays), to_slot(arrays), from_slot(arrays), to_src(arrays);
  for (int a = 0; a < arrays; ++a) {
    from_src[a].resize(n_src);
    for (std::size_t i = 0; i < n_src; ++i) from_src[a][i] = L.source_rank[i] == me ? source_value(i, a) : kPoison;
    to_slot[a].assign(n_slot, kUntouched);
    from_slot[a].resize(n_slot);
    for (std::size_t j = 0; j < n_slot; ++j) from_slot[a][j] = L.slot_rank[j] == me ? slot_value(j, a) : kPoison;
    to_src[a].assign(n_src, kUntouched);
  }
  if (batched) {
    std::vector<std::span<const double>> in(from_src.begin(), from_src.end());
    std::vector<std::span<double>> out(to_slot.begin(), to_slot.end());
    ex.to_markets(plan, in, out);
    std::vector<std::span<const double>> back_in(from_slot.begin(), from_slot.end());
    std::vector<std::span<double>> back_out(to_src.begin(), to_src.end());
    ex.to_firms(plan, back_in, back_out);
  } else {
    for (int a = 0; a < arrays; ++a) {
      ex.to_markets(plan, from_src[a], to_slot[a]);
      ex.to_firms(plan, from_slot[a], to_src[a]);
    }
  }
  for (int a = 0; a < arrays; ++a) {
    // Serial reference on full arrays.
    std::vector<double> ref_slot(n_slot), ref_src(n_src, kUntouched), full_slot(n_slot);
    for (std::size_t j = 0; j < n_slot; ++j) ref_slot[j] = source_value(L.index[j], a);
    for (std::size_t j = 0; j < n_slot; ++j) full_slot[j] = slot_value(j, a);
    Exchange().to_firms(L.index, full_slot, ref_src);  // the local loop: the last slot wins
    for (std::size_t j = 0; j < n_slot; ++j)
      ASSERT_EQ(bits(to_slot[a][j]), bits(L.slot_rank[j] == me ? ref_slot[j] : kUntouched)) << "slot " << j << " array " << a;
    for (std::size_t i = 0; i < n_src; ++i)
      ASSERT_EQ(bits(to_src[a][i]), bits(L.source_rank[i] == me ? ref_src[i] : kUntouched)) << "source " << i << " array " << a;
  }
}

std::vector<int> all_ranks(int P) {
  std::vector<int> r(P);
  for (int q = 0; q < P; ++q) r[q] = q;
  return r;
}

}  // namespace

// Sources owned in ascending ranges (as firms, links and input slots are) take the plan's
// range lookup instead of reading source_rank per slot, up to 8 ranks by a scan and beyond by a
// binary search; with ranks owning no source among them, each rank's counts must still be
// the brute-force ones. (No messages: a plan is built for any rank of any size.)
TEST(Exchange, PlansFromSourceRangesCountLikeTheOwnerArray) {
  for (int P : {1, 2, 5, 12, 40}) {
    std::mt19937 rng(static_cast<unsigned>(P));
    const std::size_t sources = 997, slots = 1500;
    std::vector<int> source_rank(sources);
    for (std::size_t i = 0; i < sources; ++i) {
      const int q = static_cast<int>(i * static_cast<std::size_t>(P) / sources);
      source_rank[i] = P > 3 && q % 3 == 1 ? q - 1 : q;  // every third rank owns no source
    }
    std::vector<int> slot_rank(slots);
    std::vector<Index> index(slots);
    std::uniform_int_distribution<int> pick_rank(0, P - 1);
    std::uniform_int_distribution<Index> pick_source(0, static_cast<Index>(sources) - 1);
    for (std::size_t j = 0; j < slots; ++j) {
      slot_rank[j] = pick_rank(rng);
      index[j] = pick_source(rng);  // with repeats: the backward route too
    }
    for (int me = 0; me < P; ++me) {
      SCOPED_TRACE(::testing::Message() << "rank " << me << " of " << P);
      const RoutingPlan plan(index, source_rank, slot_rank, me, P);
      std::size_t local = 0, send = 0, receive = 0;
      for (std::size_t j = 0; j < slots; ++j) {
        const int from = source_rank[index[j]], to = slot_rank[j];
        local += from == me && to == me;
        send += from == me && to != me;
        receive += from != me && to == me;
      }
      EXPECT_EQ(plan.local_count(), local);
      EXPECT_EQ(plan.send_count(), send);
      EXPECT_EQ(plan.receive_count(), receive);
    }
  }
}

TEST(Exchange, CommunicatorSeesTheWorld) {
  const Communicator c = Communicator::world();
  int rank = -1, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(c.rank(), rank);
  EXPECT_EQ(c.size(), size);
  const Communicator serial;
  EXPECT_EQ(serial.rank(), 0);
  EXPECT_EQ(serial.size(), 1);
}

TEST(Exchange, RandomLayoutsMatchTheSerialReference) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  for (unsigned seed = 0; seed < 12; ++seed)
    for (bool repeats : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "seed " << seed << " repeats " << repeats);
      const std::size_t sources = 50 + 97 * seed, slots = repeats ? 3 * sources : sources - seed % 7;
      check_round_trip(ex, random_layout(seed, sources, slots, all_ranks(P), repeats), 1, false);
    }
}

// Long send lists (≥ 4,096 ids to a peer, spanning more than 16 bits) are sorted by radix;
// with and without sources feeding several slots.
TEST(Exchange, LongLayoutsMatchTheSerialReference) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  for (bool repeats : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "repeats " << repeats);
    const std::size_t sources = 150000, slots = repeats ? 200000 : 140000;
    check_round_trip(ex, random_layout(90 + repeats, sources, slots, all_ranks(P), repeats), 1, false);
  }
}

TEST(Exchange, BatchedArraysMatchSingleCalls) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  for (unsigned seed = 20; seed < 26; ++seed)
    for (bool batched : {false, true}) check_round_trip(ex, random_layout(seed, 400, 350, all_ranks(P), seed % 2 == 1), 2, batched);
}

TEST(Exchange, RanksOwningNothing) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  // Only the last rank owns anything; then only rank 0; then sources all on one rank and
  // slots all on another.
  check_round_trip(ex, random_layout(40, 300, 300, {P - 1}, false), 1, false);
  check_round_trip(ex, random_layout(41, 300, 600, {0}, true), 2, true);
  Layout L = random_layout(42, 200, 150, {0}, false);
  for (int& r : L.slot_rank) r = P - 1;
  check_round_trip(ex, L, 2, true);
  // Empty layouts.
  check_round_trip(ex, Layout{}, 1, false);
}

TEST(Exchange, OneRankIsALocalCopyWithoutMessages) {
  Exchange ex;  // serial communicator: no MPI call is made
  check_round_trip(ex, random_layout(50, 500, 500, {0}, false), 2, true);
  EXPECT_EQ(ex.stats().routed_bytes_sent, 0u);
  EXPECT_EQ(ex.stats().routed_bytes_received, 0u);
  EXPECT_EQ(ex.stats().routed_calls, 2u);
}

TEST(Exchange, CountsTheBytesItMoves) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  const Layout L = random_layout(60, 1000, 1000, all_ranks(P), false);
  const RoutingPlan plan(L.index, L.source_rank, L.slot_rank, ex.communicator());
  // Sent as 64-bit words: per peer a bitmap of ⌈values/64⌉ words, then the non-zero values.
  const std::uint64_t n = 2 * plan.send_count(), m = 2 * plan.receive_count();
  for (double value : {1.0, 0.0}) {
    SCOPED_TRACE(value);
    std::vector<double> a(1000, value), b(1000, 2 * value), sa(1000), sb(1000);
    ex.reset_stats();
    const std::array<std::span<const double>, 2> from{a, b};
    const std::array<std::span<double>, 2> to{sa, sb};
    ex.to_markets(plan, from, to);
    EXPECT_EQ(ex.stats().routed_calls, 1u);
    const std::uint64_t sent = ex.stats().routed_bytes_sent, received = ex.stats().routed_bytes_received;
    const std::uint64_t values_sent = value != 0.0 ? n : 0, values_received = value != 0.0 ? m : 0;
    if (P == 1) {
      EXPECT_EQ(sent, 0u);
      EXPECT_EQ(received, 0u);
    } else {
      // Bitmaps: between ⌈n/64⌉ and ⌈n/64⌉ + one word per other peer.
      EXPECT_GE(sent, 8 * (values_sent + (n + 63) / 64));
      EXPECT_LE(sent, 8 * (values_sent + (n + 63) / 64 + (P - 1)));
      EXPECT_GE(received, 8 * (values_received + (m + 63) / 64));
      EXPECT_LE(received, 8 * (values_received + (m + 63) / 64 + (P - 1)));
    }
    // What all ranks sent is what all ranks received.
    EXPECT_EQ(ex.sum_over_ranks(static_cast<std::int64_t>(sent)), ex.sum_over_ranks(static_cast<std::int64_t>(received)));
    for (std::size_t j = 0; j < 1000; ++j)
      if (L.slot_rank[j] == ex.rank()) {
        ASSERT_EQ(sa[j], value);
      }
  }
  const auto counted = ex.sum_over_ranks(static_cast<std::int64_t>(plan.local_count() + plan.receive_count()));
  EXPECT_EQ(counted, 1000);
}

TEST(Exchange, VerifyCatchesPlansThatDisagree) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  Layout L = random_layout(70, 100, 100, all_ranks(P), false);
  EXPECT_NO_THROW(ex.verify(RoutingPlan(L.index, L.source_rank, L.slot_rank, ex.communicator())));
  if (P == 1) return;
  if (ex.rank() == 0)  // rank 0 alone believes slot ownership moved: counts no longer match
    for (int& r : L.slot_rank) r = (r + 1) % P;
  const RoutingPlan bad(L.index, L.source_rank, L.slot_rank, ex.communicator());
  EXPECT_THROW(ex.verify(bad), InternalError);  // on every rank
}

TEST(Exchange, RejectsInconsistentPlans) {
  const std::vector<Index> index{0, 1, 2};
  const std::vector<int> ok{0, 0, 0}, bad_rank{0, 5, 0}, short_ranks{0, 0};
  EXPECT_THROW(RoutingPlan(index, bad_rank, ok, 0, 2), InternalError);
  EXPECT_THROW(RoutingPlan(index, ok, short_ranks, 0, 1), InternalError);
  EXPECT_THROW(RoutingPlan(std::vector<Index>{0, 3, 1}, ok, ok, 0, 1), InternalError);
  Exchange ex;
  const RoutingPlan plan(index, ok, ok, 0, 1);
  std::vector<double> small(2), out(3);
  EXPECT_THROW(ex.to_markets(plan, small, out), InternalError);
}

TEST(Exchange, AllgatherOwnedReplicatesOwnersValues) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  for (unsigned seed = 0; seed < 5; ++seed) {
    std::mt19937 rng(seed);
    const std::size_t n = 10 + 301 * seed;
    const int allowed = seed == 3 ? 1 : P;  // one case where only rank 0 owns anything
    const std::vector<int> owner = random_owners(n, allowed, rng);
    std::vector<double> x(n), y(n);
    for (std::size_t e = 0; e < n; ++e) {
      x[e] = owner[e] == me ? std::sqrt(static_cast<double>(e) + 0.5) : kPoison;
      y[e] = owner[e] == me ? -static_cast<double>(e) : kPoison;
    }
    // Mostly zeros (sent sparse), with −0 and NaN, which must arrive as they are.
    auto mixed = [](std::size_t e) {
      switch (e % 7) {
        case 1: return -0.0;
        case 2: return std::numeric_limits<double>::quiet_NaN();
        case 3: return static_cast<double>(e);
        default: return 0.0;
      }
    };
    std::vector<double> z(n);
    for (std::size_t e = 0; e < n; ++e) z[e] = owner[e] == me ? mixed(e) : kPoison;
    std::vector<double> single = x;
    ex.allgather_owned(single, owner);
    const std::array<std::span<double>, 3> all{x, y, z};
    ex.allgather_owned(all, owner);
    for (std::size_t e = 0; e < n; ++e) {
      ASSERT_EQ(single[e], std::sqrt(static_cast<double>(e) + 0.5));
      ASSERT_EQ(x[e], single[e]);
      ASSERT_EQ(y[e], -static_cast<double>(e));
      ASSERT_EQ(std::bit_cast<std::uint64_t>(z[e]), std::bit_cast<std::uint64_t>(mixed(e))) << e;
    }
  }
}

// The exchange keeps each owner array's per-rank lists between calls: an owner array of the
// same size and storage but other contents must not reuse them.
TEST(Exchange, AllgatherOwnedFollowsAChangedOwnerArray) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  const std::size_t n = 500;
  std::vector<int> owner(n);
  for (int round = 0; round < 3; ++round) {
    for (std::size_t e = 0; e < n; ++e) owner[e] = static_cast<int>((e / (round + 1) + round) % P);
    std::vector<double> x(n);
    for (std::size_t e = 0; e < n; ++e) x[e] = owner[e] == me ? 1.0 + e + 1000.0 * round : kPoison;
    ex.allgather_owned(x, owner);
    for (std::size_t e = 0; e < n; ++e) ASSERT_EQ(x[e], 1.0 + e + 1000.0 * round) << "round " << round << " entry " << e;
  }
}

// The listed allgather sends only the entries each rank lists (the rest of its own are +0):
// over rounds whose sparse values come and go (−0 and NaN among them), the arrays must end bit
// for bit where the full allgather ends, also after moving to other arrays (poisoned: the memo
// must then zero every other rank's entry) — and a rank listing another's entry is refused.
TEST(Exchange, AllgatherOwnedListedEqualsTheFullCall) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  for (unsigned seed = 0; seed < 4; ++seed) {
    std::mt19937 rng(seed);
    const std::size_t n = 37 + 517 * seed;
    const std::vector<int> owner = random_owners(n, P, rng);
    std::vector<double> a(n, 0.0), b(n, 0.0), a2(n, kPoison), b2(n, kPoison);
    GatherMemo memo;
    for (int round = 0; round < 10; ++round) {
      std::vector<double> fa(n, kPoison), fb(n, kPoison);
      std::vector<Index> listed;
      std::uniform_int_distribution<int> kind(0, 9);
      std::vector<double>& ma = round >= 6 ? a2 : a;
      std::vector<double>& mb = round >= 6 ? b2 : b;
      for (std::size_t e = 0; e < n; ++e) {
        if (owner[e] != me) continue;
        auto draw = [&]() {
          switch (kind(rng)) {
            case 0: return -0.0;
            case 1: return std::numeric_limits<double>::quiet_NaN();
            case 2: case 3: return static_cast<double>(e) + 0.25 * round;
            default: return 0.0;
          }
        };
        fa[e] = ma[e] = draw();
        fb[e] = mb[e] = round % 3 == 0 ? 0.0 : draw();
        const bool zero = std::bit_cast<std::uint64_t>(fa[e]) == 0 && std::bit_cast<std::uint64_t>(fb[e]) == 0;
        if (!zero || kind(rng) == 0) listed.push_back(static_cast<Index>(e));  // (a listed +0 is allowed)
      }
      std::shuffle(listed.begin(), listed.end(), rng);  // any order
      const std::array<std::span<double>, 2> full{fa, fb}, sparse{ma, mb};
      ex.allgather_owned(full, owner);
      ex.allgather_owned(sparse, owner, listed, memo);
      for (std::size_t e = 0; e < n; ++e) {
        ASSERT_EQ(std::bit_cast<std::uint64_t>(ma[e]), std::bit_cast<std::uint64_t>(fa[e])) << "round " << round << " entry " << e;
        ASSERT_EQ(std::bit_cast<std::uint64_t>(mb[e]), std::bit_cast<std::uint64_t>(fb[e])) << "round " << round << " entry " << e;
      }
    }
  }
  // Another rank's entry (or one out of range) is not this rank's to list.
  std::vector<int> owner(8);
  for (std::size_t e = 0; e < owner.size(); ++e) owner[e] = static_cast<int>(e) % P;
  std::vector<double> x(8, 0.0);
  const std::array<std::span<double>, 1> one{x};
  GatherMemo memo;
  const Index foreign = P > 1 ? (me + 1) % P : 8;
  const Index bad[] = {foreign};
  EXPECT_THROW(ex.allgather_owned(one, owner, bad, memo), InternalError);
}

TEST(Exchange, OrderedSumIsBitIdenticalForAnyRankCount) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  // Rounding-sensitive: 1e16 + 1 == 1e16 in doubles, so any regrouping changes the sum.
  const std::size_t n = 3001;
  std::vector<double> full(n);
  for (std::size_t e = 0; e < n; ++e) {
    switch (e % 5) {
      case 0: full[e] = 1e16; break;
      case 1: full[e] = 1.0; break;
      case 2: full[e] = -1e16; break;
      case 3: full[e] = 1.0 + 1e-3 * static_cast<double>(e); break;
      default: full[e] = 0.1 * static_cast<double>(e % 7); break;
    }
  }
  double serial = 0.0;
  for (double v : full) serial += v;
  // The test means something: a two-way split regroups the sum and changes it.
  double left = 0.0, right = 0.0;
  for (std::size_t e = 0; e < n; ++e) (e < n / 2 + 1 ? left : right) += full[e];
  ASSERT_NE(left + right, serial);

  std::mt19937 rng(77);
  std::vector<int> owner = random_owners(n, P, rng), contiguous(n);
  for (std::size_t e = 0; e < n; ++e) contiguous[e] = static_cast<int>(e * P / n);
  for (const auto* own : {&owner, &contiguous}) {
    std::vector<double> mine(n, kPoison), other(n, kPoison);
    for (std::size_t e = 0; e < n; ++e)
      if ((*own)[e] == me) {
        mine[e] = full[e];
        other[e] = -full[e];
      }
    const double s = ex.ordered_sum(mine, *own);
    EXPECT_EQ(std::bit_cast<std::uint64_t>(s), std::bit_cast<std::uint64_t>(serial)) << s << " vs " << serial;
    const std::array<std::span<const double>, 2> arrays{mine, other};
    const std::vector<double> sums = ex.ordered_sums(arrays, *own);
    EXPECT_EQ(std::bit_cast<std::uint64_t>(sums[0]), std::bit_cast<std::uint64_t>(serial));
    EXPECT_EQ(sums[1], -serial);
  }
}

TEST(Exchange, AgreeErrorReportsTheLowestFailingRankOnEveryRank) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  const ErrorAgreement none = ex.agree_error(false, "unused");
  EXPECT_FALSE(none.failed);
  EXPECT_EQ(none.rank, -1);
  EXPECT_EQ(none.message, "");
  // A failure on the last rank only: every rank learns it (and nobody waits forever).
  const ErrorAgreement one = ex.agree_error(me == P - 1, "bad input on rank " + std::to_string(me));
  EXPECT_TRUE(one.failed);
  EXPECT_EQ(one.rank, P - 1);
  EXPECT_EQ(one.message, "bad input on rank " + std::to_string(P - 1));
  // Failures on every rank but 0 (or rank 0 alone with one rank): the lowest one speaks.
  const bool fails = P == 1 || me > 0;
  const ErrorAgreement many = ex.agree_error(fails, std::string(1000 + me, 'x'));
  EXPECT_TRUE(many.failed);
  EXPECT_EQ(many.rank, P == 1 ? 0 : 1);
  EXPECT_EQ(many.message.size(), 1000u + many.rank);
}

TEST(Exchange, BroadcastsAndSums) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  std::string text = me == 0 ? std::string("[run]\nname = \"x\"\n") : std::string("garbage");
  ex.broadcast(text);
  EXPECT_EQ(text, "[run]\nname = \"x\"\n");
  std::string from_last = me == P - 1 ? "last" : "";
  ex.broadcast(from_last, P - 1);
  EXPECT_EQ(from_last, "last");
  std::string empty = me == 0 ? "" : "not empty";
  ex.broadcast(empty);
  EXPECT_EQ(empty, "");
  EXPECT_EQ(ex.sum_over_ranks(me + 1), static_cast<std::int64_t>(P) * (P + 1) / 2);
  EXPECT_THROW(ex.broadcast(text, P), InternalError);
  ex.barrier();
}

TEST(Exchange, ConcatenatesInRankOrderAndTakesExtremes) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks(), me = ex.rank();
  // Rank q contributes q values q·10, q·10+1, …; rank 1 contributes none when P ≥ 2.
  std::vector<double> mine;
  if (me != 1)
    for (int i = 0; i < me + 1; ++i) mine.push_back(me * 10 + i);
  std::vector<double> expect;
  for (int q = 0; q < P; ++q)
    if (q != 1)
      for (int i = 0; i < q + 1; ++i) expect.push_back(q * 10 + i);
  EXPECT_EQ(ex.allgather_concat(mine), expect);
  std::vector<double> lo{static_cast<double>(me), -static_cast<double>(me), 5.0};
  std::vector<double> hi = lo;
  ex.min_over_ranks(lo);
  ex.max_over_ranks(hi);
  EXPECT_EQ(lo, (std::vector<double>{0.0, -(P - 1.0), 5.0}));
  EXPECT_EQ(hi, (std::vector<double>{P - 1.0, 0.0, 5.0}));
}

// Ranks drawing the synthetic firms together (BuildShare, as Simulation builds its world)
// build the world one process builds alone, bit for bit: rounds smaller than a rank's share,
// shares that differ by a firm, and one round for all.
TEST(Exchange, WorldsBuiltTogetherEqualTheWorldBuiltAlone) {
  const Scenario sc = load_scenario(std::string(DECOUPLE_SOURCE_DIR) + "/configs/synthetic/small.toml", {});
  const World alone = build_world(sc);
  ASSERT_GT(alone.firms, 100);
  Exchange ex(Communicator::world());
  auto same = [](const auto& a, const auto& b) {  // bits: NaN θ equals NaN θ
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0);
  };
  for (const std::int64_t round : {std::int64_t{7}, std::int64_t{1000}, std::int64_t{1} << 17}) {
    const BuildShare share{ex.rank(), ex.ranks(), [&](std::span<const double> mine) { return ex.allgather_concat(mine); },
                           round};
    const World w = build_world(sc, true, &share);
    EXPECT_EQ(w.firms, alone.firms) << round;
    EXPECT_TRUE(same(w.firm_region, alone.firm_region)) << round;
    EXPECT_TRUE(same(w.firm_good, alone.firm_good)) << round;
    EXPECT_TRUE(same(w.firm_kind, alone.firm_kind)) << round;
    for (const auto member : {&World::firm_cost0, &World::firm_cost, &World::firm_cost_slope, &World::firm_capacity,
                              &World::firm_fixed_cost, &World::firm_theta, &World::firm_learning_scale})
      EXPECT_TRUE(same(w.*member, alone.*member)) << round;
    EXPECT_TRUE(same(w.link_begin, alone.link_begin)) << round;
    EXPECT_TRUE(same(w.link_market, alone.link_market)) << round;
    EXPECT_TRUE(same(w.link_trade, alone.link_trade)) << round;
    EXPECT_TRUE(same(w.slot_begin, alone.slot_begin)) << round;
    EXPECT_TRUE(same(w.slot_market, alone.slot_market)) << round;
    EXPECT_TRUE(same(w.slot_inventory, alone.slot_inventory)) << round;
    EXPECT_TRUE(same(w.offer_link, alone.offer_link)) << round;
  }
}

TEST(Exchange, WorldOffersAndBidsThroughTheDecomposition) {
  // The real slot layout: offers (slot → link) and bids (slot → input slot), owned by the
  // decomposition; results equal the local loops the simulation uses today.
  const auto b = decouple::testing::ore_metal_world(5, true);
  const World w = build_world(b.s);
  Exchange ex(Communicator::world());
  const int me = ex.rank();
  const Decomposition d = decompose(w, ex.ranks());
  const std::vector<int> firm_rank = d.firm_rank();
  const std::vector<int> link_rank = expand_owner(w.link_begin, firm_rank);
  const std::vector<int> input_rank = expand_owner(w.slot_begin, firm_rank);
  const std::vector<int> offer_rank = expand_owner(w.offer_begin, d.market_rank);
  const std::vector<int> bid_rank = expand_owner(w.bid_begin, d.market_rank);
  const RoutingPlan offers(w.offer_link, link_rank, offer_rank, ex.communicator());
  const RoutingPlan bids(w.bid_slot, input_rank, bid_rank, ex.communicator());
  ex.verify(offers);
  ex.verify(bids);

  const std::size_t L = w.links, S = w.slot_good.size();
  std::vector<double> link_q(L), slot_bid(S), slot_res(S);
  for (std::size_t l = 0; l < L; ++l) link_q[l] = link_rank[l] == me ? 1.5 * l : kPoison;
  for (std::size_t s = 0; s < S; ++s) {
    slot_bid[s] = input_rank[s] == me ? 2.0 + s : kPoison;
    slot_res[s] = input_rank[s] == me ? 300.0 - s : kPoison;
  }
  std::vector<double> offer_q(w.offer_link.size(), kUntouched), bid_q(w.bid_slot.size(), kUntouched),
      bid_r(w.bid_slot.size(), kUntouched);
  ex.to_markets(offers, link_q, offer_q);
  const std::array<std::span<const double>, 2> bid_in{slot_bid, slot_res};
  const std::array<std::span<double>, 2> bid_out{bid_q, bid_r};
  ex.to_markets(bids, bid_in, bid_out);
  for (std::size_t j = 0; j < w.offer_link.size(); ++j)
    EXPECT_EQ(offer_q[j], offer_rank[j] == me ? 1.5 * w.offer_link[j] : kUntouched);
  for (std::size_t j = 0; j < w.bid_slot.size(); ++j) {
    EXPECT_EQ(bid_q[j], bid_rank[j] == me ? 2.0 + w.bid_slot[j] : kUntouched);
    EXPECT_EQ(bid_r[j], bid_rank[j] == me ? 300.0 - w.bid_slot[j] : kUntouched);
  }
  // Settlement back: each rank fills the slots of its markets.
  std::vector<double> sold(w.offer_link.size()), link_sold(L, kUntouched);
  for (std::size_t j = 0; j < sold.size(); ++j) sold[j] = offer_rank[j] == me ? 0.5 * j : kPoison;
  ex.to_firms(offers, sold, link_sold);
  for (std::size_t j = 0; j < sold.size(); ++j) {
    const Index l = w.offer_link[j];
    EXPECT_EQ(link_sold[l], link_rank[l] == me ? 0.5 * j : kUntouched);
  }
}

// Twelve rounds in which this rank's sources turn zero, non-zero, −0 and NaN (and stay): after
// each, the memo'd copy must equal a full copy bit for bit, untouched entries stay untouched,
// and the memo's bitmap marks exactly this rank's non-zero entries. With `switch_target`,
// round 8 copies into another array (a memo moved to another destination writes every entry
// again) and round 9 back into the first, stale since round 7.
namespace {
void check_memo_rounds(Exchange& ex, const Layout& L, const RoutingPlan& plan, unsigned seed, bool switch_target) {
  const int me = ex.rank();
  const std::size_t n = L.source_rank.size();
  std::vector<double> src(n, kPoison), full(L.index.size(), kUntouched), memod(full), other(full);
  RouteMemo memo;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> kind(0, 9);
  for (int round = 0; round < 12; ++round) {
    for (std::size_t i = 0; i < n; ++i) {
      if (L.source_rank[i] != me) continue;
      const int k = kind(rng);  // mostly keep; some turn zero; a few turn special or non-zero
      if (k < 5) continue;
      src[i] = k < 7 ? 0.0 : k == 7 ? special(i + round, 0.0) : special(i + 7, 3.0 * round + 0.125 * i);
    }
    ex.to_markets(plan, src, full);
    std::vector<double>& target = switch_target && round == 8 ? other : memod;
    ex.to_markets(plan, src, target, memo);
    ASSERT_EQ(memo.nonzero().size(), (full.size() + 63) / 64);
    for (std::size_t j = 0; j < full.size(); ++j) {
      ASSERT_EQ(bits(target[j]), bits(full[j])) << "round " << round << " slot " << j;
      // The memo marks the non-zero entries this rank writes, and only those.
      const bool marked = (memo.nonzero()[j / 64] >> (j % 64) & 1u) != 0;
      ASSERT_EQ(marked, L.slot_rank[j] == me && bits(full[j]) != 0) << "round " << round << " slot " << j;
    }
  }
}
}  // namespace

// The memo'd copy writes only entries that are non-zero now or were last call. Where a source
// feeds several slots it walks the local pairs instead of windows of sources: the same result.
TEST(Exchange, MemoCopyEqualsTheFullCopyRoundAfterRound) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  struct Case {
    unsigned seed;
    std::size_t sources, slots;
    bool repeats;
  };
  std::vector<Case> cases;
  for (unsigned seed = 60; seed < 66; ++seed) {
    const std::size_t n = 70 + 61 * (seed - 60);  // partial and several bitmap words
    cases.push_back({seed, n, n - seed % 5, false});
  }
  for (unsigned seed = 70; seed < 74; ++seed) {
    const std::size_t n = 90 + 53 * (seed - 70);
    cases.push_back({seed, n, 2 * n, true});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "seed " << c.seed);
    const Layout L = random_layout(c.seed, c.sources, c.slots, all_ranks(P), c.repeats);
    const RoutingPlan plan(L.index, L.source_rank, L.slot_rank, ex.communicator());
    check_memo_rounds(ex, L, plan, c.seed, true);
  }
}

// The same where sources come in contiguous ranges per rank and long runs of them feed slots
// of their own rank (a firm's links and its home markets): the memo'd copy reads windows of 64
// sources at a time (two per SSE2 compare), where −0 and NaN must count as non-zero.
TEST(Exchange, MemoCopyOverRunsOfConsecutiveSourcesEqualsTheFullCopy) {
  Exchange ex(Communicator::world());
  const int P = ex.ranks();
  for (unsigned seed = 80; seed < 84; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const std::size_t n = 1200 + 37 * (seed - 80);
    Layout L = random_layout(seed, n, n, all_ranks(P), false);
    for (std::size_t i = 0; i < n; ++i) L.source_rank[i] = static_cast<int>(i * P / n);
    // Runs of 450 consecutive sources feed their own rank's slots, then 150 another rank's.
    for (std::size_t j = 0; j < n; ++j) {
      const auto i = static_cast<std::size_t>(L.index[j]);
      L.slot_rank[j] = i % 600 < 450 ? L.source_rank[i] : (L.source_rank[i] + 1) % P;
    }
    const RoutingPlan plan(L.index, L.source_rank, L.slot_rank, ex.communicator());
    ASSERT_GE(plan.local_count(), 64u * 6 / static_cast<unsigned>(P));
    check_memo_rounds(ex, L, plan, seed, false);
  }
}

TEST(Exchange, RebasedPlanMovesTheSameValuesBetweenLocalArrays) {
  // What the simulation does: each rank holds only its firms' links (from its first link) and
  // its markets' offer slots (numbered in market order); the values equal the global plan's.
  const auto b = decouple::testing::ore_metal_world(5, true);
  const World w = build_world(b.s);
  Exchange ex(Communicator::world());
  const int me = ex.rank();
  const Decomposition d = decompose(w, ex.ranks());
  const std::vector<int> link_rank = expand_owner(w.link_begin, d.firm_rank());
  const std::vector<int> offer_rank = expand_owner(w.offer_begin, d.market_rank);
  RoutingPlan plan(w.offer_link, link_rank, offer_rank, ex.communicator());
  const int lo = w.link_begin[d.firm_begin[me]], hi = w.link_begin[d.firm_begin[me + 1]];
  std::vector<Index> local_of(w.offer_link.size(), kNone), global_of;
  for (Index m = 0; m < w.markets; ++m)
    if (d.market_rank[m] == me)
      for (int j = w.offer_begin[m]; j < w.offer_begin[m + 1]; ++j) {
        local_of[j] = static_cast<Index>(global_of.size());
        global_of.push_back(j);
      }
  plan.rebase(lo, static_cast<std::size_t>(hi - lo), global_of.size(), [&](Index j) { return local_of[j]; });
  ex.verify(plan);
  EXPECT_EQ(plan.sources(), static_cast<std::size_t>(hi - lo));
  EXPECT_EQ(plan.slots(), global_of.size());
  std::vector<double> link_q(hi - lo), offer_q(global_of.size(), kUntouched);
  for (int l = lo; l < hi; ++l) link_q[l - lo] = 1.5 * l;
  ex.to_markets(plan, link_q, offer_q);
  for (std::size_t k = 0; k < global_of.size(); ++k) EXPECT_EQ(offer_q[k], 1.5 * w.offer_link[global_of[k]]);
  std::vector<double> sold(global_of.size()), link_sold(hi - lo, kUntouched);
  for (std::size_t k = 0; k < sold.size(); ++k) sold[k] = 0.5 * global_of[k];
  ex.to_firms(plan, sold, link_sold);
  for (std::size_t j = 0; j < w.offer_link.size(); ++j) {
    const Index l = w.offer_link[j];
    if (l >= lo && l < hi) {
      EXPECT_EQ(link_sold[l - lo], 0.5 * j);
    }
  }
  // A slot mapped outside the local range is refused.
  RoutingPlan bad(w.offer_link, link_rank, offer_rank, ex.communicator());
  if (bad.local_count() + bad.receive_count() > 0) {
    EXPECT_THROW(bad.rebase(lo, static_cast<std::size_t>(hi - lo), 0, [&](Index j) { return local_of[j]; }),
                 InternalError);
  }
}
