// Who owns what across MPI ranks (DESIGN §5), as a pure function: no MPI in here, so it is
// tested like any other function and every rank computes the same answer from the same
// (replicated) world.
//
// Firms are contiguous id ranges balanced by work. Markets are owned by destination region:
// every market of a region lives on one rank. Regions are placed heaviest first (ties by
// region id) onto the rank holding most of their firms' work in the balanced ranges when
// that keeps the rank's market weight at most the mean, otherwise onto the least loaded rank
// (ties by lowest rank) as in longest-processing-time packing; either way no rank's market
// weight exceeds total/P + the largest region. Region weights can be few and lumpy (4
// regions in the baseline), hence packing rather than contiguous region ranges; following
// the firms co-locates a region's markets with its firms wherever firms' homes run in blocks
// of ids (synthetic worlds: then every region is co-located). Each firm range boundary is
// finally moved inside a window of ±tolerance/2 of the mean work per rank to the position
// that co-locates the most firm work with its home region's market owner (ties: closest to
// the balanced position, then the lower id). Co-location saves the messages of a firm's
// home-market offers and all its input bids (bought at home).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/scenario.hpp"

namespace decouple {

struct World;

struct DecompositionInput {
  int ranks = 1;
  Index regions = 0;
  std::span<const Index> market_region;         // per market: destination region
  std::span<const std::int64_t> market_weight;  // per market: e.g. offer + bid slots (≥ 0)
  std::span<const Index> firm_region;           // per firm, in id order: home region
  std::span<const std::int64_t> firm_work;      // per firm: e.g. links + input slots (≥ 0)
  // Extra firm-work imbalance accepted to co-locate firms with their home region's owner:
  // each rank's work stays within mean·(1 ± tolerance) ± the largest single firm's work.
  double tolerance = 0.10;
  // Interior range boundaries are multiples of this (the fixed firm chunks the simulation's
  // reproducible sums run over must not straddle ranks); rounding moves a boundary by at
  // most align/2 firms, so each rank's work may move by up to align·(largest firm's work).
  Index firm_align = 1;
};

struct Decomposition {
  int ranks = 1;
  std::vector<int> region_rank;   // owner of every market of the region
  std::vector<int> market_rank;   // = region_rank[market_region[m]]
  std::vector<Index> firm_begin;  // size ranks + 1: rank r owns firms [firm_begin[r], firm_begin[r+1])
  // Balance and locality, for reports and tests.
  std::vector<std::int64_t> market_weight_of_rank, firm_work_of_rank;
  std::int64_t colocated_work = 0;  // firm work whose home region's markets are on the firm's rank

  Index firms() const { return firm_begin.empty() ? 0 : firm_begin.back(); }
  int rank_of_firm(Index firm) const;
  // Owner per firm (rank_of_firm for every id), the form the exchange plans take.
  std::vector<int> firm_rank() const;
};

// Throws InternalError on inconsistent input (sizes, region ids, negative weights, ranks < 1).
Decomposition decompose(const DecompositionInput& input);

// The world's own weights: a market weighs 1 + its offer and bid slots, a firm 1 + its links
// and input slots (the +1 is the per-entity work that exists even without traffic).
Decomposition decompose(const World& world, int ranks, double tolerance = 0.10, Index firm_align = 1);

// Owner of every entry of a CSR array whose rows have owners: entries begin[r]..begin[r+1]
// get row_rank[r]. E.g. links from link_begin and firm_rank(), offer slots from offer_begin
// and market_rank.
std::vector<int> expand_owner(std::span<const int> begin, std::span<const int> row_rank);

}  // namespace decouple
