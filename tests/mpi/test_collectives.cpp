// The communicator's collectives over MPI, with every rank's values known to every rank
// (rank r's values are made from r), so that each rank checks the exact result.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "engine/dist/communicator.h"

using namespace engine;

namespace {

dist::Communicator& comm() { return dist::world(); }

// Rows a rank sends another in the uneven all-to-all: 0, 1 or 2, so that some pairs
// exchange nothing.
int64_t rows_between(int from, int to) { return (from + 2 * to + 1) % 3; }

}  // namespace

TEST_CASE("mpi: the launcher's ranks form the world") {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  REQUIRE(n != nullptr);
  CHECK(comm().backend() == "mpi");
  CHECK(comm().size() == std::atoi(n));
  CHECK(comm().size() >= 2);
  CHECK(comm().rank() == std::atoi(std::getenv("OMPI_COMM_WORLD_RANK")));
}

TEMPLATE_TEST_CASE("mpi: all_reduce_sum adds every rank's tensor", "", float, double) {
  int r = comm().rank(), n = comm().size();
  std::vector<TestType> v = {TestType(r + 1), TestType(0.5 * r), TestType(-3), TestType(1e-3 * r)};
  Tensor t = Tensor::from_data(v.data(), {2, 2});
  comm().all_reduce_sum(t);
  std::vector<double> got = t.to_vector();
  double s = 0, tri = 0;
  for (int k = 0; k < n; ++k) {
    s += k + 1;
    tri += k;
  }
  CHECK(got[0] == Approx(s));
  CHECK(got[1] == Approx(0.5 * tri));
  CHECK(got[2] == Approx(-3.0 * n));
  CHECK(got[3] == Approx(1e-3 * tri));
}

TEST_CASE("mpi: all_reduce_sum of a strided view writes the sums back into the view") {
  std::vector<double> v = {1, 2, 3, 4, 5, 6};
  Tensor base = Tensor::from_data(v.data(), {2, 3});
  Tensor t = base.transpose(0, 1);  // not contiguous
  comm().all_reduce_sum(t);
  std::vector<double> got = base.to_vector();
  for (size_t i = 0; i < v.size(); ++i) CHECK(got[i] == v[i] * comm().size());
}

TEST_CASE("mpi: broadcast copies the root's tensor to every rank") {
  int root = comm().size() - 1;
  std::vector<int64_t> v = {comm().rank() * 10 + 1, comm().rank() * 10 + 2, 7};
  Tensor t = Tensor::from_data(v.data(), {3});
  comm().broadcast(t, root);
  CHECK(t.to_vector_as<int64_t>() == std::vector<int64_t>{root * 10 + 1, root * 10 + 2, 7});
  std::string s = comm().rank() == root ? "from the root" : "";
  comm().broadcast_string(s, root);
  CHECK(s == "from the root");
}

TEST_CASE("mpi: all_gather concatenates every rank's rows in rank order") {
  int r = comm().rank(), n = comm().size();
  std::vector<float> v = {float(r), float(r) + 0.25f, float(-r), 9.f};
  Tensor out = comm().all_gather(Tensor::from_data(v.data(), {2, 2}));
  REQUIRE(out.shape() == Shape{2 * n, 2});
  std::vector<double> got = out.to_vector();
  for (int k = 0; k < n; ++k) {
    CHECK(got[size_t(4 * k)] == k);
    CHECK(got[size_t(4 * k + 1)] == k + 0.25);
    CHECK(got[size_t(4 * k + 2)] == -k);
    CHECK(got[size_t(4 * k + 3)] == 9);
  }
}

TEST_CASE("mpi: all_to_all with uneven counts, some of them zero") {
  int r = comm().rank(), n = comm().size();
  // Rank r's rows for rank d: value 1000 r + 10 d + k (k-th row), in two columns (+0, +0.5).
  std::vector<double> send;
  std::vector<int64_t> counts;
  for (int d = 0; d < n; ++d) {
    counts.push_back(rows_between(r, d));
    for (int64_t k = 0; k < counts.back(); ++k) {
      send.push_back(1000.0 * r + 10.0 * d + double(k));
      send.push_back(1000.0 * r + 10.0 * d + double(k) + 0.5);
    }
  }
  int64_t total = int64_t(send.size()) / 2;
  Tensor t = total > 0 ? Tensor::from_data(send.data(), {total, 2}) : Tensor::empty({0, 2}, DType::f64);
  std::vector<int64_t> from;
  Tensor got = comm().all_to_all(t, counts, &from);
  std::vector<double> expected;
  for (int s = 0; s < n; ++s) {
    CHECK(from[size_t(s)] == rows_between(s, r));
    for (int64_t k = 0; k < rows_between(s, r); ++k) {
      expected.push_back(1000.0 * s + 10.0 * r + double(k));
      expected.push_back(1000.0 * s + 10.0 * r + double(k) + 0.5);
    }
  }
  REQUIRE(got.shape() == Shape{int64_t(expected.size()) / 2, 2});
  CHECK(got.to_vector() == expected);
}

TEST_CASE("mpi: an all_to_all whose counts do not match the rows is refused on every rank") {
  std::vector<int64_t> counts(size_t(comm().size()), 1);
  Tensor t = Tensor::zeros({int64_t(counts.size()) + 1, 3});
  CHECK_THROWS_WITH(comm().all_to_all(t, counts), Catch::Contains("send counts sum to"));
  comm().barrier();
}
