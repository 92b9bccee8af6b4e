// Synthetic worlds (DESIGN §7): the regions, markets and firms of [[region_group]] and
// [[firm_group]] entries, as pure functions of the validated Scenario.
//
// Every value is a counter-based draw (core/rng) keyed by (group seed, ordinal, purpose =
// generator, field): the ordinal of a region among all group regions, or of a firm among all
// group firms (groups in file order). Nothing depends on visiting order, so any contiguous
// range [begin, end) of group firms is generated alone, in O(end − begin), with the same
// result as generating all of them — what a rank owning a slice of the firms needs.
// Keying by ordinal rather than by World id means adding a listed firm or an entrant pool
// does not change the synthetic world.
//
// World ids: listed regions, then group regions (file order); listed firms, entrant
// candidates, then group firms (file order). Regions and markets are few and the config loader
// materialises them into Scenario::regions/markets; group firms are appended to the World by
// build_world without ever becoming FirmSpecs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.hpp"
#include "core/scenario.hpp"

namespace decouple {

inline constexpr int kMaxSyntheticDestinations = 64;

// The value of `d` for the draw `key` (uniform01 for uniform, standard_normal for lognormal).
double sample(const Distribution& d, const Draw& key);
// Closed-form mean and median (tests and docs).
double distribution_mean(const Distribution& d);
double distribution_median(const Distribution& d);

// "<prefix><k>" with k zero-padded to max(4, digits of count − 1); `sep` between them if not 0.
std::string synthetic_name(std::string_view prefix, char sep, std::int64_t k, std::int64_t count);

// Every region of a region group (ids and blocs). Bloc counts are exact: largest-remainder
// apportionment of count·share, assigned to the regions in the order of one uniform draw each.
std::vector<RegionSpec> generate_regions(const RegionGroupSpec& g);
// Its markets: for each region k (ascending), one per good of g.markets (file order), with a
// and b drawn per (region, good). `first_region`: Scenario index of its region 0.
std::vector<MarketSpec> generate_markets(const RegionGroupSpec& g, Index first_region);

// One group firm, as drawn.
struct SyntheticFirm {
  Index group = kNone;          // Scenario::firm_groups index
  Index region = kNone, good = kNone;
  FirmKind kind = FirmKind::western;
  double marginal_cost = 0.0, cost_slope = 0.0, capacity = 0.0, fixed_cost = 0.0;
  double output_weight = 0.0;   // NaN: the owner government's θ
  int destination_count = 0;
  std::array<Index, kMaxSyntheticDestinations> destinations{};  // ascending, home included
};

// The group firms of a Scenario, in region-major order: the firms of region 0 (group by group,
// each group's in ordinal order), then those of region 1, …. A region's firms (all goods)
// have adjacent ids, so a rank's contiguous firm range holds whole regions: their input bids
// and home shipments stay with the rank that owns the region's markets (DESIGN §5). A firm's
// draws are keyed by its ordinal in its group, so the order changes ids, not firms.
//
// Construction is O(regions + markets + Σ homes): it copies the groups and region blocs (no
// reference to the Scenario is kept), tabulates each group's possible destinations (regions
// with a market for its good) and the (region, group) blocks of ids; firm(i) is
// O(log blocks + destinations²).
class SyntheticFirms {
 public:
  explicit SyntheticFirms(const Scenario& sc);

  // Ids [begin, begin + count) are ordinals [first, first + count) of `group`.
  struct Block {
    std::int64_t begin = 0, count = 0, first = 0;
    Index group = kNone;
    std::int64_t ordinal_of(std::int64_t i) const { return first + (i - begin); }
  };

  std::int64_t size() const { return total_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  Index group_of(std::int64_t i) const;
  // Its index among its group's firms (what its draws and name use).
  std::int64_t ordinal(std::int64_t i) const;
  SyntheticFirm firm(std::int64_t i) const;
  // "<group id>-<index in group>", e.g. "autos-000123".
  std::string name(std::int64_t i) const;

  // fn(i, firm) for i in [begin, end), ascending.
  template <class Fn>
  void generate(std::int64_t begin, std::int64_t end, Fn&& fn) const {
    for (std::int64_t i = begin; i < end; ++i) fn(i, firm(i));
  }

 private:
  std::vector<FirmGroupSpec> groups_;
  std::vector<Bloc> region_bloc_;
  std::int64_t total_ = 0;
  std::vector<Block> blocks_;                     // ascending begin, none empty
  const Block& block_of(std::int64_t i) const;
  std::vector<std::vector<Index>> destinations_;  // per group: regions with a market for its good
};

}  // namespace decouple
