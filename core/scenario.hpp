// The validated description of a run: plain structs, no TOML types.
// Built once by engine/config from TOML; the world state is built from it.
// Every reference is resolved to a dense index (region, good, firm) here, so
// nothing downstream looks up a string.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace decouple {

using Index = std::int32_t;
inline constexpr Index kNone = -1;

enum class Bloc : std::uint8_t { west = 0, china = 1, third = 2 };
enum class FirmKind : std::uint8_t { western = 0, soe = 1 };
enum class Rule : std::uint8_t { none = 0, reactive = 1, diversify = 2, reciprocal = 3 };
enum class ControlKind : std::uint8_t { none = 0, ban = 1, quota = 2, license = 3 };
enum class Instrument : std::uint8_t {
  tariff = 0,
  export_control,
  production_subsidy,
  investment_subsidy,
  price_floor,
  equity_stake,
  output_weight,
  underpricing,
  sourcing_mandate,
  truce,
  agreement,  // status of the reciprocal agreement (rules only: 1 in force, 0 suspended)
};

const char* to_string(Bloc);
const char* to_string(FirmKind);
const char* to_string(Rule);
const char* to_string(ControlKind);
const char* to_string(Instrument);
inline constexpr int kBlocCount = 3;

// [run]
struct RunSpec {
  std::string scenario;      // required
  int periods = 0;           // required, >= 1
  std::uint64_t seed = 0;    // required, >= 0
  std::string start;         // required, "YYYY-MM"
  int start_year = 0;        // parsed from start
  int start_month = 0;       // 1..12
  int burn_in = 0;           // months simulated before period 0 with policy frozen, not written
};

// [behaviour]
struct BehaviourSpec {
  double adjustment = 0.3;        // κ in (0, 1]: partial adjustment toward the best response
  double price_expectation = 0.2; // weight in (0, 1] of the adaptive price forecast entrants use
  double demand_window = 0.1;     // half-width of the finite-difference demand fit, share of price, (0, 1)
  double inventory_cover = 1.0;   // months of input use kept as buffer, >= 0 (goods may override)
  int exit_after = 12;            // months of negative trailing profit before a western firm exits, >= 1
  double uncertainty_premium = 0.0; // ρ in r = r0 + ρ·U, >= 0
  double investment_rate = 0.0;   // share of capacity added per month when λ > capital cost, [0, 1]
  double bid_spread = 0.5;        // s in [0, 1): input bids fall linearly from full at (1−s)·r to 0 at r
  // Largest rise of a market's price in one month, as a share of last month's price; at the
  // bound buyers are rationed pro rata (allocation under contracts). Infinite: no bound.
  double max_price_rise = std::numeric_limits<double>::infinity();
  // Price-sensitive restocking: the part of an input bid that rebuilds the buffer (beyond
  // next month's use not covered by the stock on hand) bids at most (1 + m)·the expected
  // input price. Infinite: the whole bid at the firm's reservation price.
  double restock_markup = std::numeric_limits<double>::infinity();
};

// [[region]]
struct RegionSpec {
  std::string id;
  Bloc bloc = Bloc::third;
};

struct InputCoef {
  Index good = kNone;
  double units = 0.0;  // > 0, units of input per unit of output
};

// [[good]]
struct GoodSpec {
  std::string id;
  std::string unit;                 // required, free text ("t", "units", "licences")
  std::vector<InputCoef> inputs;    // `inputs = { other = 0.4 }`, no self-reference, no cycle
  double transport_cost = 0.0;      // per unit shipped across regions, >= 0
  double progress_ratio = 1.0;      // learning: cost factor per doubling of cumulative output, (0, 1]
  double learning_floor = 0.5;      // lowest multiple of c0 learning can reach, (0, 1]
  std::optional<double> inventory_cover;  // months of this good buyers keep as input stock; unset → behaviour's
};

// [[market]] — the exogenous linear part P = a − b·Q of demand for (good, region)
struct MarketSpec {
  Index good = kNone;
  Index region = kNone;
  double a = 0.0;  // > 0: intercept (linear) or choke price (isoelastic)
  double b = 0.0;  // > 0 (linear)
  // Isoelastic (constant-elasticity) demand Q = quantity·(P/price)^−elasticity for P < a;
  // elasticity 0: linear.
  double elasticity = 0.0, price = 0.0, quantity = 0.0;
};

// [[route]] — transport cost for shipments origin → destination (optionally one good);
// overrides good.transport_cost.
struct RouteSpec {
  Index origin = kNone;
  Index destination = kNone;
  Index good = kNone;  // kNone: every good
  double cost = 0.0;   // >= 0
};

// [[firm]]
struct FirmSpec {
  std::string id;
  Index region = kNone;
  Index good = kNone;
  FirmKind kind = FirmKind::western;
  double marginal_cost = 0.0;   // >= 0, before inputs
  double cost_slope = 0.0;      // k >= 0: marginal cost rises by k per unit of output
  double capacity = 0.0;        // >= 0, units per month
  double fixed_cost = 0.0;      // >= 0, per month
  std::optional<double> output_weight;  // θ >= 0, soe only; unset → owner government's
  double welfare_weight = 0.0;  // soe only, λ in [0, 1]: in its home market it maximises λ·W + (1−λ)·π (W: total surplus)
  std::vector<Index> sells_to;  // non-empty, no duplicates
  bool price_taking = false;    // western only: sets price = marginal cost (a competitive fringe)
};

// [[entrant_pool]] — candidate projects that enter when NPV clears the hurdle
struct EntrantPoolSpec {
  std::string id;
  Index good = kNone;
  Index region = kNone;
  FirmKind kind = FirmKind::western;
  int candidates = 1;           // >= 1
  double capex = 0.0;           // >= 0, per project
  double capacity = 0.0;        // > 0, units per month
  double marginal_cost = 0.0;   // >= 0, median
  double cost_sigma = 0.0;      // >= 0, lognormal sigma of marginal cost across candidates
  double capex_sigma = 0.0;     // >= 0, lognormal sigma of ε (idiosyncratic capex factor)
  double fixed_cost = 0.0;      // >= 0, per month
  int build_lag = 0;            // months, >= 0
  double hurdle_rate = 0.08;    // r0, annual, >= 0
  int lifetime = 120;           // months, >= 1
  int first_period = 0;         // earliest period the pool is open, >= 0
  std::vector<Index> sells_to;  // non-empty
};

struct TariffSpec {
  Index good = kNone;
  Index exporter = kNone;       // origin region the importing government taxes
  double ad_valorem = 0.0;      // >= 0
  double specific = 0.0;        // >= 0, per unit
};

struct ExportControlSpec {
  Index good = kNone;
  Index partner = kNone;        // destination region
  ControlKind kind = ControlKind::ban;
  double quantity = 0.0;        // quota: units per month, >= 0
  double approval = 1.0;        // license: probability in [0, 1]
  int delay = 0;                // license: months, >= 0
};

struct SubsidySpec {
  Index good = kNone;
  double rate = 0.0;            // production: per unit output; investment/equity: share of capex in [0, 1]
};

struct PriceFloorSpec {
  Index good = kNone;
  double floor = 0.0;           // > 0
  double volume = 0.0;          // units per month covered, > 0
  int months = 0;               // duration, >= 1
  std::vector<Index> firms;     // firm indices; empty: every firm of the good in the region
};

struct UnderpricingSpec {
  Index good = kNone;
  Index market = kNone;         // destination region of the directive
  std::optional<double> limit_price;  // unset = "auto"
  double margin = 0.0;          // [0, 1)
};

struct SourcingMandateSpec {
  Index good = kNone;
  double min_allied_share = 0.0;  // [0, 1]
  bool ban_adversary = false;
};

// [government.reactive] — tit-for-tat across domains (DESIGN §4).
struct ReactiveSpec {
  std::vector<Index> rivals;         // regions whose actions it answers; empty: every region of the adversary bloc
  int lag = 1;                       // months between a rival's action and the answer, >= 0
  double tariff_ratio = 1.0;         // a rival's tariff rise of x is answered by ratio·x on its goods, >= 0
  std::vector<Index> leverage_goods; // goods it controls in answer to an export control
  ControlKind control = ControlKind::license;  // kind of answering control (ban | quota | license)
  double approval = 0.1;             // licence approval probability of the answer
  int delay = 1;                     // licence delay of the answer
  double quota = 0.0;                // quota of the answer (units/month)
  double pain_threshold = 0.02;      // share of its firms' output value lost to shortages …
  int pain_months = 2;               // … for this many months in a row triggers a truce offer
  double truce_tariff = 0.3;         // a truce rolls tariffs between the two back to at most this
  bool truce_lifts_controls = true;  // and lifts the controls each imposed on the other
  int truce_months = 12;             // no retaliation for this long after a truce
  double max_tariff = 1.25;          // answers never raise a tariff above this
  bool escalate = false;             // also answer the rival's answers (a spiral up to max_tariff)
  // Across domains from tariffs: a rival tariff rise to at least this rate is also answered with
  // controls on the leverage goods, lifted when the rival's tariff falls back under it (China's
  // April 2025 rare-earth licensing answered the US tariffs). Infinite: never.
  double control_above_tariff = std::numeric_limits<double>::infinity();
};

// [government.diversify] — a unilateral target on the adversary bloc's share of supply.
struct DiversifySpec {
  std::vector<Index> goods;          // goods whose supply to its own bloc it diversifies
  int start = 0;                     // first period the rule acts ("YYYY-MM" or index)
  double target = 0.4;               // adversary bloc's share of supply to own bloc, (0, 1]
  double hhi_target = 0.0;           // optional upper bound on HHI over origins (0: none)
  int review_every = 6;              // months between reviews, >= 1
  std::vector<Instrument> ladder{Instrument::investment_subsidy, Instrument::production_subsidy,
                                 Instrument::price_floor, Instrument::equity_stake,
                                 Instrument::tariff, Instrument::sourcing_mandate};
  double investment_subsidy_step = 0.1;  // share of capex per rung, cumulative, capped at 0.9
  double production_subsidy_step = 0.05; // share of the good's home price per rung
  double floor_premium = 0.3;        // floor = (1 + premium)·current home price
  double floor_volume = 0.1;         // covered volume: share of own bloc's supply of the good
  int floor_months = 120;
  double equity_step = 0.1;          // share of capex per rung, cumulative, capped at 0.9
  double tariff_step = 0.25;         // ad-valorem points on the adversary per rung
  double mandate_step = 0.1;         // minimum allied share per rung, capped at 1 − target
  bool thwart = false;               // answer the adversary's diversification of goods it dominates
  double thwart_margin = 0.05;       // underpricing below the entrants' break-even price
  double thwart_theta_step = 0.0;    // θ added to its SOEs at each thwarting answer (0: the good's price·0.05)
};

// [agreement] — the reciprocal, Article XXVIII-style agreement (DESIGN §4).
struct AgreementSpec {
  bool present = false;
  Index west = kNone, china = kNone;  // the two parties (regions)
  std::vector<Index> west_goods;      // the china bloc's share of supply to the west ≤ target
  std::vector<Index> china_goods;     // the west's share of supply to the china bloc ≤ target
  double target = 0.4;
  double hhi_target = 0.0;
  int start = 0;                      // period the agreement takes effect
  double sustain_level = 0.5;         // once met, instruments are scaled to this share
  int breach_months = 3;              // SOE sales below own cost this long = breach
  double monitor_tolerance = 0.05;    // … by more than this share of the cost θ and subsidies justify
};

// [[government]] — one per region at most; regions without one get rule = none and no instruments.
struct GovernmentSpec {
  Index region = kNone;
  Rule rule = Rule::none;
  ReactiveSpec reactive;
  DiversifySpec diversify;
  double output_weight = 0.0;   // θ for its SOEs, >= 0
  std::vector<TariffSpec> tariffs;
  std::vector<ExportControlSpec> export_controls;
  std::vector<SubsidySpec> production_subsidies;
  std::vector<SubsidySpec> investment_subsidies;
  std::vector<SubsidySpec> equity_stakes;
  std::vector<PriceFloorSpec> price_floors;
  std::vector<UnderpricingSpec> underpricing;
  std::vector<SourcingMandateSpec> sourcing_mandates;
};

// [[event]] — a scheduled change to one instrument (DESIGN §4).
struct EventSpec {
  int period = 0;               // from `at`: "YYYY-MM" or an integer period index
  Index government = kNone;
  Instrument instrument = Instrument::tariff;
  Index good = kNone;           // required except for truce and output_weight
  Index partner = kNone;        // tariff: exporter; export_control: destination;
                                // underpricing: market; truce: the other government
  ControlKind kind = ControlKind::none;           // export_control
  double ad_valorem = std::numeric_limits<double>::quiet_NaN();  // tariff, truce (NaN: unset)
  double specific = std::numeric_limits<double>::quiet_NaN();    // tariff
  double quantity = 0.0;        // export_control quota
  double approval = 1.0;        // export_control license
  int delay = 0;                // export_control license
  double rate = 0.0;            // production/investment subsidy, equity_stake share, output_weight θ
  double floor = 0.0;           // price_floor
  double volume = 0.0;          // price_floor
  int months = 0;               // price_floor
  std::optional<double> limit_price;  // underpricing; unset = auto
  double margin = 0.0;          // underpricing
  double share = 0.0;           // sourcing_mandate min_allied_share
  bool ban_adversary = false;   // sourcing_mandate
  bool lift = false;            // underpricing/sourcing_mandate/price_floor: remove instead of set
  std::string cause;            // free text carried into /panel/policy
};

// ---- Synthetic worlds (DESIGN §7): groups of regions and firms given by counts and
// distributions, generated from counter-based draws by engine/synthetic. Regions and their
// markets are few and are materialised into Scenario::regions / ::markets at load; group
// firms never become FirmSpecs (a million of them): they are drawn when the world is built.

// A value drawn per entity: a number (constant), uniform [low, high] or lognormal.
struct Distribution {
  enum class Kind : std::uint8_t { constant = 0, uniform = 1, lognormal = 2 };
  Kind kind = Kind::constant;
  double p1 = 0.0;  // constant: value; uniform: low; lognormal: median (> 0)
  double p2 = 0.0;  // uniform: high (>= low); lognormal: sigma (>= 0)
};

// One good's exogenous demand P = a − b·Q in every region of a region group.
struct GroupMarketSpec {
  Index good = kNone;
  Distribution a, b;  // values > 0
};

// [[region_group]]
struct RegionGroupSpec {
  std::string id;
  std::string prefix;                 // region k is "<prefix><k zero-padded to >= 4 digits>"
  int count = 0;                      // >= 1
  std::uint64_t seed = 0;             // default run.seed
  double bloc_share[kBlocCount] = {0.0, 0.0, 0.0};  // by Bloc, sum 1: exact counts by largest remainder
  std::vector<GroupMarketSpec> markets;
  Index first_region = 0;             // Scenario::regions index of its region 0 (after the listed ones)
  std::int64_t first_ordinal = 0;     // ordinal of its region 0 among all group regions (draw key)
  std::size_t first_market = 0;       // Scenario::markets index of its first market
};

// [[firm_group]]
struct FirmGroupSpec {
  std::string id;                     // firm i is named "<id>-<i zero-padded to >= 4 digits>"
  Index good = kNone;
  std::int64_t count = 0;             // >= 1
  std::uint64_t seed = 0;             // default run.seed
  std::vector<Index> homes;           // possible home regions, ascending (after the bloc filter)
  double soe_share = 0.0;             // share of SOEs among firms whose home is in the china bloc
  Distribution marginal_cost, cost_slope, capacity, fixed_cost;
  std::optional<Distribution> output_weight;  // θ of its SOEs; unset → owner government's
  int destinations_min = 1, destinations_max = 1;  // destinations per firm, home included
  std::int64_t first_ordinal = 0;     // ordinal of its firm 0 among all group firms (draw key)
};

// [output]
struct OutputSpec {
  bool market = true, trade = true, firm = true, government = true, policy = true;
  int every = 1;                // write market/trade/government rows every N periods, >= 1
  int firm_every = 1;           // write firm rows every N periods, >= 1
  int trade_every = 0;          // write trade rows every N periods; 0: follow `every`
  int deflate = 1;              // panels' deflate level 0..9 (0: uncompressed)
  int trade_period() const { return trade_every > 0 ? trade_every : every; }
};

// [ensemble] — Monte Carlo ensembles and sweeps (engine/design: replicate i → seed, point).
enum class Design : std::uint8_t { grid = 0, random = 1, latin_hypercube = 2, sobol = 3 };

// [[ensemble.parameter]]: a numeric key, by dotted name as --set accepts it, swept over
// bounds or a list of values.
struct EnsembleParameter {
  std::string key;
  bool integer = false;       // the key takes integers: values are whole numbers
  double min = 0.0, max = 0.0;  // bounds (when `values` is empty), min <= max
  std::vector<double> values;   // or a list
  int points = 0;               // grid over bounds: points per parameter, >= 2
};

struct EnsembleSpec {
  bool present = false;
  int replications = 0;         // N >= 1 (part of the design: the Latin hypercube's strata)
  std::uint64_t seed = 0;       // base seed; default run.seed
  Design design = Design::random;
  std::vector<EnsembleParameter> parameters;
};

struct Scenario {
  RunSpec run;
  BehaviourSpec behaviour;
  std::vector<RegionSpec> regions;
  std::vector<GoodSpec> goods;          // topologically sorted is NOT required; inputs are indices
  std::vector<MarketSpec> markets;
  std::vector<RouteSpec> routes;
  std::vector<FirmSpec> firms;
  std::vector<EntrantPoolSpec> entrant_pools;
  std::vector<GovernmentSpec> governments;
  std::vector<EventSpec> events;        // sorted by period, stable (file order within a period)
  AgreementSpec agreement;
  OutputSpec output;
  EnsembleSpec ensemble;
  std::vector<RegionGroupSpec> region_groups;  // their regions and markets are in regions/markets
  std::vector<FirmGroupSpec> firm_groups;      // their firms follow the listed firms and candidates
  std::string source_path;              // the top-level config file
  std::string resolved_toml;            // the fully resolved TOML text (bases merged, --set applied)
};

// "2024-01" + period → "2025-04"
std::string period_label(const RunSpec& run, int period);

}  // namespace decouple
