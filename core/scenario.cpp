#include "core/scenario.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"

namespace decouple {

const char* to_string(Bloc b) {
  switch (b) {
    case Bloc::west: return "west";
    case Bloc::china: return "china";
    case Bloc::third: return "third";
  }
  return "?";
}
const char* to_string(FirmKind k) { return k == FirmKind::soe ? "soe" : "western"; }
const char* to_string(Rule r) {
  switch (r) {
    case Rule::none: return "none";
    case Rule::reactive: return "reactive";
    case Rule::diversify: return "diversify";
    case Rule::reciprocal: return "reciprocal";
  }
  return "?";
}
const char* to_string(ControlKind k) {
  switch (k) {
    case ControlKind::none: return "none";
    case ControlKind::ban: return "ban";
    case ControlKind::quota: return "quota";
    case ControlKind::license: return "license";
  }
  return "?";
}
const char* to_string(Instrument i) {
  switch (i) {
    case Instrument::tariff: return "tariff";
    case Instrument::export_control: return "export_control";
    case Instrument::production_subsidy: return "production_subsidy";
    case Instrument::investment_subsidy: return "investment_subsidy";
    case Instrument::price_floor: return "price_floor";
    case Instrument::equity_stake: return "equity_stake";
    case Instrument::output_weight: return "output_weight";
    case Instrument::underpricing: return "underpricing";
    case Instrument::sourcing_mandate: return "sourcing_mandate";
    case Instrument::truce: return "truce";
    case Instrument::agreement: return "agreement";
  }
  return "?";
}

std::string period_label(const RunSpec& run, int period) {
  const int months = run.start_year * 12 + (run.start_month - 1) + period;
  const int year = months >= 0 ? months / 12 : (months - 11) / 12;
  const int month = months - year * 12 + 1;
  return fmt::format("{:04d}-{:02d}", year, month);
}

std::string Problem::format() const {
  return fmt::format("{}:{}:{}: {}: {}", file, line, column, key, message);
}

namespace {
std::string join(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) {
    if (!s.empty()) s += '\n';
    s += p.format();
  }
  return s;
}
}  // namespace

InputError::InputError(std::vector<Problem> problems)
    : std::runtime_error(join(problems)), problems_(std::move(problems)) {}

InputError::InputError(std::string file, std::string key, std::string message)
    : InputError(std::vector<Problem>{Problem{std::move(file), 0, 0, std::move(key), std::move(message)}}) {}

}  // namespace decouple
