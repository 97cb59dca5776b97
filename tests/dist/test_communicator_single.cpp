// The one-rank communicator: what every run without mpirun uses. Its collectives are
// the identity (all_gather and all_to_all copy), and it checks its arguments as the
// MPI one does.
#include <catch2/catch.hpp>

#include "engine/dist/communicator.h"

using namespace engine;

TEST_CASE("without a launcher the world is one rank") {
  if (dist::launched_by_mpi_launcher()) return;  // this binary runs alone in the suite
  CHECK(dist::world().size() == 1);
  CHECK(dist::world().rank() == 0);
  CHECK(dist::world().backend() == "single");
}

TEST_CASE("the one-rank collectives leave values as they are") {
  auto c = dist::make_single_process();
  std::vector<double> v = {1.5, -2, 3};
  Tensor t = Tensor::from_data(v.data(), {3});
  c->all_reduce_sum(t);
  CHECK(t.to_vector() == v);
  c->broadcast(t, 0);
  CHECK(t.to_vector() == v);
  Tensor g = c->all_gather(t.reshape({3, 1}));
  CHECK(g.shape() == Shape{3, 1});
  CHECK(g.to_vector() == v);
  std::vector<int64_t> from;
  Tensor a = c->all_to_all(t, {3}, &from);
  CHECK(a.to_vector() == v);
  CHECK(from == std::vector<int64_t>{3});
  c->barrier();
}

TEST_CASE("bad collective arguments are refused with the reason") {
  auto c = dist::make_single_process();
  Tensor t = Tensor::zeros({4, 2});
  CHECK_THROWS_WITH(c->all_to_all(t, {3}), Catch::Contains("send counts sum to 3 but the tensor has 4 rows"));
  CHECK_THROWS_WITH(c->all_to_all(t, {2, 2}), Catch::Contains("2 send counts for 1 ranks"));
  Tensor u = Tensor::zeros({2}, DType::u8);
  CHECK_THROWS_WITH(c->all_reduce_sum(u), Catch::Contains("give f32, f64 or i64"));
  CHECK_THROWS_WITH(c->broadcast(t, 1), Catch::Contains("root 1 is not a rank of 1"));
  Tensor undefined;
  CHECK_THROWS_WITH(c->all_reduce_sum(undefined), Catch::Contains("undefined"));
}
