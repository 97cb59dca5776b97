#include "fuzz_util.h"

#include <dlfcn.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>
#include <sstream>
#include <stdexcept>
#include <typeinfo>

#include "base/check.h"

namespace engine::fuzz {
namespace {

// The case being run, formatted before it runs, so that a crash can still name it.
char g_current_case[2048];
struct sigaction g_previous[32];

void print_current_case() {
  const char intro[] = "\nfuzz: the process died while running ";
  ssize_t ignored = ::write(2, intro, sizeof(intro) - 1);
  ignored = ::write(2, g_current_case, std::strlen(g_current_case));
  ignored = ::write(2, "\n", 1);
  (void)ignored;
}

void on_fatal_signal(int sig) {
  print_current_case();
  // Hand the signal on to whoever handled it before (Catch2, or the default action): a
  // fault recurs on return, the others are raised again.
  ::sigaction(sig, &g_previous[sig], nullptr);
  if (sig == SIGABRT || sig == SIGTERM || sig == SIGINT) ::raise(sig);
}

// Catch2 installs its own handlers around each test case: ours go on top of them for
// the run and hand each signal on to them.
// In sanitizer builds each runtime (GCC links AddressSanitizer and UBSan as two
// libraries) ends the process itself after a report; returns whether one was found.
bool set_sanitizer_death_callbacks() {
  using SetCallback = void (*)(void (*)(void));
  bool found = false;
  for (const char* lib : {"libasan.so.8", "libubsan.so.1", static_cast<const char*>(nullptr)}) {
    void* handle = lib ? ::dlopen(lib, RTLD_NOW | RTLD_NOLOAD) : RTLD_DEFAULT;
    if (!handle) continue;
    if (auto set = reinterpret_cast<SetCallback>(::dlsym(handle, "__sanitizer_set_death_callback"))) {
      set(print_current_case);
      found = true;
    }
  }
  return found;
}

bool sanitized() {
  static const bool s = set_sanitizer_death_callbacks();
  return s;
}

void install_crash_reporting() {
  // The sanitizers own the signals in their builds, and call us back instead.
  if (sanitized()) return;
  static char alt_stack[1 << 16];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof(alt_stack);
  ::sigaltstack(&ss, nullptr);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT}) {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, &g_previous[sig]);
  }
}

void remove_crash_reporting() {
  if (sanitized()) return;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT})
    ::sigaction(sig, &g_previous[sig], nullptr);
}

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v, &end, 0);
  if (*end != '\0') {
    std::cerr << "fuzz: ignoring " << name << "=" << v << " (not an integer)\n";
    return fallback;
  }
  return uint64_t(x);
}

std::string random_bytes(Rng& rng, size_t n) {
  static const std::string interesting = std::string("\0\xff\x80\x7f\"\\{}[],:.-+eE0123456789 \n\t", 27);
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += rng.chance(50) ? interesting[rng.below(interesting.size())] : char(rng.below(256));
  return s;
}

// Where a JSON value starting at `begin` ends (one past it), tolerating broken text.
size_t value_end(const std::string& s, size_t begin) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = begin; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1;
      }
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{')
      ++depth;
    else if (c == ']' || c == '}') {
      if (depth == 0) return i;
      if (--depth == 0) return i + 1;
    } else if (c == ',' && depth == 0)
      return i;
  }
  return s.size();
}

// Start offsets of values: after ':', '[' or ',' (skipping blanks).
std::vector<size_t> value_starts(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != ':' && s[i] != '[' && s[i] != ',') continue;
    size_t j = i + 1;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r')) ++j;
    if (j < s.size()) out.push_back(j);
  }
  return out;
}

// [begin, end) of each run of number characters.
std::vector<std::pair<size_t, size_t>> number_spans(const std::string& s) {
  std::vector<std::pair<size_t, size_t>> out;
  auto is_num = [](char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
  };
  for (size_t i = 0; i < s.size();) {
    if ((s[i] >= '0' && s[i] <= '9') || (s[i] == '-' && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9')) {
      size_t j = i + 1;
      while (j < s.size() && is_num(s[j])) ++j;
      out.emplace_back(i, j);
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

// Offsets just inside a string literal (after its opening quote).
std::vector<size_t> string_insides(const std::string& s) {
  std::vector<size_t> out;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (in_string && s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '"') {
      if (!in_string) out.push_back(i + 1);
      in_string = !in_string;
    }
  }
  return out;
}

std::string replace(const std::string& s, size_t b, size_t e, const std::string& with) {
  return s.substr(0, b) + with + s.substr(std::min(e, s.size()));
}

}  // namespace

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string hex_escape(const std::string& bytes, size_t max_bytes) {
  std::string out;
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size() && i < max_bytes; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  if (bytes.size() > max_bytes) out += "... (" + std::to_string(bytes.size()) + " bytes in all)";
  return out;
}

const std::vector<std::string>& odd_numbers() {
  static const std::vector<std::string> v = {"0",
                                             "-0",
                                             "-1",
                                             "1",
                                             "2",
                                             "3",
                                             "0.5",
                                             "-0.5",
                                             "1e3",
                                             "1.5",
                                             "2147483647",
                                             "2147483648",
                                             "-2147483649",
                                             "4294967296",
                                             "9223372036854775807",
                                             "9223372036854775808",
                                             "-9223372036854775808",
                                             "-9223372036854775809",
                                             "18446744073709551615",
                                             "18446744073709551616",
                                             "99999999999999999999999999",
                                             "1e308",
                                             "1.7976931348623157e308",
                                             "1e309",
                                             "1e999",
                                             "-1e999",
                                             "1e-999",
                                             "4.9e-324",
                                             "1e-400",
                                             "NaN",
                                             "nan",
                                             "-NaN",
                                             "Infinity",
                                             "-Infinity",
                                             "inf",
                                             "1e",
                                             "1.",
                                             ".5",
                                             "00",
                                             "01",
                                             "0x10",
                                             "+1",
                                             "--1",
                                             "1e+",
                                             std::string(400, '9'),
                                             "0." + std::string(400, '0') + "1",
                                             "1e" + std::string(30, '9')};
  return v;
}

const std::vector<std::string>& odd_values() {
  static const std::vector<std::string> v = {"null",
                                             "true",
                                             "false",
                                             "\"\"",
                                             "\"x\"",
                                             "\"cifar10\"",
                                             "\"fashion_mnist\"",
                                             "\"layer3\"",
                                             "\"head\"",
                                             "\"cuda:0\"",
                                             "\"cuda:999\"",
                                             "\"cuda:99999999999\"",
                                             "\"cpu\"",
                                             "\"auto\"",
                                             "\".\"",
                                             "\"..\"",
                                             "\"a/b\"",
                                             "\"adamw\"",
                                             "\"onecycle\"",
                                             "\"bf16\"",
                                             "\"f16\"",
                                             "\"attentive\"",
                                             "\"gelu\"",
                                             "\"order\"",
                                             "\"coarse\"",
                                             "[]",
                                             "[1]",
                                             "[0]",
                                             "[5]",
                                             "[-1]",
                                             "[1.5]",
                                             "[null]",
                                             "[1,2,3,4]",
                                             "[1,1]",
                                             "[\"layer3\",\"layer3\"]",
                                             "[\"layer1\",\"layer2\",\"layer3\",\"layer4\",\"head\"]",
                                             "[\"bogus\"]",
                                             "{}",
                                             "{\"a\":1}",
                                             "{\"init\":0}",
                                             "{\"crop_padding\":4}",
                                             "[[]]",
                                             "[{}]",
                                             "\"\\u0000\"",
                                             "\"\\ud800\"",
                                             "\"\\u00e9\"",
                                             "0",
                                             "1",
                                             "-1",
                                             "0.0",
                                             "1e999",
                                             "18446744073709551615",
                                             "-9223372036854775809"};
  return v;
}

const std::vector<std::string>& bad_utf8() {
  static const std::vector<std::string> v = {"\xff",
                                             "\xfe\xff",
                                             "\xc0\x80",
                                             "\xc3",
                                             "\xe2\x82",
                                             "\xed\xa0\x80",
                                             "\xf4\x90\x80\x80",
                                             "\xf8\x88\x80\x80\x80",
                                             "\x80\x80\x80",
                                             "\\ud800",
                                             "\\udc00\\ud800",
                                             "\\uZZZZ",
                                             "\\u12",
                                             "\\x41",
                                             "\\"};
  return v;
}

std::string deep_nesting(Rng& rng) {
  static const size_t depths[] = {62, 63, 64, 65, 66, 200, 5000, 100000};
  size_t depth = depths[rng.below(8)];
  bool balanced = rng.chance(70);
  std::string open, close;
  if (rng.chance(50)) {
    open = "[";
    close = "]";
  } else {
    open = "{\"a\":";
    close = "}";
  }
  std::string s;
  s.reserve(depth * (open.size() + close.size()) + 1);
  for (size_t i = 0; i < depth; ++i) s += open;
  s += rng.chance(50) ? "1" : "{}";
  if (balanced)
    for (size_t i = 0; i < depth; ++i) s += close;
  return s;
}

std::string mutate_value(Rng& rng, const std::string& in) {
  static const int kinds[] = {7, 9, 10, 11, 12, 13, 15};
  return mutate_once(rng, in, {}, kinds[rng.below(7)]);
}

std::string mutate_once(Rng& rng, const std::string& in, const std::vector<std::string>& others, int kind) {
  const size_t n = in.size();
  size_t pos = rng.below(n + 1);
  switch (kind >= 0 ? kind : int(rng.below(16))) {
    case 0: {  // flip a bit
      if (n == 0) break;
      std::string s = in;
      s[pos % n] = char(s[pos % n] ^ (1 << rng.below(8)));
      return s;
    }
    case 1: {  // set a byte
      if (n == 0) break;
      std::string s = in;
      s[pos % n] = random_bytes(rng, 1)[0];
      return s;
    }
    case 2:  // insert bytes
      return replace(in, pos, pos, random_bytes(rng, 1 + rng.below(16)));
    case 3:  // delete a span
      return replace(in, pos, pos + 1 + rng.below(rng.chance(80) ? 8 : 256), "");
    case 4: {  // duplicate a span somewhere
      size_t b = rng.below(n + 1), len = rng.below(rng.chance(80) ? 32 : n + 1);
      return replace(in, pos, pos, in.substr(b, len));
    }
    case 5:  // truncate
      return in.substr(0, pos);
    case 6: {  // splice with another input
      if (others.empty()) break;
      const std::string& o = rng.pick(others);
      return in.substr(0, pos) + o.substr(rng.below(o.size() + 1));
    }
    case 7:
    case 8: {  // a number literal replaced
      auto spans = number_spans(in);
      if (spans.empty()) break;
      auto [b, e] = rng.pick(spans);
      return replace(in, b, e, rng.pick(odd_numbers()));
    }
    case 9:
    case 10: {  // a value replaced by one of another type
      auto starts = value_starts(in);
      if (starts.empty()) break;
      size_t b = rng.pick(starts);
      return replace(in, b, value_end(in, b), rng.chance(85) ? rng.pick(odd_values()) : rng.pick(odd_numbers()));
    }
    case 11: {  // deep nesting in place of a value, or anywhere
      auto starts = value_starts(in);
      if (!starts.empty() && rng.chance(80)) {
        size_t b = rng.pick(starts);
        return replace(in, b, value_end(in, b), deep_nesting(rng));
      }
      return replace(in, pos, pos, deep_nesting(rng));
    }
    case 12: {  // a long string inside a string literal
      auto insides = string_insides(in);
      static const size_t lengths[] = {300, 4096, 70000, 1 << 20};
      std::string filler(lengths[rng.below(4)], char('a' + rng.below(26)));
      if (insides.empty()) return replace(in, pos, pos, "\"" + filler + "\"");
      size_t b = rng.pick(insides);
      return replace(in, b, b, filler);
    }
    case 13: {  // invalid UTF-8 or a broken escape inside a string
      auto insides = string_insides(in);
      size_t b = insides.empty() ? pos : rng.pick(insides);
      return replace(in, b, b, rng.pick(bad_utf8()));
    }
    case 14: {  // NUL bytes
      std::string nuls(1 + rng.below(4), '\0');
      auto insides = string_insides(in);
      size_t b = insides.empty() || rng.chance(30) ? pos : rng.pick(insides);
      return replace(in, b, b, nuls);
    }
    case 15: {  // a member duplicated: `"key": value` copied after a ','
      auto starts = value_starts(in);
      if (starts.empty()) break;
      size_t vb = rng.pick(starts);
      if (vb == 0 || in.find(':', vb - 1) != vb - 1) {
        size_t colon = in.rfind(':', vb);
        if (colon == std::string::npos) break;
        vb = colon + 1;
      }
      size_t kb = in.rfind('"', vb >= 2 ? in.rfind('"', vb - 2) : 0);
      if (kb == std::string::npos || kb >= vb) break;
      size_t ve = value_end(in, vb);
      std::string member = in.substr(kb, ve - kb);
      size_t comma = in.find(',', ve);
      if (comma == std::string::npos) break;
      return replace(in, comma + 1, comma + 1, member + ",");
    }
  }
  // The chosen mutation did not apply: fall back to inserting random bytes.
  return replace(in, pos, pos, random_bytes(rng, 1 + rng.below(4)));
}

std::string mutate(Rng& rng, const std::string& in, const std::vector<std::string>& others, int max_steps) {
  std::string s = in;
  int steps = 1 + int(rng.below(size_t(max_steps)));
  for (int i = 0; i < steps; ++i) s = mutate_once(rng, s, others);
  return s;
}

FuzzRun::FuzzRun(std::string name, uint64_t stream, size_t default_cases, double default_seconds)
    : name_(std::move(name)), stream_(stream) {
  seed_ = env_u64("ENGINE_FUZZ_SEED", 20260417);
  max_cases_ = size_t(env_u64("ENGINE_FUZZ_CASES", default_cases));
  seconds_ = double(env_u64("ENGINE_FUZZ_SECONDS", uint64_t(default_seconds)));
  if (const char* c = std::getenv("ENGINE_FUZZ_CASE"); c && *c) only_case_ = long(env_u64("ENGINE_FUZZ_CASE", 0));
  std::string tag;
  for (char c : name_) tag += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  scratch_ = std::string(ENGINE_BINARY_DIR) + "/fuzz_scratch_" + tag + "_" + std::to_string(::getpid());
  std::filesystem::create_directories(scratch_);
  install_crash_reporting();
  start_ = std::chrono::steady_clock::now();
}

FuzzRun::~FuzzRun() {
  remove_crash_reporting();
  std::error_code ec;
  std::filesystem::remove_all(scratch_, ec);
}

bool FuzzRun::next() {
  if (only_case_ >= 0) {
    if (index_ == size_t(only_case_)) return false;
    index_ = size_t(only_case_);
  } else {
    ++index_;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (index_ >= max_cases_ || elapsed >= seconds_ || failures_.size() >= 40) return false;
  }
  // Each case has its own stream, so that one case can be rerun alone (ENGINE_FUZZ_CASE).
  rng_ = Rng(seed_ ^ (stream_ * 0xd1b54a32d192ed03ull) ^ (uint64_t(index_) * 0x9e3779b97f4a7c15ull));
  rng_.next();
  return true;
}

void FuzzRun::fail(const std::string& input, const std::string& why) {
  // One report per kind of failure: the exception and the start of its message.
  std::string kind = why.substr(0, 60);
  for (const auto& k : failure_kinds_)
    if (k == kind) {
      failures_.push_back("");
      return;
    }
  failure_kinds_.push_back(kind);
  std::ostringstream o;
  o << name_ << ": case " << index_ << " (ENGINE_FUZZ_SEED=" << seed_ << " ENGINE_FUZZ_CASE=" << index_ << "): " << why
    << "\n  input (" << input.size() << " bytes): " << hex_escape(input, 600);
  failures_.push_back(o.str());
}

bool FuzzRun::run_case(const std::string& input, const std::function<void()>& fn) {
  std::snprintf(g_current_case, sizeof(g_current_case), "%s case %zu (ENGINE_FUZZ_SEED=%llu ENGINE_FUZZ_CASE=%zu): %s",
                name_.c_str(), index_, static_cast<unsigned long long>(seed_), index_, hex_escape(input, 300).c_str());
  if (only_case_ >= 0) std::cout << name_ << " case " << index_ << ", input: " << hex_escape(input, 4000) << "\n";
  auto t0 = std::chrono::steady_clock::now();
  bool ok = false;
  try {
    fn();
    ok = true;
    ++ok_;
  } catch (const Violation& v) {
    fail(input, "loaded, but " + v.what);
  } catch (const Error& e) {
    if (e.message().empty())
      fail(input, std::string("an engine::Error with an empty message (") + e.what() + ")");
    else
      ++refused_;
  } catch (const std::bad_alloc&) {
    fail(input, "std::bad_alloc escaped");
  } catch (const std::exception& e) {
    fail(input, std::string("a foreign exception escaped: ") + typeid(e).name() + ": " + e.what());
  } catch (...) {
    fail(input, "an exception of unknown type escaped");
  }
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (took > slowest_) {
    slowest_ = took;
    slowest_index_ = index_;
  }
  // A hang guard, not a speed test: a case that runs this long has stopped making progress.
  if (took > 60.0) fail(input, "took " + std::to_string(took) + " s (a reader must not hang on any input)");
  return ok;
}

void FuzzRun::finish() {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  size_t cases = only_case_ >= 0 ? 1 : index_;
  std::ostringstream summary;
  summary << "fuzz " << name_ << ": " << cases << " cases in " << elapsed << " s (seed " << seed_ << "): " << ok_
          << " loaded, " << refused_ << " refused with an error, " << failures_.size() << " failed; slowest case "
          << slowest_index_ << " took " << slowest_ << " s";
  std::cout << summary.str() << std::endl;
  std::string report;
  for (const auto& f : failures_)
    if (!f.empty()) report += f + "\n";
  if (!failures_.empty()) FAIL(summary.str() << "\n" << report);
}

}  // namespace engine::fuzz
