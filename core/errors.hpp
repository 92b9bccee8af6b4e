// Error types, mapped to exit codes once, in main (DESIGN §8: 0 ok, 2 bad input, 1 internal).
// Nothing below main calls exit() or MPI_Abort for a user mistake.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace decouple {

// One problem in the user's input, already formatted as
// "file:line:column: key: what is wrong".
struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;
  std::string message;
  std::string format() const;
};

// Bad input (config, arguments, files): exit status 2. Carries every problem found.
class InputError : public std::runtime_error {
 public:
  explicit InputError(std::vector<Problem> problems);
  InputError(std::string file, std::string key, std::string message);
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// A broken invariant inside the model: exit status 1.
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace decouple
