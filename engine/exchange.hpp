// The firm↔market hand-off of each phase (DESIGN §3 phases 3 and 5) and the few collectives
// the distributed run needs. This is the only module that talks MPI (Boost.MPI inside
// exchange.cpp; no Boost or MPI type crosses this header).
//
// Offers and bids travel from firm-side arrays (by link / input slot) to market-side slots
// (by market, then firm id); settlements travel back. The slot layout is fixed when the
// world is built, so a RoutingPlan computed once lists, for every peer rank, which values to
// send and where received values go; each call then moves only values, packed in contiguous
// buffers, in one all-to-all. Arrays are in global index space on every rank (full size
// everywhere, each rank fills the entries it owns) unless the plan is rebased onto arrays
// holding only the rank's part; results never depend on who owns what.
// With one rank every call is a plain local copy and sends no message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/scenario.hpp"

namespace decouple {

// A handle to the ranks taking part (an opaque Boost.MPI communicator). The default one is a
// single rank without MPI, so serial runs and tests need no MPI_Init.
class Communicator {
 public:
  Communicator();
  // MPI_COMM_WORLD, attached (not duplicated, not freed). MPI must be initialised by the
  // caller (MPI_Init or a boost::mpi::environment); throws InternalError otherwise.
  static Communicator world();
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  friend class Exchange;
  friend struct MpiCommunicator;  // engine/mpi_communicator.hpp: to and from MPI_Comm
  struct Impl;
  std::shared_ptr<const Impl> impl_;  // null for the serial communicator
  int rank_ = 0, size_ = 1;
};

// Who sends what to whom for one slot layout: slot j on the market side takes source element
// index[j] (offer slot → link, bid slot → input slot). Built from replicated arrays, so every
// rank computes its own part without messages. Throws InternalError on inconsistent input.
class RoutingPlan {
 public:
  RoutingPlan() = default;
  RoutingPlan(std::span<const Index> index, std::span<const int> source_rank,
              std::span<const int> slot_rank, int rank, int ranks);
  RoutingPlan(std::span<const Index> index, std::span<const int> source_rank,
              std::span<const int> slot_rank, const Communicator& comm)
      : RoutingPlan(index, source_rank, slot_rank, comm.rank(), comm.size()) {}

  // Renumbers to arrays that hold only this rank's part: source i becomes i − source_first
  // (this rank's sources must be [source_first, source_first + sources)), slot j becomes
  // slot_local(j) (< slots) for every slot this rank owns. Calls then take arrays of those sizes.
  void rebase(Index source_first, std::size_t sources, std::size_t slots,
              const std::function<Index(Index)>& slot_local);

  std::size_t slots() const { return slots_; }
  std::size_t sources() const { return sources_; }
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  // This rank's share of to_markets: slots filled from its own sources, values it sends to
  // and receives from other ranks.
  std::size_t local_count() const { return forward_.local_slot.size(); }
  std::size_t send_count() const { return forward_.send_source.size(); }
  std::size_t receive_count() const { return forward_.recv_slot.size(); }

 private:
  friend class Exchange;
  // One direction's lists. A peer's part of send_source and recv_slot is in (global) source
  // order, ties in slot order, on both ends, so both enumerate the same pairs in the same order
  // and only values need to travel.
  struct Route {
    std::vector<Index> local_slot, local_source;  // slot and source both owned here, in source order
    std::vector<Index> send_source;               // sources owned here feeding other ranks' slots, by peer
    std::vector<Index> recv_slot;                 // slots owned here fed by other ranks' sources, by peer
    std::vector<int> send_count, send_offset, recv_count, recv_offset;  // per peer rank
  };
  static Route build(std::span<const Index> index, std::span<const int> source_rank,
                     std::span<const Index> first, std::span<const int> slot_rank, int rank, int ranks,
                     const std::vector<std::uint8_t>* keep);
  const Route& backward() const { return has_backward_ ? backward_ : forward_; }

  std::size_t slots_ = 0, sources_ = 0;
  int rank_ = 0, ranks_ = 1;
  Route forward_;
  // When a source feeds several slots, to_firms keeps the serial semantics (the last slot in
  // slot order wins) by routing back only from each source's last slot.
  Route backward_;
  bool has_backward_ = false;
};

// What a destination array holds from earlier calls of one routed copy: for every entry this
// rank writes, whether it holds a non-zero bit pattern. With it, to_markets writes only the
// entries that are non-zero now or were last time: the rest hold +0 already. Most offers stay
// exactly 0 month after month (86% of the million world's), and storing them, scattered over
// every market's slots, was most of the copy's time. The destination must not change between
// calls other than through them; a new or reset memo (or another plan or array) writes every
// entry once.
class RouteMemo {
 public:
  void reset() { valid_ = false; }
  // After a call: bit j (a word per 64 entries) is set iff the destination's entry j holds a
  // non-zero bit pattern, for every entry the plan writes on this rank (0 for the others). The
  // copy knows it for each entry it writes; readers of a mostly-zero destination visit only
  // those entries instead of reading all of it.
  std::span<const std::uint64_t> nonzero() const { return nonzero_; }

 private:
  friend class Exchange;
  std::vector<std::uint64_t> local_, received_;  // bit per local / received entry (received: per peer, word-aligned)
  std::vector<std::uint64_t> nonzero_;           // bit per destination entry (nonzero())
  // Forward, when each local source feeds one local slot (offers: a link has one slot), built
  // with the memo: the local pairs by windows of 64 consecutive sources from window_first_ —
  // which sources have a local slot (a bit each) and that slot (kNone for the others). The copy
  // reads a window's values as one stream, whatever share of them goes to other ranks; local_
  // then holds a bit per source of the windows.
  Index window_first_ = 0;
  std::vector<std::uint64_t> window_local_;
  std::vector<Index> window_slot_;  // 64 per window
  // When every sent source goes to one slot of one peer (always so on 2 ranks), in ascending
  // order: the windows also cover the sent sources (a bit each), so their segment is packed
  // from the window just read, visiting only the non-zero ones. On 2 ranks half of a rank's
  // links go to the other's markets, and packing them apart read them all again.
  std::vector<std::uint64_t> window_sent_;
  int sent_to_ = -1;
  // Builds the window members above (called by the memo'd copy when the memo is new).
  void index_windows(const std::vector<Index>& source, const std::vector<Index>& slot, const std::vector<Index>& sent,
                     const std::vector<int>& sent_offset, const std::vector<int>& sent_count);
  const RoutingPlan* plan_ = nullptr;
  const double* to_ = nullptr;
  std::size_t size_ = 0;
  bool valid_ = false;
};

// What allgather_owned's listed form wrote on this rank in its last call with the same arrays
// and owners: the other ranks' entries it received. A new or reset memo zeroes all of the
// other ranks' entries once; after that a call zeroes only the entries written last time.
class GatherMemo {
 public:
  void reset() { valid_ = false; }
  // The other ranks' entries the last call wrote (they listed): with this rank's own list, every
  // entry that may hold anything but +0.
  std::span<const Index> written() const { return written_; }

 private:
  friend class Exchange;
  std::vector<Index> written_;  // other ranks' entries written by the last call, in their order
  std::vector<const double*> arrays_;
  const int* owner_ = nullptr;
  std::size_t size_ = 0;
  bool valid_ = false;
};

// Everything this rank sent to / received from other ranks since the last reset (its own
// local copies are not counted).
struct ExchangeStats {
  std::uint64_t routed_calls = 0;  // to_markets / to_firms calls (a batched call counts once)
  std::uint64_t routed_bytes_sent = 0, routed_bytes_received = 0;
  std::uint64_t collective_calls = 0;  // allgather_owned, ordered_sum, agree_error, broadcast, ...
  std::uint64_t collective_bytes_sent = 0, collective_bytes_received = 0;
  double seconds = 0.0;  // wall time inside routed calls and collectives (waiting included)
};

// agree_error's verdict: the same on every rank.
struct ErrorAgreement {
  bool failed = false;
  int rank = -1;        // lowest failing rank, −1 if none
  std::string message;  // that rank's message
  bool stop = false;    // some rank asked to stop (agree_error's stop_here)
};

class Exchange {
 public:
  Exchange() = default;  // one rank, no MPI
  explicit Exchange(Communicator comm) : comm_(std::move(comm)) {}
  const Communicator& communicator() const { return comm_; }
  int rank() const { return comm_.rank(); }
  int ranks() const { return comm_.size(); }

  // ---- local copies without a plan (one rank)
  // to_market[j] = from_firm[index[j]] for every market-side slot j.
  void to_markets(std::span<const Index> index, std::span<const double> from_firm,
                  std::span<double> to_market) const;
  // to_firm[index[j]] = from_market[j].
  void to_firms(std::span<const Index> index, std::span<const double> from_market,
                std::span<double> to_firm) const;

  // ---- routed (collective: every rank calls with the same plan; arrays are global-size)
  // to_slot[j] = from_source[index[j]] for every slot j this rank owns; other entries untouched.
  void to_markets(const RoutingPlan& plan, std::span<const double> from_source, std::span<double> to_slot);
  // The same, writing only what may have changed since the last call with `memo` (RouteMemo):
  // the destination ends bit for bit as above.
  void to_markets(const RoutingPlan& plan, std::span<const double> from_source, std::span<double> to_slot,
                  RouteMemo& memo);
  // to_source[index[j]] = from_slot[j] for every source this rank owns (if several slots share
  // a source, the last in slot order wins, as in the serial loop); other entries untouched.
  void to_firms(const RoutingPlan& plan, std::span<const double> from_slot, std::span<double> to_source);
  // Several arrays through the same plan in one message: from[a] → to[a].
  void to_markets(const RoutingPlan& plan, std::span<const std::span<const double>> from,
                  std::span<const std::span<double>> to);
  void to_firms(const RoutingPlan& plan, std::span<const std::span<const double>> from,
                std::span<const std::span<double>> to);
  // Collective check that the ranks built matching plans (what each sends to a peer is what
  // the peer expects to receive). Throws InternalError on every rank if not.
  void verify(const RoutingPlan& plan);

  // ---- collectives (deterministic, same result on every rank)
  // values[e] (global size) was computed by owner[e]; afterwards every rank holds the owners'
  // values everywhere. The batched form moves all arrays in one message.
  void allgather_owned(std::span<double> values, std::span<const int> owner);
  void allgather_owned(std::span<const std::span<double>> arrays, std::span<const int> owner);
  // The same for sparse arrays: every entry this rank owns holds +0 in every array except
  // those listed (ids it owns, each once, in any order); only the listed entries travel.
  // Another rank's entries must change only through these calls with `memo` (GatherMemo).
  // Throws InternalError if a listed id is not this rank's. The million world's trade-pair
  // flows are 97% zero: sending them all, with a bit each, was most of the month's gathers.
  void allgather_owned(std::span<const std::span<double>> arrays, std::span<const int> owner,
                       std::span<const Index> listed, GatherMemo& memo);
  // Σ values[e] over e = 0, 1, …, n−1 in global id order, each entry taken from its owner,
  // added one by one from 0.0 like the serial loop: bit-identical for every rank count (the
  // values are gathered first; the sum is never split into per-rank partials).
  double ordered_sum(std::span<const double> values, std::span<const int> owner);
  std::vector<double> ordered_sums(std::span<const std::span<const double>> arrays, std::span<const int> owner);
  // Every rank's `mine`, concatenated in rank order, on every rank (variable lengths). With
  // firms in contiguous id ranges by rank, per-firm lists come out in global id order.
  std::vector<double> allgather_concat(std::span<const double> mine);
  // Element-wise minimum / maximum over ranks, in place. Exact, so order does not matter.
  void min_over_ranks(std::span<double> values);
  void max_over_ranks(std::span<double> values);
  // Whether any rank failed, with the lowest failing rank's message: lets every rank reach
  // the same verdict and report it once (no rank left waiting in a collective).
  // `stop_here` rides along (a rank that caught a signal): stop is set on every rank if any
  // rank asked, in the same all-reduce.
  ErrorAgreement agree_error(bool failed_here, const std::string& message, bool stop_here = false);
  // text from `root` to every rank.
  void broadcast(std::string& text, int root = 0);
  // Integer sums are exact, so their order does not matter (counters, sizes).
  std::int64_t sum_over_ranks(std::int64_t value);
  void barrier();

  const ExchangeStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  void extreme_over_ranks(std::span<double> values, bool maximum);
  // send_words_[0, sent) of every rank into recv_words_ in rank order; each rank's word count and
  // offset there; the total.
  std::size_t allgather_words(int sent, std::vector<int>& count, std::vector<int>& offset);
  void route(const RoutingPlan& plan, bool forward, std::span<const std::span<const double>> from,
             std::span<const std::span<double>> to, RouteMemo* memo = nullptr);

  Communicator comm_;
  ExchangeStats stats_;
  std::vector<std::uint64_t> send_words_, recv_words_;  // sparse segments, reused, grown on demand
  std::vector<int> counts_;                        // scratch: up to 4 × ranks
  // allgather_owned's entries per owning rank, for the few owner arrays a run uses (markets',
  // trade pairs'), each kept with a copy of its owner array: reused while the contents are equal.
  struct OwnerLists {
    std::vector<int> owner;
    std::vector<Index> ids;          // rank 0's entries ascending, then rank 1's, …
    std::vector<std::size_t> begin;  // per rank, into ids (ranks + 1)
  };
  std::vector<OwnerLists> owner_lists_;
  const OwnerLists& lists_for(std::span<const int> owner);
};

}  // namespace decouple
