// Variable::set_grad_ready_hook: backward() calls a leaf's hook once, when that leaf's
// gradient of the pass is complete, before the rest of the graph has run.
#include <map>

#include "test_util.h"

using namespace engine;
using testing::randn64;

TEST_CASE("grad-ready hooks fire once per leaf, with the complete gradient, early", "[grad]") {
  // w is used three times (twice near the loss, once at the start), a only at the start,
  // b only at the end; `unused` never reaches the loss.
  Variable w(randn64({4}, 1), true), a(randn64({4}, 2), true), b(randn64({4}, 3), true), unused(randn64({4}, 4), true);
  Variable h = ag::tanh(ag::mul(a, w));                // start
  Variable loss = ag::sum(ag::mul(ag::mul(h, w), b));  // end
  loss = ag::add(loss, ag::sum(ag::mul(w, w)));
  (void)ag::mul(unused, a);

  std::vector<std::string> fired;
  std::vector<std::vector<double>> at_fire;
  for (auto [name, v] : {std::pair<const char*, Variable*>{"w", &w}, {"a", &a}, {"b", &b}, {"unused", &unused}})
    v->set_grad_ready_hook([&fired, &at_fire, name, v] {
      fired.push_back(name);
      at_fire.push_back(v->grad().to_vector());
    });
  loss.backward();
  REQUIRE(fired.size() == 3);  // once each for w, a and b; never for unused
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < fired.size(); ++i) at[fired[i]] = i;
  REQUIRE(at.count("w") + at.count("a") + at.count("b") == 3);
  CHECK(at_fire[at["w"]] == w.grad().to_vector());  // nothing was added after the call
  CHECK(at_fire[at["a"]] == a.grad().to_vector());
  CHECK(at_fire[at["b"]] == b.grad().to_vector());
  CHECK(at["b"] < at["a"]);  // b, used last in forward, is ready before a
  CHECK_FALSE(unused.has_grad());

  // An empty function removes the hook; a non-leaf has none.
  for (Variable* v : {&w, &a, &b}) {
    v->set_grad_ready_hook({});
    v->zero_grad();
  }
  fired.clear();
  ag::sum(ag::mul(w, b)).backward();
  CHECK(fired.empty());
  Variable not_leaf = ag::mul(a, w);
  CHECK_THROWS_WITH(not_leaf.set_grad_ready_hook([] {}), Catch::Contains("only a leaf"));
}

// The checkpoint's inner backward adds to w before the outer pass is done with it.
TEST_CASE("grad-ready hooks: a parameter captured by a checkpoint fires once, complete", "[grad]") {
  Variable x(randn64({3, 5}, 5), true), w(randn64({3, 5}, 6), true);
  Variable y = ag::checkpoint([&](const std::vector<Variable>& xs) { return ag::tanh(ag::mul(xs[0], w)); }, {x}, {w});
  Variable loss = ag::add(ag::sum(ag::mul(y, w)), ag::sum(y));  // w also used outside
  int calls = 0;
  std::vector<double> at_fire;
  w.set_grad_ready_hook([&] {
    ++calls;
    at_fire = w.grad().to_vector();
  });
  loss.backward();
  CHECK(calls == 1);
  CHECK(at_fire == w.grad().to_vector());
}
