// A firm's shipments to its destination markets (DESIGN §3 "Behaviour").
//
// In market m the firm faces the published local inverse demand P = â − b̂·Q and its
// rivals' last shipments Q₋ᵢ, so A = â − b̂·Q₋ᵢ. With ad-valorem multiplier (1+t),
// per-unit base cost c − s − θ + τ + t_s, a shared marginal-cost increment μ (capacity
// shadow price λ plus k·Q_total for rising marginal cost) and an SOE's welfare weight w
// (it maximises w·W + (1−w)·π in its home market, W = total surplus; 0 elsewhere), the
// first-order condition gives
//   q_m(μ) = clamp((A − (1+t)·(base + μ)) / ((2 − w)·b̂), 0, cap_m).
// μ solves μ = λ + k·Σq(μ) with λ ≥ 0, Σq ≤ capacity, λ·(capacity − Σq) = 0 — the
// water-filling of DESIGN §3 — found exactly from the breakpoints of the piecewise-linear
// Σq(μ). A minimum output (an offtake contract's covered volume) may force μ below 0.
#pragma once

#include <limits>
#include <span>

namespace decouple {

struct LinkTerms {
  double intercept = 0.0;   // A = â − b̂·Q₋ᵢ
  double multiplier = 1.0;  // 1 + ad-valorem tariff
  double base_cost = 0.0;   // c (with inputs) − subsidy − θ + transport + specific tariff
  double slope = 1.0;       // (2 − w)·b̂ > 0
  double cap = std::numeric_limits<double>::infinity();  // export control / mandate bound
};

struct ShipmentPlan {
  double total = 0.0;   // Σ q*
  double mu = 0.0;      // marginal-cost increment at the solution
  double shadow = 0.0;  // λ: capacity shadow price (0 when capacity is slack)
};

// q*(μ) per link into `q`. `scratch` must hold 2·links.size() doubles.
ShipmentPlan best_response(std::span<const LinkTerms> links, double cost_slope, double capacity,
                           double min_output, std::span<double> q, std::span<double> scratch);

// Several firms' best responses at once, one firm per SIMD lane (AVX), their links by field
// and link-major (intercept[i][k]: lane k's link i), as a caller fills them without a copy.
// best_response_batch solves the lanes it can — each exactly as best_response solves it, bit
// for bit, q* into target[·][k] — and returns their bit mask; the others (a case the batch
// does not take, or no AVX on this CPU) are left to best_response (LinkTerms of lane k's link
// i: link(k, i)). A firm's search is one chain of dependent divisions; four firms' chains run
// side by side. adjust_batch then adjusts every lane from `previous` toward `target` exactly
// as adjust_shipments does (into `adjusted`, Σ into `planned`).
constexpr int kBatchLanes = 4;
struct FirmBatch {
  static constexpr std::size_t kMaxLinks = 16;
  alignas(32) double intercept[kMaxLinks][kBatchLanes];
  alignas(32) double multiplier[kMaxLinks][kBatchLanes];
  alignas(32) double base_cost[kMaxLinks][kBatchLanes];
  alignas(32) double slope[kMaxLinks][kBatchLanes];
  alignas(32) double cap[kMaxLinks][kBatchLanes];
  alignas(32) double previous[kMaxLinks][kBatchLanes];  // last month's plan (adjust_batch)
  alignas(32) double target[kMaxLinks][kBatchLanes];    // q* (best_response_batch)
  alignas(32) double adjusted[kMaxLinks][kBatchLanes];  // (adjust_batch)
  std::size_t links[kBatchLanes] = {};                  // per lane (0: empty)
  double cost_slope[kBatchLanes] = {}, capacity[kBatchLanes] = {}, min_output[kBatchLanes] = {};
  double planned[kBatchLanes] = {};  // Σ adjusted (adjust_batch)
  LinkTerms link(int k, std::size_t i) const {
    return {intercept[i][k], multiplier[i][k], base_cost[i][k], slope[i][k], cap[i][k]};
  }
  void set(int k, std::size_t i, const LinkTerms& l) {
    intercept[i][k] = l.intercept;
    multiplier[i][k] = l.multiplier;
    base_cost[i][k] = l.base_cost;
    slope[i][k] = l.slope;
    cap[i][k] = l.cap;
  }
};
// The batch pads short lanes' links in place (a lane left unsolved keeps its own).
unsigned best_response_batch(FirmBatch& batch, ShipmentPlan plan[kBatchLanes]);
// For the lanes in `lanes` (bit mask; the others are left as they are), each over its
// links[k] links. Needs AVX: give it only lanes best_response_batch solved.
void adjust_batch(FirmBatch& batch, unsigned lanes, double kappa);

// adjust_shipments below with the links' caps given alone.
double adjust_shipments(std::span<const double> previous, std::span<const double> target,
                        std::span<const double> caps, double kappa, double capacity, std::span<double> out);

// q_t = q_{t−1} + κ·(q* − q_{t−1}), then each link within its cap and the total within
// `capacity` (scaled down proportionally if a sudden capacity cut leaves it above).
// Returns the total.
double adjust_shipments(std::span<const double> previous, std::span<const double> target,
                        std::span<const LinkTerms> links, double kappa, double capacity,
                        std::span<double> out);

}  // namespace decouple
