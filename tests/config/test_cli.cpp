// apps/common/cli.h: numbers typed on a command line. (The apps themselves are run by
// tests/e2e/test_cli.cpp: the sanitizer build has no apps.)
#include "apps/common/cli.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("parse_int takes the whole text within its range, and says what it expected", "[config]") {
  int64_t v = 0;
  std::string error;
  CHECK(app::parse_int("42", 1, 100, &v, &error));
  CHECK(v == 42);
  CHECK(app::parse_int("-5", -10, 10, &v, &error));
  CHECK(v == -5);
  for (const char* bad : {"", "abc", "2x", " 3", "3 ", "1e3", "0x10", "101", "0", "99999999999999999999999"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(app::parse_int(bad, 1, 100, &v, &error));
    CHECK(error == "an integer in [1, 100], got '" + std::string(bad) + "'");
  }
}
