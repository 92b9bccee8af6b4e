#include "engine/decomposition.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <tuple>

#include "core/errors.hpp"
#include "engine/world.hpp"

namespace decouple {

namespace {

void validate(const DecompositionInput& in) {
  auto fail = [](const std::string& what) { throw InternalError("decompose: " + what); };
  if (in.ranks < 1) fail("ranks must be at least 1");
  if (in.regions < 0) fail("negative region count");
  if (in.market_region.size() != in.market_weight.size()) fail("market_region and market_weight differ in size");
  if (in.firm_region.size() != in.firm_work.size()) fail("firm_region and firm_work differ in size");
  if (!(in.tolerance >= 0.0)) fail("tolerance must be ≥ 0");
  if (in.firm_align < 1) fail("firm_align must be ≥ 1");
  for (std::size_t m = 0; m < in.market_region.size(); ++m) {
    if (in.market_region[m] < 0 || in.market_region[m] >= in.regions) fail("market " + std::to_string(m) + " has no valid region");
    if (in.market_weight[m] < 0) fail("market " + std::to_string(m) + " has a negative weight");
  }
  for (std::size_t f = 0; f < in.firm_region.size(); ++f) {
    if (in.firm_region[f] < 0 || in.firm_region[f] >= in.regions) fail("firm " + std::to_string(f) + " has no valid region");
    if (in.firm_work[f] < 0) fail("firm " + std::to_string(f) + " has negative work");
  }
}

}  // namespace

int Decomposition::rank_of_firm(Index firm) const {
  // The last rank whose range starts at or before `firm` (empty ranges share a start).
  const auto it = std::upper_bound(firm_begin.begin(), firm_begin.end() - 1, firm);
  return static_cast<int>(it - firm_begin.begin()) - 1;
}

std::vector<int> Decomposition::firm_rank() const {
  std::vector<int> owner(firms());
  for (int r = 0; r < ranks; ++r)
    std::fill(owner.begin() + firm_begin[r], owner.begin() + firm_begin[r + 1], r);
  return owner;
}

Decomposition decompose(const DecompositionInput& in) {
  validate(in);
  const int P = in.ranks;
  const auto F = static_cast<Index>(in.firm_region.size());
  Decomposition d;
  d.ranks = P;

  // Firm work prefix sums; with no work at all every firm counts 1 (balance by count).
  std::int64_t total = 0, max_work = 0;
  for (auto w : in.firm_work) total += w;
  std::vector<std::int64_t> work(F);
  for (Index f = 0; f < F; ++f) work[f] = total > 0 ? in.firm_work[f] : 1;
  std::vector<std::int64_t> prefix(F + 1, 0);
  for (Index f = 0; f < F; ++f) {
    prefix[f + 1] = prefix[f] + work[f];
    max_work = std::max(max_work, work[f]);
  }
  const std::int64_t W = prefix[F];
  // Distance of boundary b from rank r's balanced start r·W/P, scaled by P to stay integral.
  auto distance = [&](Index b, int r) {
    const std::int64_t x = prefix[b] * P - static_cast<std::int64_t>(r) * W;
    return x < 0 ? -x : x;
  };

  // 1. Balanced ranges: each boundary at the prefix nearest r·W/P (ties: lower id).
  std::vector<Index> begin(P + 1, 0);
  begin[P] = F;
  for (int r = 1; r < P; ++r) {
    Index b = begin[r - 1];
    while (b < F && distance(b + 1, r) < distance(b, r)) ++b;
    // prefix is monotone, so |prefix·P − r·W| is unimodal in b: the walk stops at the minimum.
    begin[r] = b;
  }

  // 2. Regions onto ranks, heaviest first (ties: lower id): onto the rank that holds most of
  // the region's firm work in the balanced ranges (ties: lower rank) if the region fits there
  // without taking that rank's market weight above the mean, else onto the least loaded rank
  // (ties: lower rank), as LPT. Either way a region goes where the load is at most the mean,
  // so no rank ends above W/P + the largest region. Where firms' homes run in blocks of ids
  // (synthetic worlds), every region lands with its firms: their home-market offers and all
  // their input bids stay on the rank.
  std::vector<std::int64_t> region_weight(in.regions, 0);
  for (std::size_t m = 0; m < in.market_region.size(); ++m) region_weight[in.market_region[m]] += in.market_weight[m];
  std::int64_t MW = 0;
  for (auto x : region_weight) MW += x;
  std::vector<std::int64_t> overlap(static_cast<std::size_t>(in.regions) * P, 0);
  for (int r = 0; r < P; ++r)
    for (Index f = begin[r]; f < begin[r + 1]; ++f) overlap[static_cast<std::size_t>(in.firm_region[f]) * P + r] += work[f];
  std::vector<Index> order(in.regions);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) { return region_weight[a] > region_weight[b]; });
  // A rank may take its firms' region up to a quarter of the largest region above the mean.
  const std::int64_t slack_weight = in.regions == 0 ? 0 : *std::max_element(region_weight.begin(), region_weight.end()) / 4;
  std::vector<std::int64_t> load(P, 0);  // per bin
  std::vector<int> bin(in.regions, 0);
  for (Index g : order) {
    const std::int64_t* o = overlap.data() + static_cast<std::size_t>(g) * P;
    const int pref = static_cast<int>(std::max_element(o, o + P) - o);  // first maximum
    int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    if (o[pref] > 0 && (load[pref] + region_weight[g]) * P <= MW + slack_weight * P) r = pref;
    bin[g] = r;
    load[r] += region_weight[g];
  }
  // Then the bins are given the rank labels that co-locate the most firm work (greedy
  // matching, largest first, ties by lower bin then lower rank): relabelling keeps the
  // market balance and recovers co-location where the heaviest region could not follow
  // its firms.
  std::vector<std::int64_t> bin_overlap(static_cast<std::size_t>(P) * P, 0);
  for (Index g = 0; g < in.regions; ++g)
    for (int r = 0; r < P; ++r) bin_overlap[static_cast<std::size_t>(bin[g]) * P + r] += overlap[static_cast<std::size_t>(g) * P + r];
  std::vector<std::tuple<std::int64_t, int, int>> pairs;
  for (int b = 0; b < P; ++b)
    for (int r = 0; r < P; ++r)
      if (bin_overlap[static_cast<std::size_t>(b) * P + r] > 0) pairs.emplace_back(bin_overlap[static_cast<std::size_t>(b) * P + r], b, r);
  std::sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) {
    if (std::get<0>(x) != std::get<0>(y)) return std::get<0>(x) > std::get<0>(y);
    return std::make_pair(std::get<1>(x), std::get<2>(x)) < std::make_pair(std::get<1>(y), std::get<2>(y));
  });
  std::vector<int> rank_of_bin(P, -1), bin_of_rank(P, -1);
  for (const auto& [c, b, r] : pairs)
    if (rank_of_bin[b] < 0 && bin_of_rank[r] < 0) {
      rank_of_bin[b] = r;
      bin_of_rank[r] = b;
    }
  for (int b = 0, r = 0; b < P; ++b) {  // bins without co-located work: the lowest free ranks
    if (rank_of_bin[b] >= 0) continue;
    while (bin_of_rank[r] >= 0) ++r;
    rank_of_bin[b] = r;
    bin_of_rank[r] = b;
  }
  d.region_rank.resize(in.regions);
  for (Index g = 0; g < in.regions; ++g) d.region_rank[g] = rank_of_bin[bin[g]];
  d.market_weight_of_rank.assign(P, 0);
  for (int b = 0; b < P; ++b) d.market_weight_of_rank[rank_of_bin[b]] = load[b];
  d.market_rank.resize(in.market_region.size());
  for (std::size_t m = 0; m < in.market_region.size(); ++m) d.market_rank[m] = d.region_rank[in.market_region[m]];

  // 3. Nudge each boundary, in rank order, within its window to co-locate the most work.
  // Window: |prefix·P − r·W| ≤ slack with slack = (tolerance/2)·W + max_work·P/2, never
  // empty (consecutive prefixes differ by ≤ max_work); hence every rank's work is within
  // W/P · (1 ± tolerance) ± max_work.
  const double slack = 0.5 * in.tolerance * static_cast<double>(W) + 0.5 * static_cast<double>(max_work) * P;
  auto home_rank = [&](Index f) { return d.region_rank[in.firm_region[f]]; };
  for (int r = 1; r < P; ++r) {
    Index lo = begin[r - 1];
    while (lo < F && static_cast<double>(distance(lo, r)) > slack && prefix[lo] * P < static_cast<std::int64_t>(r) * W) ++lo;
    Index hi = lo;
    while (hi < F && static_cast<double>(distance(hi + 1, r)) <= slack) ++hi;
    // score(b) = work in [lo, b) at home on r−1 + work in [b, hi) at home on r.
    std::int64_t score = 0;
    for (Index f = lo; f < hi; ++f)
      if (home_rank(f) == r) score += work[f];
    Index best = lo;
    std::int64_t best_score = score;
    for (Index b = lo; b < hi; ++b) {
      score += (home_rank(b) == r - 1 ? work[b] : 0) - (home_rank(b) == r ? work[b] : 0);
      const Index c = b + 1;
      if (score > best_score || (score == best_score && distance(c, r) < distance(best, r))) {
        best = c;
        best_score = score;
      }
    }
    begin[r] = best;
  }
  // 4. Round interior boundaries to the nearest multiple of firm_align (ties down), kept
  // non-decreasing.
  if (in.firm_align > 1)
    for (int r = 1; r < P; ++r) {
      const Index a = in.firm_align;
      const Index down = begin[r] / a * a;
      Index b = begin[r] - down > a / 2 ? std::min<Index>(down + a, F) : down;
      begin[r] = std::max(b, begin[r - 1]);
    }
  d.firm_begin = std::move(begin);

  d.firm_work_of_rank.assign(P, 0);
  for (int r = 0; r < P; ++r) {
    d.firm_work_of_rank[r] = prefix[d.firm_begin[r + 1]] - prefix[d.firm_begin[r]];
    for (Index f = d.firm_begin[r]; f < d.firm_begin[r + 1]; ++f)
      if (home_rank(f) == r) d.colocated_work += work[f];
  }
  return d;
}

Decomposition decompose(const World& w, int ranks, double tolerance, Index firm_align) {
  std::vector<std::int64_t> market_weight(w.markets), firm_work(w.firms);
  for (Index m = 0; m < w.markets; ++m)
    market_weight[m] = 1 + (w.offer_begin[m + 1] - w.offer_begin[m]) + (w.bid_begin[m + 1] - w.bid_begin[m]);
  for (Index f = 0; f < w.firms; ++f)
    firm_work[f] = 1 + (w.link_begin[f + 1] - w.link_begin[f]) + (w.slot_begin[f + 1] - w.slot_begin[f]);
  DecompositionInput in;
  in.ranks = ranks;
  in.regions = w.regions;
  in.market_region = w.market_region;
  in.market_weight = market_weight;
  in.firm_region = w.firm_region;
  in.firm_work = firm_work;
  in.tolerance = tolerance;
  in.firm_align = firm_align;
  return decompose(in);
}

std::vector<int> expand_owner(std::span<const int> begin, std::span<const int> row_rank) {
  if (begin.size() != row_rank.size() + 1) throw InternalError("expand_owner: begin must have one more entry than row_rank");
  std::vector<int> owner(begin.empty() ? 0 : static_cast<std::size_t>(begin.back()));
  for (std::size_t r = 0; r < row_rank.size(); ++r)
    std::fill(owner.begin() + begin[r], owner.begin() + begin[r + 1], row_rank[r]);
  return owner;
}

}  // namespace decouple
