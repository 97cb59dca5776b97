// The tests of this folder run under mpirun (tests/CMakeLists.txt): every rank runs
// every test case, so each case calls the same collectives in the same order.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/dist/communicator.h"

int main(int argc, char** argv) {
  engine::dist::Session session(&argc, &argv);
  int failed = Catch::Session().run(argc, argv);
  // A failure on one rank must not leave the others waiting in a collective.
  if (failed) engine::dist::world().abort("rank " + std::to_string(engine::dist::world().rank()) + ": tests failed", 1);
  return 0;
}
