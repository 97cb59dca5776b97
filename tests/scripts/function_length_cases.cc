// Input of the test of scripts/check_function_length.sh (with --max 5): the functions
// marked LONG are over 5 lines, the others are not. Not compiled.
#include <string>

namespace demo {

// Braces in literals and comments do not count: { { {
const char* kText = R"({"a": {"b": 1}})";

int short_one(int x) {
  return x + '{';  // }
}

int long_one(int x) {  // LONG
  int y = x;
  y += 1;
  y += 2;
  y += 3;
  return y;
}

class Holder {
 public:
  void short_method() {
    auto f = [] { return 1; };
    f();
  }
  int long_method()  // LONG
      const {
    auto f = [](int v) {
      return v + 1;
    };
    return f(1);
  }
};

const int kTable[] = {
    1, 2, 3, 4, 5, 6, 7,
};

}  // namespace demo
