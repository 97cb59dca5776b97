#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>

int main(int argc, char** argv) {
  // Quiet (the cases provoke faults on purpose, and check the reports themselves), and
  // out of the launch log that the register check reads: these kernels are not the
  // engine's. Both are read when the simulator first needs them, after this.
  setenv("ENGINE_CUDASIM_QUIET", "1", 1);
  unsetenv("ENGINE_CUDASIM_LAUNCH_LOG");
  return Catch::Session().run(argc, argv);
}
