// Mixture-of-experts kernels against naive loops: slot routing (MOE_ROUTE) with and
// without dropping, in both priorities, and the grouped GEMMs forward and backward.
#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

struct NaiveRoute {
  std::vector<int64_t> row_token, row_slot, row_expert, offsets, counts, dropped;
};

// The specification of moe_route written out directly.
NaiveRoute naive_route(const std::vector<int64_t>& idx, const std::vector<double>* prio, int64_t T, int64_t k,
                       int64_t E, int64_t capacity) {
  NaiveRoute r;
  r.offsets.push_back(0);
  std::vector<bool> kept(idx.size(), false);
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> slots;
    for (int64_t s = 0; s < T * k; ++s)
      if (idx[size_t(s)] == e) slots.push_back(s);
    r.counts.push_back(int64_t(slots.size()));
    // Rank: priority descending, then first choices before second ones, then token order.
    std::sort(slots.begin(), slots.end(), [&](int64_t a, int64_t b) {
      if (prio && (*prio)[size_t(a)] != (*prio)[size_t(b)]) return (*prio)[size_t(a)] > (*prio)[size_t(b)];
      int64_t ja = a % k, jb = b % k;
      return ja != jb ? ja < jb : a / k < b / k;
    });
    if (capacity >= 0 && int64_t(slots.size()) > capacity) slots.resize(size_t(capacity));
    std::sort(slots.begin(), slots.end());
    for (int64_t s : slots) {
      kept[size_t(s)] = true;
      r.row_token.push_back(s / k);
      r.row_slot.push_back(s);
      r.row_expert.push_back(e);
    }
    r.offsets.push_back(int64_t(r.row_slot.size()));
  }
  for (int64_t s = 0; s < T * k; ++s)
    if (!kept[size_t(s)]) r.dropped.push_back(s);
  return r;
}

// Random top-k style choices: k distinct experts per token, skewed toward low indices.
std::vector<int64_t> random_choices(int64_t T, int64_t k, int64_t E, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> idx;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> perm(static_cast<size_t>(E));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    if (rng() % 2) std::sort(perm.begin(), perm.end());  // skew: half the tokens pick 0, 1, ...
    for (int64_t j = 0; j < k; ++j) idx.push_back(perm[size_t(j)]);
  }
  return idx;
}

std::vector<int64_t> v64(const Tensor& t) { return t.to_vector_as<int64_t>(); }

Tensor i64(const std::vector<int64_t>& v, const Shape& s) {
  return Tensor::from_vector(std::vector<double>(v.begin(), v.end()), s, DType::i64);
}

void check_route(int64_t T, int64_t k, int64_t E, int64_t capacity, bool with_priority, uint64_t seed,
                 DType dtype = DType::f64) {
  INFO("T " << T << " k " << k << " E " << E << " capacity " << capacity << " priority " << with_priority);
  std::vector<int64_t> idx = random_choices(T, k, E, seed);
  // Priorities on a coarse grid, so that ties occur and their order is tested too.
  std::mt19937_64 rng(seed + 1);
  std::vector<double> prio;
  for (int64_t s = 0; s < T * k; ++s) prio.push_back(double(rng() % 5) / 4.0);
  Tensor pt = with_priority ? Tensor::from_vector(prio, {T, k}, dtype) : Tensor();
  ops::MoeRouteOutput got = ops::moe_route(i64(idx, {T, k}), pt, E, capacity);
  NaiveRoute want = naive_route(idx, with_priority ? &prio : nullptr, T, k, E, capacity);
  CHECK(v64(got.counts) == want.counts);
  CHECK(v64(got.offsets) == want.offsets);
  CHECK(v64(got.row_slot) == want.row_slot);
  CHECK(v64(got.row_token) == want.row_token);
  CHECK(v64(got.row_expert) == want.row_expert);
  CHECK(v64(got.dropped_slots) == want.dropped);
  CHECK(got.kept == int64_t(want.row_slot.size()));
  CHECK(got.dropped == int64_t(want.dropped.size()));
}

}  // namespace

TEST_CASE("moe_route matches the naive routing: dropless, capacity, priorities, ties", "[moe]") {
  check_route(1, 1, 1, -1, false, 1);
  check_route(13, 1, 4, -1, false, 2);
  check_route(13, 2, 4, -1, true, 3);
  check_route(17, 1, 4, ops::moe_capacity(1.0, 17, 1, 4), true, 4);
  check_route(17, 1, 4, ops::moe_capacity(1.0, 17, 1, 4), false, 5);
  check_route(31, 2, 5, ops::moe_capacity(1.25, 31, 2, 5), true, 6);
  check_route(31, 2, 5, ops::moe_capacity(0.5, 31, 2, 5), false, 7);
  check_route(64, 3, 8, ops::moe_capacity(1.0, 64, 3, 8), true, 8, DType::f32);
  check_route(9, 4, 4, 1, true, 9);    // k = E: every expert gets every token, keeps one
  check_route(20, 2, 6, 0, true, 10);  // capacity 0 drops everything
}

TEST_CASE("moe_route: dispatch invariants on random routings", "[moe]") {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const int64_t T = 5 + int64_t(seed * 7 % 50), k = 1 + int64_t(seed % 3), E = k + int64_t(seed % 6);
    const bool drop = seed % 2 == 0;
    const int64_t cap = drop ? ops::moe_capacity(0.75 + 0.25 * double(seed % 3), T, k, E) : -1;
    INFO("seed " << seed << " T " << T << " k " << k << " E " << E << " capacity " << cap);
    std::vector<int64_t> idx = random_choices(T, k, E, 100 + seed);
    Tensor prio = ops::rand_uniform({T, k}, seed, 0, DType::f32);
    ops::MoeRouteOutput r = ops::moe_route(i64(idx, {T, k}), prio, E, cap);
    std::vector<int64_t> off = v64(r.offsets), slot = v64(r.row_slot), tok = v64(r.row_token), ex = v64(r.row_expert),
                         dropped = v64(r.dropped_slots), counts = v64(r.counts);
    REQUIRE(off.size() == size_t(E + 1));
    CHECK(off.front() == 0);
    CHECK(off.back() == r.kept);
    std::set<int64_t> seen;
    for (int64_t e = 0; e < E; ++e) {
      CHECK(off[size_t(e)] <= off[size_t(e) + 1]);  // monotone (equal: an expert without tokens)
      int64_t n = off[size_t(e) + 1] - off[size_t(e)];
      CHECK(n == (drop ? std::min(counts[size_t(e)], cap) : counts[size_t(e)]));
      if (drop) CHECK(n <= cap);
      for (int64_t row = off[size_t(e)]; row < off[size_t(e) + 1]; ++row) {
        CHECK(ex[size_t(row)] == e);
        CHECK(idx[size_t(slot[size_t(row)])] == e);
        CHECK(tok[size_t(row)] == slot[size_t(row)] / k);
      }
    }
    for (int64_t s : slot) CHECK(seen.insert(s).second);  // each kept slot once
    for (int64_t s : dropped) CHECK(seen.insert(s).second);
    CHECK(int64_t(seen.size()) == T * k);  // kept and dropped partition the slots
    CHECK(std::accumulate(counts.begin(), counts.end(), int64_t(0)) == T * k);
    if (!drop) CHECK(r.dropped == 0);
  }
}

TEST_CASE("moe_route: probability priority keeps the most confident slots, order keeps first choices", "[moe]") {
  // Four tokens, k = 2, two experts, capacity 2 each.
  Tensor idx = i64({0, 1, 1, 0, 0, 1, 0, 1}, {4, 2});
  Tensor prio = Tensor::from_vector({0.5, 0.4, 0.6, 0.3, 0.9, 0.05, 0.55, 0.45}, {4, 2}, DType::f64);
  ops::MoeRouteOutput p = ops::moe_route(idx, prio, 2, 2);
  // Expert 0 holds slots 0 (0.5), 3 (0.3), 4 (0.9), 6 (0.55): keeps 4 and 6.
  // Expert 1 holds slots 1 (0.4), 2 (0.6), 5 (0.05), 7 (0.45): keeps 2 and 7.
  CHECK(v64(p.row_slot) == std::vector<int64_t>{4, 6, 2, 7});
  CHECK(v64(p.dropped_slots) == std::vector<int64_t>{0, 1, 3, 5});
  ops::MoeRouteOutput o = ops::moe_route(idx, Tensor(), 2, 2);
  // First choices: slots 0 (e0), 2 (e1), 4 (e0), 6 (e0): expert 0 keeps 0 and 4; expert 1
  // keeps 2 and then the earliest second choice, slot 1.
  CHECK(v64(o.row_slot) == std::vector<int64_t>{0, 4, 1, 2});
  CHECK(v64(o.offsets) == std::vector<int64_t>{0, 2, 4});
  CHECK(v64(o.counts) == std::vector<int64_t>{4, 4});
}

TEST_CASE("moe_route and moe_capacity reject bad input", "[moe]") {
  CHECK(ops::moe_capacity(1.0, 64, 1, 4) == 16);
  CHECK(ops::moe_capacity(1.25, 64, 2, 4) == 40);
  CHECK(ops::moe_capacity(1.0, 10, 1, 4) == 3);
  CHECK(ops::moe_capacity(0.01, 10, 1, 4) == 1);
  CHECK_THROWS_WITH(ops::moe_route(i64({0, 4}, {2, 1}), Tensor(), 4, -1), Catch::Contains("out of range [0, 4)"));
  CHECK_THROWS_WITH(ops::moe_route(i64({0, 1}, {1, 2}), Tensor(), 1, -1), Catch::Contains("k = 2"));
  CHECK_THROWS_WITH(ops::moe_route(Tensor::zeros({2, 1}), Tensor(), 4, -1), Catch::Contains("i64 [T, k]"));
  CHECK_THROWS_WITH(ops::moe_route(i64({0, 1}, {2, 1}), Tensor::zeros({1, 2}), 4, 1), Catch::Contains("priority"));
}

namespace {

// y rows of expert e = x rows times w[e], accumulated in double.
Tensor naive_grouped(const Tensor& x, const Tensor& w, const std::vector<int64_t>& off, bool transpose_w) {
  const int64_t R = x.size(0), E = w.size(0), in = x.size(1), out = transpose_w ? w.size(1) : w.size(2);
  std::vector<double> xv = x.to_vector(), wv = w.to_vector(), y(static_cast<size_t>(R * out), 0.0);
  const int64_t A = w.size(1), B = w.size(2);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = off[size_t(e)]; r < off[size_t(e) + 1]; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double acc = 0;
        for (int64_t i = 0; i < in; ++i)
          acc += xv[size_t(r * in + i)] *
                 (transpose_w ? wv[size_t((e * A + o) * B + i)] : wv[size_t((e * A + i) * B + o)]);
        y[size_t(r * out + o)] = acc;
      }
  return Tensor::from_vector(y, {R, out}, DType::f64);
}

}  // namespace

TEST_CASE("moe grouped matmul forward and backward match naive loops (empty experts, spare rows)", "[moe]") {
  for (DType dt : {DType::f64, DType::f32}) {
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    // Expert 1 and 4 receive no rows; rows 11..12 lie past offsets[E] (dropped padding).
    const std::vector<int64_t> off = {0, 3, 3, 8, 11, 11};
    const int64_t R = 13, E = 5, Cin = 7, Cout = 6;
    Tensor x = ops::randn({R, Cin}, 1, 0, dt), w = ops::randn({E, Cin, Cout}, 2, 0, dt),
           gy = ops::randn({R, Cout}, 3, 0, dt);
    Tensor offsets = i64(off, {E + 1});
    Tensor y = ops::moe_grouped_matmul(x, w, offsets);
    CHECK(normalized_error(y, naive_grouped(x, w, off, false)) < tol);
    Tensor gx = ops::moe_grouped_matmul_bwd_data(gy, w, offsets);
    CHECK(normalized_error(gx, naive_grouped(gy, w, off, true)) < tol);
    Tensor gw = ops::moe_grouped_matmul_bwd_weight(x, gy, offsets, E);
    std::vector<double> xv = x.to_vector(), gv = gy.to_vector(), want(static_cast<size_t>(E * Cin * Cout), 0.0);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t r = off[size_t(e)]; r < off[size_t(e) + 1]; ++r)
        for (int64_t i = 0; i < Cin; ++i)
          for (int64_t o = 0; o < Cout; ++o)
            want[size_t((e * Cin + i) * Cout + o)] += xv[size_t(r * Cin + i)] * gv[size_t(r * Cout + o)];
    CHECK(normalized_error(gw, Tensor::from_vector(want, {E, Cin, Cout}, DType::f64)) < tol);
    // The padding rows and the empty experts' gradients are exactly zero.
    for (double v : y.slice(0, 11, 13).to_vector()) CHECK(v == 0.0);
    for (double v : gx.slice(0, 11, 13).to_vector()) CHECK(v == 0.0);
    for (int64_t e : {1, 4})
      for (double v : gw.select(0, e).to_vector()) CHECK(v == 0.0);
  }
}

TEST_CASE("moe grouped matmul rejects bad offsets and shapes", "[moe]") {
  Tensor x = Tensor::zeros({4, 3}), w = Tensor::zeros({2, 3, 5});
  CHECK_THROWS_WITH(ops::moe_grouped_matmul(x, w, i64({0, 3, 2}, {3})), Catch::Contains("offsets decrease"));
  CHECK_THROWS_WITH(ops::moe_grouped_matmul(x, w, i64({1, 2, 3}, {3})), Catch::Contains("offsets[0]"));
  CHECK_THROWS_WITH(ops::moe_grouped_matmul(x, w, i64({0, 2, 5}, {3})), Catch::Contains("4 rows"));
  CHECK_THROWS_WITH(ops::moe_grouped_matmul(x, w, i64({0, 4}, {2})), Catch::Contains("offsets"));
  CHECK_THROWS_WITH(ops::moe_grouped_matmul(Tensor::zeros({4, 2}), w, i64({0, 2, 4}, {3})),
                    Catch::Contains("do not match"));
}
