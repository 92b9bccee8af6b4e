#include "engine/synthetic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

namespace decouple {
namespace {

// Draw.sub of each generated field. Region fields and firm fields never share a sub, so a
// region and a firm with the same ordinal never share a draw.
enum Field : std::uint32_t {
  kHome = 1,
  kKind = 2,
  kMarginalCost = 3,
  kCostSlope = 4,
  kCapacity = 5,
  kFixedCost = 6,
  kOutputWeight = 7,
  kDestinationCount = 8,
  kDestinationPick = 0x100,  // + step of the sample of destinations
  kRegionOrder = 0x10000,
  kMarket = 0x20000,         // + 2·good (a), + 2·good + 1 (b)
};

Draw key(std::uint64_t seed, std::int64_t ordinal, std::uint32_t field) {
  return Draw{seed, static_cast<std::uint64_t>(ordinal), 0, Purpose::generator, field};
}

// floor(u·n) in [0, n), for a uniform draw.
std::int64_t pick(const Draw& d, std::int64_t n) {
  const auto i = static_cast<std::int64_t>(uniform01(d) * static_cast<double>(n));
  return std::min(i, n - 1);
}

int digits(std::int64_t v) {
  int n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

}  // namespace

double sample(const Distribution& d, const Draw& k) {
  switch (d.kind) {
    case Distribution::Kind::constant: return d.p1;
    case Distribution::Kind::uniform: return d.p1 + (d.p2 - d.p1) * uniform01(k);
    case Distribution::Kind::lognormal: return d.p1 * std::exp(d.p2 * standard_normal(k));
  }
  return d.p1;
}

double distribution_mean(const Distribution& d) {
  switch (d.kind) {
    case Distribution::Kind::constant: return d.p1;
    case Distribution::Kind::uniform: return 0.5 * (d.p1 + d.p2);
    case Distribution::Kind::lognormal: return d.p1 * std::exp(0.5 * d.p2 * d.p2);
  }
  return d.p1;
}

double distribution_median(const Distribution& d) {
  return d.kind == Distribution::Kind::uniform ? 0.5 * (d.p1 + d.p2) : d.p1;
}

// "<prefix><sep><k, zero-padded to the width of count − 1, at least 4 digits>" (k ≥ 0). By
// hand, not fmt::format: /meta/firms names a million firms (0.1 s of a 1-rank run through fmt).
std::string synthetic_name(std::string_view prefix, char sep, std::int64_t k, std::int64_t count) {
  const int width = std::max(4, digits(std::max<std::int64_t>(count - 1, 0)));
  if (k < 0) return sep ? fmt::format("{}{}{:0{}}", prefix, sep, k, width) : fmt::format("{}{:0{}}", prefix, k, width);
  const int n = digits(k), pad = std::max(0, width - n);
  std::string out;
  out.resize(prefix.size() + (sep ? 1 : 0) + static_cast<std::size_t>(pad + n));
  char* p = std::copy(prefix.begin(), prefix.end(), out.data());
  if (sep) *p++ = sep;
  p = std::fill_n(p, pad, '0');
  for (char* d = p + n; d != p; k /= 10) *--d = static_cast<char>('0' + k % 10);
  return out;
}

std::vector<RegionSpec> generate_regions(const RegionGroupSpec& g) {
  const int n = g.count;
  // Exact bloc counts: largest remainder of n·share (ties: bloc order).
  int counts[kBlocCount];
  double frac[kBlocCount];
  int assigned = 0;
  for (int b = 0; b < kBlocCount; ++b) {
    const double exact = g.bloc_share[b] * n;
    counts[b] = static_cast<int>(std::floor(exact));
    frac[b] = exact - counts[b];
    assigned += counts[b];
  }
  int order_b[kBlocCount] = {0, 1, 2};
  std::stable_sort(order_b, order_b + kBlocCount, [&](int x, int y) { return frac[x] > frac[y]; });
  for (int i = 0; assigned < n; i = (i + 1) % kBlocCount) {
    if (g.bloc_share[order_b[i]] <= 0.0) continue;  // a bloc with share 0 gets no region
    ++counts[order_b[i]];
    ++assigned;
  }
  while (assigned > n) {  // rounding of shares summing to 1 + ε
    for (int b = kBlocCount - 1; b >= 0 && assigned > n; --b)
      if (counts[b] > 0) --counts[b], --assigned;
  }
  // Regions take blocs in the order of one uniform draw each.
  std::vector<double> u(n);
  for (int k = 0; k < n; ++k) u[k] = uniform01(key(g.seed, g.first_ordinal + k, kRegionOrder));
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return u[x] != u[y] ? u[x] < u[y] : x < y; });
  std::vector<RegionSpec> out(n);
  int pos = 0;
  for (int b = 0; b < kBlocCount; ++b)
    for (int c = 0; c < counts[b]; ++c) out[order[pos++]].bloc = static_cast<Bloc>(b);
  for (int k = 0; k < n; ++k) out[k].id = synthetic_name(g.prefix, 0, k, n);
  return out;
}

std::vector<MarketSpec> generate_markets(const RegionGroupSpec& g, Index first_region) {
  std::vector<MarketSpec> out;
  out.reserve(static_cast<std::size_t>(g.count) * g.markets.size());
  for (int k = 0; k < g.count; ++k) {
    const std::int64_t o = g.first_ordinal + k;
    for (const auto& m : g.markets) {
      const auto sub = static_cast<std::uint32_t>(kMarket + 2 * m.good);
      out.push_back(MarketSpec{m.good, first_region + k, sample(m.a, key(g.seed, o, sub)),
                               sample(m.b, key(g.seed, o, sub + 1))});
    }
  }
  return out;
}

SyntheticFirms::SyntheticFirms(const Scenario& sc) : groups_(sc.firm_groups) {
  for (const auto& r : sc.regions) region_bloc_.push_back(r.bloc);
  // Ordinal k of a group with H homes lives at home ⌊k·H/n⌋, so home h holds ordinals
  // [⌈h·n/H⌉, ⌈(h+1)·n/H⌉). Blocks ordered by (home region, group, h).
  struct Piece {
    Index region, group;
    std::int64_t h, first, count;
  };
  std::vector<Piece> pieces;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& g = groups_[gi];
    const auto H = static_cast<std::int64_t>(g.homes.size());
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t lo = (h * g.count + H - 1) / H, hi = ((h + 1) * g.count + H - 1) / H;
      if (hi > lo) pieces.push_back({g.homes[static_cast<std::size_t>(h)], static_cast<Index>(gi), h, lo, hi - lo});
    }
  }
  std::sort(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) {
    return std::tie(x.region, x.group, x.h) < std::tie(y.region, y.group, y.h);
  });
  for (const auto& p : pieces) {
    blocks_.push_back({total_, p.count, p.first, p.group});
    total_ += p.count;
  }
  for (const auto& g : sc.firm_groups) {
    std::vector<Index> d;
    for (const auto& m : sc.markets)
      if (m.good == g.good) d.push_back(m.region);
    std::sort(d.begin(), d.end());
    d.erase(std::unique(d.begin(), d.end()), d.end());
    destinations_.push_back(std::move(d));
  }
}

const SyntheticFirms::Block& SyntheticFirms::block_of(std::int64_t i) const {
  const auto it = std::upper_bound(blocks_.begin(), blocks_.end(), i,
                                   [](std::int64_t x, const Block& b) { return x < b.begin; });
  return *(it - 1);
}

Index SyntheticFirms::group_of(std::int64_t i) const { return block_of(i).group; }

std::int64_t SyntheticFirms::ordinal(std::int64_t i) const { return block_of(i).ordinal_of(i); }

std::string SyntheticFirms::name(std::int64_t i) const {
  const Block& b = block_of(i);
  const auto& g = groups_[b.group];
  return synthetic_name(g.id, '-', b.ordinal_of(i), g.count);
}

SyntheticFirm SyntheticFirms::firm(std::int64_t i) const {
  SyntheticFirm f;
  const Block& b = block_of(i);
  f.group = b.group;
  const auto& g = groups_[f.group];
  const std::int64_t k = b.ordinal_of(i);  // ordinal in the group
  const std::int64_t o = g.first_ordinal + k;
  const std::uint64_t s = g.seed;
  f.good = g.good;
  // Homes in contiguous blocks of ordinals (equal counts ±1), and ids region-major (above): a
  // region's firms have adjacent ids, so contiguous firm ranges per rank sit with their home
  // market's owner and the per-region sums run over few (chunk, region) pieces. (kHome stays
  // reserved in the key layout so other draws are unchanged.)
  const auto H = static_cast<std::int64_t>(g.homes.size());
  f.region = g.homes[static_cast<std::size_t>(k * H / g.count)];
  // SOEs only at home in the china bloc; the draw is made either way (fixed key layout).
  const bool soe_draw = uniform01(key(s, o, kKind)) < g.soe_share;
  f.kind = soe_draw && region_bloc_[f.region] == Bloc::china ? FirmKind::soe : FirmKind::western;
  f.marginal_cost = sample(g.marginal_cost, key(s, o, kMarginalCost));
  f.cost_slope = sample(g.cost_slope, key(s, o, kCostSlope));
  f.capacity = sample(g.capacity, key(s, o, kCapacity));
  f.fixed_cost = sample(g.fixed_cost, key(s, o, kFixedCost));
  f.output_weight = f.kind == FirmKind::soe && g.output_weight
                        ? sample(*g.output_weight, key(s, o, kOutputWeight))
                        : std::numeric_limits<double>::quiet_NaN();

  // Destinations: home plus `others` distinct regions with a market for the good, drawn
  // without replacement by Floyd's algorithm (one draw per pick, O(others²)).
  const auto& cand = destinations_[f.group];
  const auto hpos = static_cast<std::int64_t>(std::lower_bound(cand.begin(), cand.end(), f.region) - cand.begin());
  const bool home_in = hpos < static_cast<std::int64_t>(cand.size()) && cand[hpos] == f.region;
  const std::int64_t avail = static_cast<std::int64_t>(cand.size()) - (home_in ? 1 : 0);
  const int span = g.destinations_max - g.destinations_min + 1;
  const int total = g.destinations_min + static_cast<int>(pick(key(s, o, kDestinationCount), span));
  const auto others = static_cast<int>(std::min<std::int64_t>(total - 1, avail));
  std::array<std::int64_t, kMaxSyntheticDestinations> chosen{};
  int n = 0;
  for (std::int64_t j = avail - others; j < avail; ++j) {
    const std::int64_t t = pick(key(s, o, kDestinationPick + static_cast<std::uint32_t>(n)), j + 1);
    const bool seen = std::find(chosen.begin(), chosen.begin() + n, t) != chosen.begin() + n;
    chosen[n++] = seen ? j : t;
  }
  f.destinations[0] = f.region;
  for (int k = 0; k < n; ++k) {
    const std::int64_t x = chosen[k];
    f.destinations[k + 1] = cand[home_in && x >= hpos ? x + 1 : x];
  }
  f.destination_count = n + 1;
  std::sort(f.destinations.begin(), f.destinations.begin() + f.destination_count);
  return f;
}

}  // namespace decouple
