// GoogleTest main for tests that run under mpiexec (HPC_NOTES: a gtest binary under MPI must
// reduce its verdict across ranks, or rank 0 may print PASSED while another rank failed).
// Every rank runs every test; only rank 0 prints its report (other ranks print their own
// failures, with their rank); the exit status is 1 on every rank if any rank had a failure,
// so ctest sees the failure whichever rank it was. A fatal failure (ASSERT_*) returns from the
// test on that rank alone, and the others would wait for it in the test's next collective
// until ctest's timeout: that rank aborts the job instead (MPI_Abort ends every rank).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

namespace {
class RankFailures : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailures(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    if (rank_ != 0 || r.fatally_failed())
      std::fprintf(stderr, "rank %d: failure at %s:%d\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.message());
    if (r.fatally_failed()) {
      std::fprintf(stderr, "rank %d: fatal failure: aborting every rank (the others would wait for this one)\n", rank_);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }

 private:
  int rank_;
};
}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new RankFailures(rank));
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any && !failed) std::fprintf(stderr, "a test failed on another rank\n");
  MPI_Finalize();
  return any;
}
