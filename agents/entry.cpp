#include "agents/entry.hpp"

#include <algorithm>
#include <cmath>

namespace decouple {

double monthly_rate(double annual_rate) { return std::pow(1.0 + annual_rate, 1.0 / 12.0) - 1.0; }

double capital_recovery_factor(double rate, int periods) {
  if (rate == 0.0) return 1.0 / periods;
  return rate / (1.0 - std::pow(1.0 + rate, -periods));
}

double project_npv(double monthly_profit, double annual_rate, int lifetime_months, int build_lag) {
  const double r = monthly_rate(annual_rate);
  const double annuity = r == 0.0 ? lifetime_months
                                  : (1.0 - std::pow(1.0 + r, -lifetime_months)) / r;
  return monthly_profit * annuity * std::pow(1.0 + r, -build_lag);
}

double entrant_operating_profit(double price, double b, double unit_cost, double capacity) {
  if (price <= unit_cost || capacity <= 0.0) return 0.0;
  const double q = std::min(capacity, (price - unit_cost) / (2.0 * b));
  return q * (price - b * q - unit_cost);
}

double limit_price(double unit_cost, double b, double fixed_monthly) {
  return unit_cost + 2.0 * std::sqrt(b * std::max(fixed_monthly, 0.0));
}

double learning_multiplier(double cumulative, double scale, double progress_ratio, double floor,
                           bool* settled) {
  if (settled) *settled = false;
  if (progress_ratio >= 1.0 || scale <= 0.0 || cumulative <= scale) return 1.0;
  const double power = std::pow(cumulative / scale, std::log2(progress_ratio));
  if (settled) *settled = power < floor * (1.0 - 1e-12);  // pow errs by < 1 ulp
  return std::max(floor, power);
}

}  // namespace decouple
