// Entry, learning and the limit price (DESIGN §3 "Entry", "Learning"; CALIBRATION §2, §4).
#pragma once

namespace decouple {

// (1 + r)^(1/12) − 1: the monthly rate equivalent to an annual rate r.
double monthly_rate(double annual_rate);
// r / (1 − (1 + r)^−n): per-period payment that repays 1 over n periods at rate r.
// CALIBRATION §2: 8% over 10 years = 0.14903.
double capital_recovery_factor(double rate, int periods);
// Present value at monthly rate r of `monthly_profit` earned in months lag+1 … lag+lifetime.
double project_npv(double monthly_profit, double annual_rate, int lifetime_months, int build_lag);

// An entrant's best monthly operating profit facing linear residual demand with slope b at
// the price p it expects with incumbents' output held fixed (the Sylos postulate):
// q = min(capacity, (p − c)/(2b)), profit = q·(p − b·q − c). Prices and costs in the same
// (tariff-exclusive) terms.
double entrant_operating_profit(double price, double b, double unit_cost, double capacity);

// The price at which that profit just covers a monthly fixed (capital + fixed) cost F:
// c + 2·√(b·F) (CALIBRATION §4: limit pricing, x_L = (a − c − 2√(bF))/b).
double limit_price(double unit_cost, double b, double fixed_monthly);

// c₀·max(floor, (cumulative/scale)^log2(progress_ratio)). If `settled` is given, it is set
// when the power is below the floor by more than rounding could undo: then the multiplier is
// `floor` for every larger cumulative output as well (the power falls as cumulative rises).
double learning_multiplier(double cumulative, double scale, double progress_ratio, double floor,
                           bool* settled = nullptr);

}  // namespace decouple
