#include "engine/exchange.hpp"
#include "engine/mpi_communicator.hpp"

#include <boost/mpi.hpp>

#include <bit>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <chrono>
#include <cstdint>
#include <climits>
#include <algorithm>
#include <functional>
#include <numeric>
#include <string>

#include "core/errors.hpp"

namespace decouple {

namespace {

[[noreturn]] void fail(const std::string& what) { throw InternalError("exchange: " + what); }

int checked_int(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX)) fail(std::string(what) + " exceeds MPI's int counts");
  return static_cast<int>(n);
}

// A sparse segment of n values: a bitmap of the non-zero bit patterns (−0 and NaN count as
// non-zero), then those values, as 64-bit words. Every bit arrives. Most values the exchange
// moves are exactly 0 (a firm ships to few of its destinations, most buyers get nothing, most
// trade pairs carry no flow).
std::size_t bitmap_words(std::size_t n) { return (n + 63) / 64; }

class SparseWriter {  // into words[0, bitmap_words(n) + n), values in order; finish() once at the end
 public:
  SparseWriter(std::uint64_t* words, std::size_t n) : bitmap_(words), value_(words + bitmap_words(n)) {}
  void put(double x) {
    const auto w = std::bit_cast<std::uint64_t>(x);
    word_ |= std::uint64_t{w != 0} << (e_ & 63);  // in a register: a bitmap word in memory was a
    *value_ = w;                                  // chain of dependent read-modify-writes
    value_ += w != 0;  // branch-free: a zero is written and then overwritten
    if ((++e_ & 63) == 0) {
      bitmap_[(e_ >> 6) - 1] = word_;
      word_ = 0;
    }
  }
  // Stores the last, partial bitmap word; the segment's length in words.
  std::size_t finish() {
    if ((e_ & 63) != 0) bitmap_[e_ >> 6] = word_;
    return static_cast<std::size_t>(value_ - bitmap_);
  }

 private:
  std::uint64_t* bitmap_;
  std::uint64_t* value_;
  std::uint64_t word_ = 0;
  std::size_t e_ = 0;
};

class SparseReader {  // from a segment of n values, in order
 public:
  SparseReader(const std::uint64_t* words, std::size_t n) : bitmap_(words), value_(words + bitmap_words(n)) {}
  double get() {
    const bool set = (bitmap_[e_ >> 6] >> (e_ & 63)) & 1u;
    const double v = set ? std::bit_cast<double>(*value_) : 0.0;
    value_ += set;
    ++e_;
    return v;
  }
  std::size_t words() const { return static_cast<std::size_t>(value_ - bitmap_); }

 private:
  const std::uint64_t* bitmap_;
  const std::uint64_t* value_;
  std::size_t e_ = 0;
};

std::uint64_t low_bits(std::size_t n) { return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1; }

// Bit j: whether values[list[j]] (j < n <= 64) is a non-zero bit pattern.
std::uint64_t nonzero_mask(const double* values, const Index* list, std::size_t n) {
  std::uint64_t mask = 0;
  for (std::size_t j = 0; j < n; ++j) mask |= std::uint64_t{std::bit_cast<std::uint64_t>(values[list[j]]) != 0} << j;
  return mask;
}

// The same for 64 consecutive values, two at a time: a bit pattern is non-zero unless it is
// +0, i.e. when the value compares unequal to 0 (NaN included) or has its sign bit set (−0).
std::uint64_t nonzero_mask_run(const double* values) {
#if defined(__SSE2__)
  const __m128d zero = _mm_setzero_pd();
  std::uint64_t mask = 0;
  for (int j = 0; j < 64; j += 2) {
    const __m128d x = _mm_loadu_pd(values + j);
    const int bits = _mm_movemask_pd(_mm_cmpneq_pd(x, zero)) | _mm_movemask_pd(x);
    mask |= static_cast<std::uint64_t>(bits) << j;
  }
  return mask;
#else
  std::uint64_t mask = 0;
  for (int j = 0; j < 64; ++j) mask |= std::uint64_t{std::bit_cast<std::uint64_t>(values[j]) != 0} << j;
  return mask;
#endif
}

void set_bit(std::uint64_t* bits, std::size_t i) { bits[i >> 6] |= std::uint64_t{1} << (i & 63); }
void flip_bit(std::uint64_t* bits, Index i) { bits[static_cast<std::size_t>(i) >> 6] ^= std::uint64_t{1} << (i & 63); }

}  // namespace

// The memo's windows over local pairs in source order; left empty when a source feeds several
// local slots (the memo'd copy then walks the pairs). With the sent sources (`sent`, each
// peer's ids at its offset) when all go to one peer, ascending, none also copied locally:
// their bits too (else window_sent_ is left empty and they are packed apart).
void RouteMemo::index_windows(const std::vector<Index>& source, const std::vector<Index>& slot,
                              const std::vector<Index>& sent, const std::vector<int>& sent_offset,
                              const std::vector<int>& sent_count) {
  window_first_ = 0;
  window_local_.clear();
  window_slot_.clear();
  window_sent_.clear();
  sent_to_ = -1;
  if (source.empty() || std::adjacent_find(source.begin(), source.end()) != source.end()) return;
  Index lo = source.front(), hi = source.back();
  int peers = 0, to = -1;
  for (int q = 0; q < static_cast<int>(sent_count.size()); ++q)
    if (sent_count[q] > 0) ++peers, to = q;
  const Index* list = to < 0 ? nullptr : sent.data() + sent_offset[to];
  const int n = to < 0 ? 0 : sent_count[to];
  bool fused = peers == 1;
  for (int i = 1; i < n && fused; ++i) fused = list[i - 1] < list[i];
  if (fused) {
    lo = std::min(lo, list[0]);
    hi = std::max(hi, list[n - 1]);
  }
  window_first_ = lo;
  const auto windows = static_cast<std::size_t>(hi - lo) / 64 + 1;
  window_local_.assign(windows, 0);
  window_slot_.assign(64 * windows, kNone);
  for (std::size_t i = 0; i < source.size(); ++i) {
    const auto k = static_cast<std::size_t>(source[i] - lo);
    set_bit(window_local_.data(), k);
    window_slot_[k] = slot[i];
  }
  if (!fused) return;
  window_sent_.assign(windows, 0);
  for (int i = 0; i < n && fused; ++i) {
    const auto k = static_cast<std::size_t>(list[i] - lo);
    fused = (window_local_[k / 64] >> (k % 64) & 1u) == 0;
    set_bit(window_sent_.data(), k);
  }
  if (fused)
    sent_to_ = to;
  else
    window_sent_.clear();
}

namespace {

// Sorts non-negative ids ascending: a least-significant-digit radix sort (two 16-bit passes
// over id − min when the span fits 32 bits) for long lists — a std::sort of the million world's
// 1.9M sent ids a rank was a twentieth of its set-up — std::sort otherwise.
template <class It>
void sort_ids(It first, It last, std::vector<Index>& buffer) {
  const std::size_t n = static_cast<std::size_t>(last - first);
  if (n < 4096) {
    std::sort(first, last);
    return;
  }
  const auto [lo_it, hi_it] = std::minmax_element(first, last);
  const Index lo = *lo_it;
  const auto span = static_cast<std::uint64_t>(*hi_it) - static_cast<std::uint64_t>(lo);
  if (span >= (std::uint64_t{1} << 32)) {
    std::sort(first, last);
    return;
  }
  buffer.resize(n);
  Index* a = &*first;
  Index* b = buffer.data();
  for (int shift = 0; shift < 32; shift += 16) {
    if ((span >> shift) == 0) break;  // this digit and all above are 0: sorted
    std::vector<std::size_t> start((std::size_t{1} << 16) + 1, 0);
    auto digit = [&](Index x) {
      return static_cast<std::size_t>((static_cast<std::uint64_t>(x) - static_cast<std::uint64_t>(lo)) >> shift) & 0xFFFF;
    };
    for (std::size_t i = 0; i < n; ++i) ++start[digit(a[i]) + 1];
    for (std::size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
    for (std::size_t i = 0; i < n; ++i) b[start[digit(a[i])]++] = a[i];
    std::swap(a, b);
  }
  if (a != &*first) std::copy(a, a + n, first);
}

// Adds the wall time of a scope to a counter (time inside the exchange, waiting included).
struct Stopwatch {
  double& total;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~Stopwatch() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};

}  // namespace

// ---- Communicator -------------------------------------------------------------------------

struct Communicator::Impl {
  boost::mpi::communicator comm;
  MPI_Comm native() const { return static_cast<MPI_Comm>(comm); }
};

Communicator::Communicator() = default;

Communicator Communicator::world() {
  if (!boost::mpi::environment::initialized() || boost::mpi::environment::finalized())
    fail("MPI is not initialised (call MPI_Init or create a boost::mpi::environment first)");
  Communicator c;
  c.impl_ = std::make_shared<const Impl>(Impl{boost::mpi::communicator(MPI_COMM_WORLD, boost::mpi::comm_attach)});
  c.rank_ = c.impl_->comm.rank();
  c.size_ = c.impl_->comm.size();
  return c;
}

Communicator MpiCommunicator::attach(MPI_Comm comm) {
  if (!boost::mpi::environment::initialized() || boost::mpi::environment::finalized())
    fail("MPI is not initialised (call MPI_Init or create a boost::mpi::environment first)");
  Communicator c;
  c.impl_ = std::make_shared<const Communicator::Impl>(Communicator::Impl{boost::mpi::communicator(comm, boost::mpi::comm_attach)});
  c.rank_ = c.impl_->comm.rank();
  c.size_ = c.impl_->comm.size();
  return c;
}

MPI_Comm MpiCommunicator::native(const Communicator& c) { return c.impl_ ? c.impl_->native() : MPI_COMM_SELF; }

// ---- RoutingPlan --------------------------------------------------------------------------

RoutingPlan::RoutingPlan(std::span<const Index> index, std::span<const int> source_rank,
                         std::span<const int> slot_rank, int rank, int ranks)
    : slots_(index.size()), sources_(source_rank.size()), rank_(rank), ranks_(ranks) {
  if (ranks < 1 || rank < 0 || rank >= ranks) fail("rank " + std::to_string(rank) + " of " + std::to_string(ranks));
  if (slot_rank.size() != index.size()) fail("index and slot_rank differ in size");
  checked_int(index.size(), "slot count");
  for (int r : source_rank)
    if (r < 0 || r >= ranks) fail("source owned by rank " + std::to_string(r) + " of " + std::to_string(ranks));
  for (int r : slot_rank)
    if (r < 0 || r >= ranks) fail("slot owned by rank " + std::to_string(r) + " of " + std::to_string(ranks));
  // Whether some source feeds several slots (then to_firms needs its own route): a bit per
  // source (the million world's 7.5M links in under 1 MB, where the random reads stay in cache).
  std::vector<std::uint64_t> seen(bitmap_words(sources_), 0);
  bool repeats = false;
  for (std::size_t j = 0; j < index.size(); ++j) {
    const Index i = index[j];
    if (i < 0 || static_cast<std::size_t>(i) >= sources_)
      fail("slot " + std::to_string(j) + " takes source " + std::to_string(i) + " of " + std::to_string(sources_));
    const std::uint64_t bit = std::uint64_t{1} << (i & 63);
    repeats = repeats || (seen[static_cast<std::size_t>(i) >> 6] & bit) != 0;
    seen[static_cast<std::size_t>(i) >> 6] |= bit;
  }
  // Sources owned in ascending contiguous ranges (firms are, and so their links and input
  // slots): a slot's source rank from the ranges' bounds, not a random read of source_rank per
  // slot (7.5M reads from a 30 MB array, most of this plan's set-up in the million world).
  std::vector<Index> first;
  if (std::is_sorted(source_rank.begin(), source_rank.end())) {
    first.assign(static_cast<std::size_t>(ranks) + 1, static_cast<Index>(sources_));
    for (std::size_t i = sources_; i-- > 0;) first[source_rank[i]] = static_cast<Index>(i);
    for (int q = ranks - 1; q >= 0; --q) first[q] = std::min(first[q], first[q + 1]);
  }
  forward_ = build(index, source_rank, first, slot_rank, rank, ranks, nullptr);
  if (repeats) {
    // last[i] = the last slot fed by source i: to_firms routes back only from there.
    std::vector<Index> last(sources_, kNone);
    for (std::size_t j = 0; j < index.size(); ++j) last[index[j]] = static_cast<Index>(j);
    std::vector<std::uint8_t> keep(index.size());
    for (std::size_t j = 0; j < index.size(); ++j) keep[j] = last[index[j]] == static_cast<Index>(j);
    backward_ = build(index, source_rank, first, slot_rank, rank, ranks, &keep);
    has_backward_ = true;
  }
}

RoutingPlan::Route RoutingPlan::build(std::span<const Index> index, std::span<const int> source_rank,
                                      std::span<const Index> first, std::span<const int> slot_rank, int me, int P,
                                      const std::vector<std::uint8_t>* keep) {
  // Source i's rank: from the ranges (first[q] = rank q's first source) when given.
  auto rank_of = [&](Index i) {
    if (first.empty()) return source_rank[i];
    if (P <= 8) {
      int q = 0;
      while (q + 1 < P && i >= first[q + 1]) ++q;
      return q;
    }
    return static_cast<int>(std::upper_bound(first.begin() + 1, first.end() - 1, i) - (first.begin() + 1));
  };
  Route r;
  r.send_count.assign(P, 0);
  r.recv_count.assign(P, 0);
  std::size_t local = 0;
  auto kept = [&](std::size_t j) { return keep == nullptr || (*keep)[j] != 0; };
  for (std::size_t j = 0; j < index.size(); ++j) {
    if (!kept(j)) continue;
    const int from = rank_of(index[j]), to = slot_rank[j];
    if (from == me && to == me) ++local;
    else if (from == me) ++r.send_count[to];
    else if (to == me) ++r.recv_count[from];
  }
  r.send_offset.assign(P, 0);
  r.recv_offset.assign(P, 0);
  for (int q = 1; q < P; ++q) {
    r.send_offset[q] = r.send_offset[q - 1] + r.send_count[q - 1];
    r.recv_offset[q] = r.recv_offset[q - 1] + r.recv_count[q - 1];
  }
  r.local_slot.reserve(local);
  r.local_source.reserve(local);
  r.send_source.resize(static_cast<std::size_t>(r.send_offset[P - 1]) + r.send_count[P - 1]);
  r.recv_slot.resize(static_cast<std::size_t>(r.recv_offset[P - 1]) + r.recv_count[P - 1]);
  std::vector<int> send_at = r.send_offset, recv_at = r.recv_offset;
  for (std::size_t j = 0; j < index.size(); ++j) {
    if (!kept(j)) continue;
    const int from = rank_of(index[j]), to = slot_rank[j];
    if (from == me && to == me) {
      r.local_slot.push_back(static_cast<Index>(j));
      r.local_source.push_back(index[j]);
    } else if (from == me) {
      r.send_source[send_at[to]++] = index[j];
    } else if (to == me) {
      r.recv_slot[recv_at[from]++] = static_cast<Index>(j);
    }
  }
  // Local copies run in source order. Slots are grouped by market and, within a market, in
  // source (firm) order, so walking the sources in order reads them as one stream and writes
  // each market's slots as a stream of its own; walking slot order instead took every source
  // from a different cache line (a market's sources lie thousands of links apart). The pairs
  // are only reordered: each slot still gets its one source (and a source fed to several
  // slots by the backward route was already reduced to its last slot).
  // A stable counting sort over the range of this rank's sources (linear; a comparison sort
  // of the million world's 7.5M pairs was a tenth of the set-up).
  if (!r.local_source.empty()) {
    const auto [lo_it, hi_it] = std::minmax_element(r.local_source.begin(), r.local_source.end());
    const Index lo = *lo_it;
    std::vector<std::size_t> start(static_cast<std::size_t>(*hi_it - lo) + 2, 0);
    for (const Index i : r.local_source) ++start[static_cast<std::size_t>(i - lo) + 1];
    for (std::size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
    std::vector<Index> slot_sorted(r.local_slot.size()), source_sorted(r.local_slot.size());
    for (std::size_t i = 0; i < r.local_slot.size(); ++i) {
      const std::size_t at = start[static_cast<std::size_t>(r.local_source[i] - lo)]++;
      slot_sorted[at] = r.local_slot[i];
      source_sorted[at] = r.local_source[i];
    }
    r.local_slot = std::move(slot_sorted);
    r.local_source = std::move(source_sorted);
  }
  // What goes to each peer, in source order on both ends (ties, a source feeding several
  // slots, in slot order): the sender reads its sources as one stream, and the receiver writes
  // each market's slots as a stream of its own, as the local copies do. Both ends sort by the
  // same global source ids, so they enumerate a segment alike. (In slot order the sender took
  // every source from a different cache line.)
  //
  // Equal source ids are equal values, so an unstable sort of the sent ids gives the stable
  // order; the received slots go by a stable counting sort over their sources' range (a peer's
  // sources are its contiguous range; a comparison sort through `index` was most of the
  // million world's 2-rank set-up of this plan).
  std::vector<std::size_t> start;
  std::vector<Index> sorted;
  for (int q = 0; q < P; ++q) {
    const auto s0 = r.send_source.begin() + r.send_offset[q];
    sort_ids(s0, s0 + r.send_count[q], sorted);
    const auto r0 = r.recv_slot.begin() + r.recv_offset[q];
    const std::size_t n = static_cast<std::size_t>(r.recv_count[q]);
    if (n == 0) continue;
    Index lo = index[r0[0]], hi = lo;
    for (std::size_t i = 0; i < n; ++i) {
      lo = std::min(lo, index[r0[i]]);
      hi = std::max(hi, index[r0[i]]);
    }
    start.assign(static_cast<std::size_t>(hi - lo) + 2, 0);
    for (std::size_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(index[r0[i]] - lo) + 1];
    for (std::size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
    sorted.resize(n);
    for (std::size_t i = 0; i < n; ++i) sorted[start[static_cast<std::size_t>(index[r0[i]] - lo)]++] = r0[i];
    std::copy(sorted.begin(), sorted.end(), r0);
  }
  return r;
}

void RoutingPlan::rebase(Index source_first, std::size_t sources, std::size_t slots,
                         const std::function<Index(Index)>& slot_local) {
  auto source = [&](Index& i) {
    i -= source_first;
    if (i < 0 || static_cast<std::size_t>(i) >= sources)
      fail("rebase: a source of this rank's lies outside its range");
  };
  auto slot = [&](Index& j) {
    j = slot_local(j);
    if (j < 0 || static_cast<std::size_t>(j) >= slots) fail("rebase: a slot of this rank's maps outside its range");
  };
  for (Route* r : {&forward_, &backward_}) {
    if (r == &backward_ && !has_backward_) break;
    for (Index& i : r->local_source) source(i);
    for (Index& i : r->send_source) source(i);
    for (Index& j : r->local_slot) slot(j);
    for (Index& j : r->recv_slot) slot(j);
  }
  sources_ = sources;
  slots_ = slots;
}

// ---- Exchange: local copies ---------------------------------------------------------------

void Exchange::to_markets(std::span<const Index> index, std::span<const double> from_firm,
                          std::span<double> to_market) const {
  for (std::size_t j = 0; j < index.size(); ++j) to_market[j] = from_firm[index[j]];
}

void Exchange::to_firms(std::span<const Index> index, std::span<const double> from_market,
                        std::span<double> to_firm) const {
  for (std::size_t j = 0; j < index.size(); ++j) to_firm[index[j]] = from_market[j];
}

// ---- Exchange: routed ---------------------------------------------------------------------

void Exchange::to_markets(const RoutingPlan& plan, std::span<const double> from_source, std::span<double> to_slot) {
  const std::span<const double> from[1] = {from_source};
  const std::span<double> to[1] = {to_slot};
  route(plan, true, from, to);
}

void Exchange::to_markets(const RoutingPlan& plan, std::span<const double> from_source, std::span<double> to_slot,
                          RouteMemo& memo) {
  const std::span<const double> from[1] = {from_source};
  const std::span<double> to[1] = {to_slot};
  route(plan, true, from, to, &memo);
}

void Exchange::to_firms(const RoutingPlan& plan, std::span<const double> from_slot, std::span<double> to_source) {
  const std::span<const double> from[1] = {from_slot};
  const std::span<double> to[1] = {to_source};
  route(plan, false, from, to);
}

void Exchange::to_markets(const RoutingPlan& plan, std::span<const std::span<const double>> from,
                          std::span<const std::span<double>> to) {
  route(plan, true, from, to);
}

void Exchange::to_firms(const RoutingPlan& plan, std::span<const std::span<const double>> from,
                        std::span<const std::span<double>> to) {
  route(plan, false, from, to);
}

// Forward (to_markets) reads sources and writes slots; backward (to_firms) the reverse, over
// the same lists with the roles of "send" and "receive" swapped.
void Exchange::route(const RoutingPlan& plan, bool forward, std::span<const std::span<const double>> from,
                     std::span<const std::span<double>> to, RouteMemo* memo) {
  const Stopwatch clock{stats_.seconds};
  const int P = ranks();
  if (plan.ranks() != P || plan.rank() != rank()) fail("plan built for another communicator");
  if (from.size() != to.size()) fail("batched call with different numbers of input and output arrays");
  const std::size_t k = from.size();
  const std::size_t n_from = forward ? plan.sources() : plan.slots();
  const std::size_t n_to = forward ? plan.slots() : plan.sources();
  for (std::size_t a = 0; a < k; ++a)
    if (from[a].size() != n_from || to[a].size() != n_to) fail("array sizes do not match the plan");

  const RoutingPlan::Route& R = forward ? plan.forward_ : plan.backward();
  const std::vector<Index>& local_from = forward ? R.local_source : R.local_slot;
  const std::vector<Index>& local_to = forward ? R.local_slot : R.local_source;
  const std::vector<Index>& pack = forward ? R.send_source : R.recv_slot;
  const std::vector<Index>& unpack = forward ? R.recv_slot : R.send_source;
  const std::vector<int>& out_count = forward ? R.send_count : R.recv_count;
  const std::vector<int>& out_offset = forward ? R.send_offset : R.recv_offset;
  const std::vector<int>& in_count = forward ? R.recv_count : R.send_count;
  const std::vector<int>& in_offset = forward ? R.recv_offset : R.send_offset;
  // Each peer's segment is sent sparse (SparseWriter), at the start of its worst-case room in
  // send_words_. Segment layout before encoding: array 0's values for the peer, then array 1's, ….
  counts_.resize(4 * static_cast<std::size_t>(P));
  int* sc = counts_.data();
  int* sd = sc + P;
  int* rc = sd + P;
  int* rd = rc + P;
  if (P > 1) {
    std::size_t worst = 0;
    for (int q = 0; q < P; ++q) {
      const std::size_t n = static_cast<std::size_t>(out_count[q]) * k;
      sd[q] = checked_int(worst, "words sent");
      worst += n + bitmap_words(n);
    }
    send_words_.resize(worst);
  }
  bool packed = false;  // the memo'd copy packed the one peer's segment
  if (memo != nullptr) {
    // An entry is written if it is non-zero now or was last time (else it holds +0 already).
    // A memo for another plan or array starts with every bit set: every entry is written once.
    if (k != 1) fail("a memo takes one array");
    const bool same = memo->valid_ && memo->plan_ == &plan && memo->to_ == to[0].data() && memo->size_ == to[0].size();
    memo->valid_ = false;  // until this call completes
    if (!same) {
      if (forward)
        memo->index_windows(R.local_source, R.local_slot, pack, out_offset, out_count);
      else
        memo->window_local_.clear();
      std::size_t received = 0;
      for (const int count : in_count) received += bitmap_words(static_cast<std::size_t>(count));
      const bool windows = !memo->window_local_.empty();  // a bit per source of the windows, else per pair
      memo->local_.assign(windows ? memo->window_local_.size() : bitmap_words(local_to.size()), ~std::uint64_t{0});
      memo->received_.assign(received, ~std::uint64_t{0});
      // The destination's bits start as the memo's (all set for the entries this rank writes)
      // and then flip where an entry's memo bit does: rarely, as most offers keep being 0 or
      // keep being sold, so no scattered write per entry copied.
      memo->nonzero_.assign(bitmap_words(to[0].size()), 0);
      for (const Index s : local_to) set_bit(memo->nonzero_.data(), static_cast<std::size_t>(s));
      for (const Index s : unpack) set_bit(memo->nonzero_.data(), static_cast<std::size_t>(s));
      memo->plan_ = &plan;
      memo->to_ = to[0].data();
      memo->size_ = to[0].size();
    }
    const double* src = from[0].data();
    double* dst = to[0].data();
    std::uint64_t* seen = memo->local_.data();
    std::uint64_t* dst_nonzero = memo->nonzero_.data();
    if (!memo->window_local_.empty()) {
      // 64 consecutive sources at a time, masked to those with a local slot; the last window
      // may reach past the array, so it is read entry by entry. Sent sources, when the windows
      // cover them, are packed from the same window: the segment's bitmap is zeroed and only
      // the non-zero sent values are visited (most are 0); a value's place in the segment is
      // the count of sent sources before it.
      packed = P > 1 && !memo->window_sent_.empty();
      std::uint64_t* sent_bitmap = nullptr;
      std::uint64_t* sent_value = nullptr;
      std::size_t sent_at = 0;
      if (packed) {
        std::fill(sc, sc + P, 0);  // the other peers are sent nothing
        const auto count = static_cast<std::size_t>(out_count[memo->sent_to_]);
        sent_bitmap = send_words_.data() + sd[memo->sent_to_];
        sent_value = sent_bitmap + bitmap_words(count);
        std::fill(sent_bitmap, sent_value, 0);
      }
      const Index* slot = memo->window_slot_.data();
      const std::size_t W = memo->window_local_.size();
      const double* base = src + memo->window_first_;
      const bool last_full = static_cast<std::size_t>(memo->window_first_) + 64 * W <= from[0].size();
      // The loop twice over: with the packing and without (1 rank, or sent sources packed
      // apart), where the packing's few instructions a window slowed the copy by a tenth.
      auto copy_windows = [&](auto pack_tag) {
        constexpr bool kPack = decltype(pack_tag)::value;
        for (std::size_t w = 0; w < W; ++w) {
          const std::uint64_t local = memo->window_local_[w];
          const double* v = base + 64 * w;
          const std::uint64_t sent = kPack ? memo->window_sent_[w] : 0;
          std::uint64_t all = 0;  // non-zero, local or sent
          if (w + 1 < W || last_full) {
            all = nonzero_mask_run(v);
          } else {
            for (std::uint64_t b = local | sent; b != 0; b &= b - 1) {
              const int j = std::countr_zero(b);
              all |= std::uint64_t{std::bit_cast<std::uint64_t>(v[j]) != 0} << j;
            }
          }
          const std::uint64_t nonzero = all & local;
          if constexpr (kPack) {
            for (std::uint64_t b = all & sent; b != 0; b &= b - 1) {
              const int j = std::countr_zero(b);
              const std::size_t e = sent_at + static_cast<std::size_t>(std::popcount(sent & ((std::uint64_t{1} << j) - 1)));
              set_bit(sent_bitmap, e);
              *sent_value++ = std::bit_cast<std::uint64_t>(v[j]);
            }
            sent_at += static_cast<std::size_t>(std::popcount(sent));
          }
          std::uint64_t write = (nonzero | seen[w]) & local;  // (a new memo's bits are all set)
          for (std::uint64_t flip = (nonzero ^ seen[w]) & local; flip != 0; flip &= flip - 1)
            flip_bit(dst_nonzero, slot[64 * w + std::countr_zero(flip)]);
          seen[w] = nonzero;
          for (; write != 0; write &= write - 1) {
            const int j = std::countr_zero(write);
            dst[slot[64 * w + j]] = v[j];
          }
        }
      };
      if (packed)
        copy_windows(std::true_type{});
      else
        copy_windows(std::false_type{});
      if (packed) sc[memo->sent_to_] = checked_int(static_cast<std::size_t>(sent_value - sent_bitmap), "words sent");
    } else {
      const Index* lf = local_from.data();
      const Index* lt = local_to.data();
      const std::size_t n = local_to.size();
      for (std::size_t i0 = 0, w = 0; i0 < n; i0 += 64, ++w) {
        const std::size_t len = std::min<std::size_t>(64, n - i0);
        const std::uint64_t nonzero = nonzero_mask(src, lf + i0, len);
        std::uint64_t write = (nonzero | seen[w]) & low_bits(len);
        for (std::uint64_t flip = (nonzero ^ seen[w]) & low_bits(len); flip != 0; flip &= flip - 1)
          flip_bit(dst_nonzero, lt[i0 + std::countr_zero(flip)]);
        seen[w] = nonzero;
        for (; write != 0; write &= write - 1) {
          const int j = std::countr_zero(write);
          dst[lt[i0 + j]] = src[lf[i0 + j]];
        }
      }
    }
  } else {
    for (std::size_t a = 0; a < k; ++a) {
      const double* src = from[a].data();
      double* dst = to[a].data();
      const std::size_t n = local_to.size();
      for (std::size_t i = 0; i < n; ++i) dst[local_to[i]] = src[local_from[i]];
    }
  }
  ++stats_.routed_calls;
  if (P == 1) {
    if (memo != nullptr) memo->valid_ = true;
    return;
  }

  std::size_t at = 0;  // words sent
  for (int q = 0; q < P; ++q) {
    std::size_t words = 0;
    if (packed) {
      words = static_cast<std::size_t>(sc[q]);  // (0 for the peers sent nothing)
    } else {
      const std::size_t count = static_cast<std::size_t>(out_count[q]);
      SparseWriter out(send_words_.data() + sd[q], count * k);
      for (std::size_t a = 0; a < k; ++a) {
        const double* src = from[a].data();
        const Index* list = pack.data() + out_offset[q];
        for (std::size_t i = 0; i < count; ++i) out.put(src[list[i]]);
      }
      words = out.finish();
    }
    sc[q] = checked_int(words, "words sent");
    at += words;
  }
  const MPI_Comm native = comm_.impl_->native();
  MPI_Alltoall(sc, 1, MPI_INT, rc, 1, MPI_INT, native);
  std::size_t received = 0;
  for (int q = 0; q < P; ++q) {
    rd[q] = checked_int(received, "words received");
    received += static_cast<std::size_t>(rc[q]);
  }
  recv_words_.resize(received);
  // One all-to-all of the sizes and one of the words per call. Boost.MPI 1.74 has no
  // all_to_allv and its all_to_all of vectors serialises them: measured on 2 ranks with 28 MB
  // per call, MPI_Alltoallv on packed doubles took 13–16 ms, boost::mpi::all_to_all of
  // vector<vector<double>> 49–54 ms.
  MPI_Alltoallv(send_words_.data(), sc, sd, MPI_UINT64_T, recv_words_.data(), rc, rd, MPI_UINT64_T, native);
  if (memo != nullptr) {
    // As the local copies: a received entry is written if non-zero now (its bit in the
    // peer's bitmap, k = 1) or last time; the values come in the order of the bitmap's bits.
    double* dst = to[0].data();
    std::uint64_t* seen = memo->received_.data();
    std::uint64_t* dst_nonzero = memo->nonzero_.data();
    for (int q = 0; q < P; ++q) {
      const std::size_t count = static_cast<std::size_t>(in_count[q]);
      const std::uint64_t* bitmap = recv_words_.data() + rd[q];
      const std::uint64_t* value = bitmap + bitmap_words(count);
      const Index* list = unpack.data() + in_offset[q];
      for (std::size_t i0 = 0; i0 < count; i0 += 64, ++seen) {
        const std::size_t len = std::min<std::size_t>(64, count - i0);
        const std::uint64_t nonzero = bitmap[i0 / 64] & low_bits(len);
        std::uint64_t write = nonzero | (*seen & low_bits(len));
        for (std::uint64_t flip = (nonzero ^ *seen) & low_bits(len); flip != 0; flip &= flip - 1)
          flip_bit(dst_nonzero, list[i0 + std::countr_zero(flip)]);
        *seen = nonzero;
        for (; write != 0; write &= write - 1) {
          const int j = std::countr_zero(write);
          double v = 0.0;
          if (nonzero >> j & 1u) v = std::bit_cast<double>(*value++);
          dst[list[i0 + j]] = v;
        }
      }
      if (static_cast<std::size_t>(value - bitmap) != static_cast<std::size_t>(rc[q]))
        fail("a peer's sparse segment does not match its bitmap");
    }
    memo->valid_ = true;
  } else {
    for (int q = 0; q < P; ++q) {
      const std::size_t count = static_cast<std::size_t>(in_count[q]);
      SparseReader in(recv_words_.data() + rd[q], count * k);
      for (std::size_t a = 0; a < k; ++a) {
        double* dst = to[a].data();
        const Index* list = unpack.data() + in_offset[q];
        for (std::size_t i = 0; i < count; ++i) dst[list[i]] = in.get();
      }
      if (in.words() != static_cast<std::size_t>(rc[q])) fail("a peer's sparse segment does not match its bitmap");
    }
  }
  stats_.routed_bytes_sent += at * sizeof(std::uint64_t);
  stats_.routed_bytes_received += received * sizeof(std::uint64_t);
}

void Exchange::verify(const RoutingPlan& plan) {
  const int P = ranks();
  bool bad = plan.ranks() != P || plan.rank() != rank();
  if (P > 1) {
    const boost::mpi::communicator& comm = comm_.impl_->comm;
    for (const RoutingPlan::Route* R : {&plan.forward_, &plan.backward()}) {
      // What each rank sends to q must be what q expects from it.
      std::vector<int> sent = R->send_count, expected;
      if (static_cast<int>(sent.size()) != P) sent.assign(P, -1);
      boost::mpi::all_to_all(comm, sent, expected);
      const std::vector<int>& recv = R->recv_count;
      for (int q = 0; q < P; ++q) bad = bad || static_cast<int>(recv.size()) != P || expected[q] != recv[q];
    }
  }
  const ErrorAgreement verdict = agree_error(bad, "routing plans disagree across ranks (were they built from the same arrays?)");
  if (verdict.failed) fail(verdict.message + " (first seen on rank " + std::to_string(verdict.rank) + ")");
}

// ---- Exchange: collectives ----------------------------------------------------------------

std::size_t Exchange::allgather_words(int sent, std::vector<int>& count, std::vector<int>& offset) {
  const int P = ranks();
  count.assign(P, 0);
  offset.assign(P, 0);
  MPI_Allgather(&sent, 1, MPI_INT, count.data(), 1, MPI_INT, comm_.impl_->native());
  std::size_t total = 0;
  for (int q = 0; q < P; ++q) {
    offset[q] = checked_int(total, "allgather_owned words");
    total += static_cast<std::size_t>(count[q]);
  }
  recv_words_.resize(total);
  MPI_Allgatherv(send_words_.data(), sent, MPI_UINT64_T, recv_words_.data(), count.data(), offset.data(),
                 MPI_UINT64_T, comm_.impl_->native());
  return total;
}

void Exchange::allgather_owned(std::span<double> values, std::span<const int> owner) {
  const std::span<double> arrays[1] = {values};
  allgather_owned(arrays, owner);
}

const Exchange::OwnerLists& Exchange::lists_for(std::span<const int> owner) {
  for (const OwnerLists& L : owner_lists_)
    if (L.owner.size() == owner.size() && std::equal(owner.begin(), owner.end(), L.owner.begin())) return L;
  const int P = ranks();
  OwnerLists L;
  L.owner.assign(owner.begin(), owner.end());
  L.begin.assign(static_cast<std::size_t>(P) + 1, 0);
  for (int q : owner) {
    if (q < 0 || q >= P) fail("allgather_owned: entry owned by rank " + std::to_string(q));
    ++L.begin[static_cast<std::size_t>(q) + 1];
  }
  for (int q = 0; q < P; ++q) L.begin[q + 1] += L.begin[q];
  L.ids.resize(owner.size());
  std::vector<std::size_t> at(L.begin.begin(), L.begin.end() - 1);
  for (std::size_t i = 0; i < owner.size(); ++i) L.ids[at[owner[i]]++] = static_cast<Index>(i);
  if (owner_lists_.size() >= 8) owner_lists_.erase(owner_lists_.begin());  // (a run uses two or three)
  owner_lists_.push_back(std::move(L));
  return owner_lists_.back();
}

void Exchange::allgather_owned(std::span<const std::span<double>> arrays, std::span<const int> owner) {
  const Stopwatch clock{stats_.seconds};
  const int P = ranks(), me = rank();
  const std::size_t n = owner.size(), k = arrays.size();
  for (const auto& a : arrays)
    if (a.size() != n) fail("allgather_owned: an array differs in size from the owner array");
  ++stats_.collective_calls;
  if (P == 1 || k == 0) return;
  // Each rank's entries listed once per owner array: per call, every rank walks only its own
  // entries and each peer's, not all n with a test of the owner per entry and array.
  const OwnerLists& L = lists_for(owner);
  const Index* mine_ids = L.ids.data() + L.begin[me];
  const std::size_t mine = L.begin[me + 1] - L.begin[me];
  checked_int(n * k + bitmap_words(n * k), "allgather_owned values");
  // Each rank's segment, [array 0 | array 1 | …] each in id order, sent sparse as the routed
  // calls send theirs (SparseWriter). Trade-pair flows, most of them exactly 0, were four fifths
  // of the million world's bytes.
  send_words_.resize(bitmap_words(mine * k) + mine * k);
  SparseWriter out(send_words_.data(), mine * k);
  for (std::size_t a = 0; a < k; ++a) {
    const double* src = arrays[a].data();
    for (std::size_t j = 0; j < mine; ++j) out.put(src[mine_ids[j]]);
  }
  const int sent = checked_int(out.finish(), "allgather_owned words");
  std::vector<int> rc, rd;
  const std::size_t total = allgather_words(sent, rc, rd);
  // Rank q's segment holds, array by array, its entries in id order: its list's order.
  for (int q = 0; q < P; ++q) {
    if (q == me) continue;
    const Index* ids = L.ids.data() + L.begin[q];
    const std::size_t count = L.begin[q + 1] - L.begin[q];
    SparseReader in(recv_words_.data() + rd[q], count * k);
    for (std::size_t a = 0; a < k; ++a) {
      double* dst = arrays[a].data();
      for (std::size_t j = 0; j < count; ++j) dst[ids[j]] = in.get();
    }
    if (in.words() != static_cast<std::size_t>(rc[q]))
      fail("allgather_owned: a rank's sparse segment does not match its bitmap");
  }
  stats_.collective_bytes_sent += static_cast<std::size_t>(sent) * sizeof(std::uint64_t);
  stats_.collective_bytes_received += (total - static_cast<std::size_t>(sent)) * sizeof(std::uint64_t);
}

void Exchange::allgather_owned(std::span<const std::span<double>> arrays, std::span<const int> owner,
                               std::span<const Index> listed, GatherMemo& memo) {
  const Stopwatch clock{stats_.seconds};
  const int P = ranks(), me = rank();
  const std::size_t n = owner.size(), k = arrays.size();
  for (const auto& a : arrays)
    if (a.size() != n) fail("allgather_owned: an array differs in size from the owner array");
  for (const Index e : listed)
    if (e < 0 || static_cast<std::size_t>(e) >= n || owner[e] != me)
      fail("allgather_owned: listed entry " + std::to_string(e) + " is not this rank's");
  ++stats_.collective_calls;
  if (P == 1 || k == 0) return;
  // This rank's segment: the listed ids, then each array's values at them.
  const std::size_t count = listed.size();
  send_words_.resize(count * (1 + k));
  std::uint64_t* out = send_words_.data();
  for (const Index e : listed) *out++ = static_cast<std::uint64_t>(e);
  for (std::size_t a = 0; a < k; ++a)
    for (const Index e : listed) *out++ = std::bit_cast<std::uint64_t>(arrays[a][e]);
  const int sent = checked_int(send_words_.size(), "allgather_owned words");
  std::vector<int> rc, rd;
  const std::size_t total = allgather_words(sent, rc, rd);
  // Zero what the last call wrote (a memo for other arrays or owners: every other rank's entry).
  bool same = memo.valid_ && memo.owner_ == owner.data() && memo.size_ == n && memo.arrays_.size() == k;
  for (std::size_t a = 0; same && a < k; ++a) same = memo.arrays_[a] == arrays[a].data();
  memo.valid_ = false;  // until this call completes
  if (same) {
    for (const auto& a : arrays)
      for (const Index e : memo.written_) a[e] = 0.0;
  } else {
    for (std::size_t e = 0; e < n; ++e)
      if (owner[e] != me)
        for (const auto& a : arrays) a[e] = 0.0;
    memo.arrays_.clear();
    for (const auto& a : arrays) memo.arrays_.push_back(a.data());
    memo.owner_ = owner.data();
    memo.size_ = n;
  }
  memo.written_.clear();
  for (int q = 0; q < P; ++q) {
    if (q == me) continue;
    if (rc[q] % (1 + k) != 0) fail("allgather_owned: a rank's listed segment is malformed");
    const std::size_t m = static_cast<std::size_t>(rc[q]) / (1 + k);
    const std::uint64_t* ids = recv_words_.data() + rd[q];
    for (std::size_t i = 0; i < m; ++i) {
      const std::uint64_t e = ids[i];
      if (e >= n || owner[e] != q) fail("allgather_owned: a rank listed an entry it does not own");
      memo.written_.push_back(static_cast<Index>(e));
      for (std::size_t a = 0; a < k; ++a) arrays[a][e] = std::bit_cast<double>(ids[m * (1 + a) + i]);
    }
  }
  memo.valid_ = true;
  stats_.collective_bytes_sent += static_cast<std::size_t>(sent) * sizeof(std::uint64_t);
  stats_.collective_bytes_received += (total - static_cast<std::size_t>(sent)) * sizeof(std::uint64_t);
}

double Exchange::ordered_sum(std::span<const double> values, std::span<const int> owner) {
  const std::span<const double> arrays[1] = {values};
  return ordered_sums(arrays, owner)[0];
}

std::vector<double> Exchange::ordered_sums(std::span<const std::span<const double>> arrays,
                                           std::span<const int> owner) {
  std::vector<double> sums(arrays.size(), 0.0);
  if (ranks() == 1) {
    ++stats_.collective_calls;
    for (std::size_t a = 0; a < arrays.size(); ++a) {
      if (arrays[a].size() != owner.size()) fail("ordered_sum: an array differs in size from the owner array");
      double s = 0.0;
      for (double v : arrays[a]) s += v;
      sums[a] = s;
    }
    return sums;
  }
  std::vector<std::vector<double>> copies(arrays.size());
  std::vector<std::span<double>> spans(arrays.size());
  for (std::size_t a = 0; a < arrays.size(); ++a) {
    copies[a].assign(arrays[a].begin(), arrays[a].end());
    spans[a] = copies[a];
  }
  allgather_owned(spans, owner);
  for (std::size_t a = 0; a < arrays.size(); ++a) {
    double s = 0.0;
    for (double v : copies[a]) s += v;
    sums[a] = s;
  }
  return sums;
}

std::vector<double> Exchange::allgather_concat(std::span<const double> mine) {
  const Stopwatch clock{stats_.seconds};
  ++stats_.collective_calls;
  const int P = ranks();
  if (P == 1) return {mine.begin(), mine.end()};
  const MPI_Comm comm = comm_.impl_->native();
  const int n = checked_int(mine.size(), "allgather_concat values");
  std::vector<int> count(P), displ(P);
  MPI_Allgather(&n, 1, MPI_INT, count.data(), 1, MPI_INT, comm);
  std::size_t total = 0;
  for (int q = 0; q < P; ++q) {
    displ[q] = checked_int(total, "allgather_concat total");
    total += static_cast<std::size_t>(count[q]);
  }
  checked_int(total, "allgather_concat total");
  std::vector<double> all(total);
  MPI_Allgatherv(mine.data(), n, MPI_DOUBLE, all.data(), count.data(), displ.data(), MPI_DOUBLE, comm);
  stats_.collective_bytes_sent += mine.size() * sizeof(double);
  stats_.collective_bytes_received += (total - mine.size()) * sizeof(double);
  return all;
}

void Exchange::min_over_ranks(std::span<double> values) { extreme_over_ranks(values, false); }
void Exchange::max_over_ranks(std::span<double> values) { extreme_over_ranks(values, true); }

void Exchange::extreme_over_ranks(std::span<double> values, bool maximum) {
  const Stopwatch clock{stats_.seconds};
  ++stats_.collective_calls;
  if (ranks() == 1 || values.empty()) return;
  MPI_Allreduce(MPI_IN_PLACE, values.data(), checked_int(values.size(), "min/max_over_ranks values"),
                MPI_DOUBLE, maximum ? MPI_MAX : MPI_MIN, comm_.impl_->native());
  stats_.collective_bytes_sent += values.size() * sizeof(double);
  stats_.collective_bytes_received += values.size() * sizeof(double);
}

ErrorAgreement Exchange::agree_error(bool failed_here, const std::string& message, bool stop_here) {
  const Stopwatch clock{stats_.seconds};
  const int P = ranks();
  ++stats_.collective_calls;
  // One minimum over ranks of {lowest failing rank, 0 if asked to stop}.
  int agreed[2] = {failed_here ? rank() : P, stop_here ? 0 : 1};
  if (P > 1) {
    const int mine[2] = {agreed[0], agreed[1]};
    boost::mpi::all_reduce(comm_.impl_->comm, mine, 2, agreed, boost::mpi::minimum<int>());
  }
  const int lowest = agreed[0];
  const bool stop = agreed[1] == 0;
  if (lowest == P) return {false, -1, std::string(), stop};
  ErrorAgreement verdict{true, lowest, rank() == lowest ? message : std::string(), stop};
  broadcast(verdict.message, lowest);
  return verdict;
}

void Exchange::broadcast(std::string& text, int root) {
  const int P = ranks();
  if (root < 0 || root >= P) fail("broadcast from rank " + std::to_string(root));
  ++stats_.collective_calls;
  if (P == 1) return;
  const MPI_Comm comm = comm_.impl_->native();
  unsigned long long size = text.size();
  MPI_Bcast(&size, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  text.resize(size);
  MPI_Bcast(text.data(), checked_int(size, "broadcast text"), MPI_CHAR, root, comm);
  (rank() == root ? stats_.collective_bytes_sent : stats_.collective_bytes_received) += size;
}

std::int64_t Exchange::sum_over_ranks(std::int64_t value) {
  const Stopwatch clock{stats_.seconds};
  ++stats_.collective_calls;
  if (ranks() == 1) return value;
  std::int64_t total = 0;
  boost::mpi::all_reduce(comm_.impl_->comm, value, total, std::plus<std::int64_t>());
  return total;
}

void Exchange::barrier() {
  if (ranks() > 1) comm_.impl_->comm.barrier();
}

}  // namespace decouple
