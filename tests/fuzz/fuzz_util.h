#pragma once
// Mutation fuzzing of the readers of user input: a seeded generator per case, byte and
// JSON-text mutations, and a runner that bounds each test by a case count and a
// wall-clock budget and fails with the offending case (seed, index, input) on anything
// but success or an engine::Error with a message.
//
// Switches (read once per test): ENGINE_FUZZ_SEED (default fixed), ENGINE_FUZZ_CASES
// (cases per test), ENGINE_FUZZ_SECONDS (budget per test), ENGINE_FUZZ_CASE (run only
// that case index, to reproduce a failure).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace engine::fuzz {

// splitmix64: small, fast and good enough to drive mutations.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  size_t below(size_t n) { return n == 0 ? 0 : size_t(next() % n); }
  bool chance(int percent) { return below(100) < size_t(percent); }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  uint64_t state_;
};

// Printable form of arbitrary bytes: \xNN for anything outside ASCII 0x20..0x7e (and
// for '\\'), cut after max_bytes with a note of the full length.
std::string hex_escape(const std::string& bytes, size_t max_bytes = 400);

// Number literals, some far outside what a double or an int64 holds, some not JSON.
const std::vector<std::string>& odd_numbers();
// JSON values of every type, including the names config enums take.
const std::vector<std::string>& odd_values();
// Byte sequences that are not valid UTF-8 (and escapes of lone surrogates).
const std::vector<std::string>& bad_utf8();
// Nesting: `[[[...` or `{"a":{"a":...`, balanced or not, around the bound and far past it.
std::string deep_nesting(Rng& rng);

// One random mutation of `in`; `others` are spliced in by some of them. json_aware
// mutations find number literals, values and strings in the text and replace them.
// `kind` picks one mutation (0..15), -1 any.
std::string mutate_once(Rng& rng, const std::string& in, const std::vector<std::string>& others, int kind = -1);
// One of the JSON-aware mutations only: a number, a value or a string replaced, nesting
// or a member inserted; the text mostly stays JSON.
std::string mutate_value(Rng& rng, const std::string& in);
// 1..max_steps mutations applied in sequence.
std::string mutate(Rng& rng, const std::string& in, const std::vector<std::string>& others, int max_steps = 3);

// Raised by a check on a successful result that does not hold: counts as a failure.
struct Violation {
  std::string what;
};

class FuzzRun {
 public:
  // `name` appears in the summary line and in failures; defaults are overridden by the
  // ENGINE_FUZZ_* switches.
  FuzzRun(std::string name, uint64_t stream, size_t default_cases, double default_seconds);
  ~FuzzRun();
  FuzzRun(const FuzzRun&) = delete;
  FuzzRun& operator=(const FuzzRun&) = delete;

  // Whether to run another case; advances the index and seeds rng() for it.
  bool next();
  Rng& rng() { return rng_; }
  size_t index() const { return index_; }
  uint64_t seed() const { return seed_; }

  // Runs `fn` on the case described by `input` (what is printed on a failure). Returns
  // true on success, false when `fn` threw an engine::Error with a non-empty message;
  // anything else is recorded as a failure of this case.
  bool run_case(const std::string& input, const std::function<void()>& fn);

  // Prints the summary (cases, successes, refusals, seconds) and reports the failures
  // through Catch2; the test fails when there is any.
  void finish();

  // A folder under the build tree for this process's scratch files (removed at exit).
  const std::string& scratch_dir() const { return scratch_; }

 private:
  void fail(const std::string& input, const std::string& why);

  std::string name_;
  uint64_t seed_, stream_;
  size_t max_cases_;
  double seconds_;
  long only_case_ = -1;
  size_t index_ = size_t(-1), ok_ = 0, refused_ = 0;
  double slowest_ = 0;
  size_t slowest_index_ = 0;
  Rng rng_{0};
  std::chrono::steady_clock::time_point start_;
  std::vector<std::string> failures_;
  std::vector<std::string> failure_kinds_;
  std::string scratch_;
};

}  // namespace engine::fuzz
