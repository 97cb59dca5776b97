// The NCCL communicator on 2 ranks, each with its CUDA device; in the simulator build
// the NCCL calls go to cudasim's simulated NCCL over MPI, which checks them (device
// pointers, streams, the same call with the same count and type on every rank).
#include <catch2/catch.hpp>

#include "engine/dist/nccl_communicator.h"

#if ENGINE_HAS_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#include <memory>

using namespace engine;

namespace {

dist::Communicator& nccl() {
  static std::unique_ptr<dist::Communicator> c = dist::make_nccl(dist::world(), 0);
  return *c;
}

Device gpu() { return Device::cuda(0); }

int64_t rows_between(int from, int to) { return (from + 2 * to + 1) % 3; }

}  // namespace

TEST_CASE("nccl: the communicator has MPI's ranks and works on the device") {
  CHECK(nccl().backend() == "nccl");
  CHECK(nccl().size() == dist::world().size());
  CHECK(nccl().rank() == dist::world().rank());
  CHECK(nccl().buffer_device() == gpu());
}

TEMPLATE_TEST_CASE("nccl: all_reduce_sum of CUDA tensors", "", float, double) {
  int r = nccl().rank(), n = nccl().size();
  std::vector<TestType> v = {TestType(r + 1), TestType(-2), TestType(0.25 * r)};
  Tensor t = Tensor::from_data(v.data(), {3}, gpu());
  nccl().all_reduce_sum(t);
  CHECK(t.device() == gpu());
  std::vector<double> got = t.to_vector();
  CHECK(got[0] == Approx(n * (n + 1) / 2.0));
  CHECK(got[1] == Approx(-2.0 * n));
  CHECK(got[2] == Approx(0.25 * n * (n - 1) / 2.0));
}

TEST_CASE("nccl: broadcast and all_gather of CUDA tensors") {
  int r = nccl().rank(), n = nccl().size(), root = n - 1;
  std::vector<int64_t> v = {r * 10 + 1, r * 10 + 2};
  Tensor t = Tensor::from_data(v.data(), {2}, gpu());
  nccl().broadcast(t, root);
  CHECK(t.to_vector_as<int64_t>() == std::vector<int64_t>{root * 10 + 1, root * 10 + 2});
  std::vector<float> w = {float(r), float(r) + 0.5f};
  Tensor g = nccl().all_gather(Tensor::from_data(w.data(), {1, 2}, gpu()));
  REQUIRE(g.shape() == Shape{n, 2});
  CHECK(g.device() == gpu());
  std::vector<double> got = g.to_vector();
  for (int k = 0; k < n; ++k) {
    CHECK(got[size_t(2 * k)] == k);
    CHECK(got[size_t(2 * k + 1)] == k + 0.5);
  }
}

TEST_CASE("nccl: all_to_all of CUDA tensors with uneven counts, some zero (grouped send/recv)") {
  int r = nccl().rank(), n = nccl().size();
  std::vector<double> send;
  std::vector<int64_t> counts;
  for (int d = 0; d < n; ++d) {
    counts.push_back(rows_between(r, d));
    for (int64_t k = 0; k < counts.back(); ++k) send.push_back(100.0 * r + 10.0 * d + double(k));
  }
  Tensor t = send.empty() ? Tensor::empty({0}, DType::f64, gpu())
                          : Tensor::from_data(send.data(), {int64_t(send.size())}, gpu());
  std::vector<int64_t> from;
  Tensor got = nccl().all_to_all(t, counts, &from);
  std::vector<double> expected;
  for (int s = 0; s < n; ++s) {
    CHECK(from[size_t(s)] == rows_between(s, r));
    for (int64_t k = 0; k < rows_between(s, r); ++k) expected.push_back(100.0 * s + 10.0 * r + double(k));
  }
  CHECK(got.device() == gpu());
  CHECK(got.to_vector() == expected);
}

TEST_CASE("nccl: ranks that pass different counts get an error on every rank") {
  // A real NCCL would hang or corrupt memory; the simulated one compares the calls.
  Tensor t = Tensor::zeros({2 + nccl().rank()}, DType::f32, gpu());
  CHECK_THROWS_WITH(nccl().all_reduce_sum(t), Catch::Contains("ncclAllReduce failed"));
  nccl().barrier();
}

#if ENGINE_CUDA_SIM
TEST_CASE("nccl: the simulated NCCL refuses host memory, a bad peer and an unbalanced group") {
  nccl();  // initialised
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (dist::world().rank() == 0) REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
  Tensor bytes = Tensor::from_data(reinterpret_cast<const uint8_t*>(id.internal), {int64_t(sizeof id.internal)});
  dist::world().broadcast(bytes, 0);
  std::memcpy(id.internal, bytes.data_ptr(), sizeof id.internal);
  ncclComm_t comm = nullptr;
  REQUIRE(ncclCommInitRank(&comm, dist::world().size(), id, dist::world().rank()) == ncclSuccess);
  std::vector<float> host(4, 1.f);
  CHECK(ncclAllReduce(host.data(), host.data(), 4, ncclFloat32, ncclSum, comm, nullptr) == ncclInvalidArgument);
  Tensor t = Tensor::zeros({4}, DType::f32, gpu());
  CHECK(ncclSend(t.data_ptr(), 4, ncclFloat32, dist::world().size(), comm, nullptr) == ncclInvalidArgument);
  CHECK(ncclGroupEnd() == ncclInvalidUsage);
  // A unique id that was not broadcast: each rank makes its own.
  ncclUniqueId own;
  REQUIRE(ncclGetUniqueId(&own) == ncclSuccess);
  ncclComm_t other = nullptr;
  CHECK(ncclCommInitRank(&other, dist::world().size(), own, dist::world().rank()) == ncclInvalidArgument);
  CHECK(ncclCommDestroy(comm) == ncclSuccess);
}
#endif

#endif
