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

// Several firms' best responses at once, one firm per SIMD lane (AVX): lane k's links are
// links[k], its q goes to q[k] (one per link) and its plan to plan[k]. Returns a bit mask of
// the lanes solved — each exactly as best_response solves it, bit for bit; the others (a case
// the batch does not take, or no AVX on this CPU) are left to best_response. A firm's search
// is one chain of dependent divisions; four firms' chains run side by side.
constexpr int kBatchLanes = 4;
unsigned best_response_batch(const std::span<const LinkTerms> links[kBatchLanes], const double cost_slope[kBatchLanes],
                             const double capacity[kBatchLanes], const double min_output[kBatchLanes],
                             const std::span<double> q[kBatchLanes], ShipmentPlan plan[kBatchLanes]);

// q_t = q_{t−1} + κ·(q* − q_{t−1}), then each link within its cap and the total within
// `capacity` (scaled down proportionally if a sudden capacity cut leaves it above).
// Returns the total.
double adjust_shipments(std::span<const double> previous, std::span<const double> target,
                        std::span<const LinkTerms> links, double kappa, double capacity,
                        std::span<double> out);

}  // namespace decouple
