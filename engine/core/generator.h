#pragma once
// The default random stream for parameter initialisation and dropout: a seed and a
// Philox counter offset that advances by the number of values drawn. Construction
// order therefore fixes every initial weight for a given seed, on any device.
#include <cstdint>

namespace engine {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n counters (rounded up to a multiple of 4: one Philox block) and
  // returns the first.
  uint64_t take(uint64_t n) {
    uint64_t o = offset_;
    offset_ += (n + 3) / 4 * 4;
    return o;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // resets the default generator to (seed, 0)

}  // namespace engine
