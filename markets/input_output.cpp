#include "markets/input_output.hpp"

#include <Eigen/Dense>

#include "core/errors.hpp"

namespace decouple {

std::vector<double> leontief_inverse(int n, const std::vector<InputCoefficient>& a) {
  Eigen::MatrixXd m = Eigen::MatrixXd::Identity(n, n);
  for (const auto& c : a) m(c.input, c.output) -= c.units;
  Eigen::FullPivLU<Eigen::MatrixXd> lu(m);
  if (!lu.isInvertible()) throw InternalError("I - A is singular: the input structure cannot be solved");
  const Eigen::MatrixXd inv = lu.inverse();
  std::vector<double> out(static_cast<std::size_t>(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) out[static_cast<std::size_t>(i) * n + j] = inv(i, j);
  return out;
}

}  // namespace decouple
