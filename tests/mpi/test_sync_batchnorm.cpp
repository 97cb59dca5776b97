// Synchronised batch norm on 2 ranks, each holding half of the rows, equals batch norm
// of the whole batch in one process (f64): outputs, running statistics, the gradients
// of each rank's rows and, summed over the ranks, of gamma and beta.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/autograd/functions.h"
#include "engine/dist/sync_batchnorm.h"
#include "engine/ops/functional.h"

using namespace engine;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return ops::max(ops::maximum(ops::sub(a, b), ops::sub(b, a))).item();
}

}  // namespace

TEST_CASE("mpi: sync_batchnorm2d over the ranks' rows equals batch norm of the whole batch (f64)") {
  dist::Communicator& comm = dist::world();
  const int n = comm.size(), r = comm.rank();
  const int64_t rows = 3;                                         // per rank
  Tensor x = ops::randn({rows * n, 4, 3, 3}, 21, 0, DType::f64);  // the same on every rank
  Tensor res = ops::randn({rows * n, 4, 3, 3}, 21, 1000, DType::f64);
  Tensor seed = ops::randn({rows * n, 4, 3, 3}, 21, 2000, DType::f64);
  Tensor g = ops::randn({4}, 21, 3000, DType::f64), b = ops::randn({4}, 21, 3100, DType::f64);
  auto mine = [&](const Tensor& t) { return t.slice(0, r * rows, (r + 1) * rows).contiguous(); };
  Variable xs(mine(x), true), rs(mine(res), true), gs(g.clone(), true), bs(b.clone(), true);
  Tensor rm = Tensor::zeros({4}, DType::f64), rv = Tensor::ones({4}, DType::f64);
  Variable ys = dist::sync_batchnorm2d(comm, xs, rs, gs, bs, rm, rv, true, 0.1, 1e-5);
  ys.backward(mine(seed));
  Variable xw(x.clone(), true), rw(res.clone(), true), gw(g.clone(), true), bw(b.clone(), true);
  Tensor rm_w = Tensor::zeros({4}, DType::f64), rv_w = Tensor::ones({4}, DType::f64);
  Variable yw = ag::batchnorm2d_act(xw, rw, gw, bw, rm_w, rv_w, true, true, 0.1, 1e-5);
  yw.backward(seed);
  CHECK(max_abs_diff(ys.data(), mine(yw.data())) < 1e-10);
  CHECK(max_abs_diff(rm, rm_w) < 1e-12);
  CHECK(max_abs_diff(rv, rv_w) < 1e-12);
  CHECK(max_abs_diff(xs.grad(), mine(xw.grad())) < 1e-10);
  CHECK(max_abs_diff(rs.grad(), mine(rw.grad())) < 1e-10);
  Tensor dg = gs.grad().clone(), db = bs.grad().clone();
  comm.all_reduce_sum(dg);
  comm.all_reduce_sum(db);
  CHECK(max_abs_diff(dg, gw.grad()) < 1e-10);
  CHECK(max_abs_diff(db, bw.grad()) < 1e-10);
}
