#pragma once
// The simulator's own controls and findings, for its tests and for tools. The engine
// never includes this header: it sees only the CUDA API.
#include <cstdint>
#include <string>

namespace cudasim {

// Thread orders within a block (ENGINE_CUDASIM_SCHEDULE, seed in ENGINE_CUDASIM_SEED).
enum class Schedule { forward, reverse, random, run_ahead };
void set_schedule(Schedule s, uint64_t seed = 1);
Schedule schedule();
const char* schedule_name(Schedule s);

// The last report the simulator made (a fault, a bad argument), "" when none since
// clear_report().
std::string last_report();
void clear_report();

struct Stats {
  uint64_t launches = 0;       // kernels executed (graph replays included)
  uint64_t blocks = 0;         // blocks executed
  uint64_t threads = 0;        // simulated threads run to their end
  uint64_t fiber_threads = 0;  // of those, threads that ran as fibers (met a barrier or shuffle)
};
Stats stats();

}  // namespace cudasim
