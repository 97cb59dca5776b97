// Kernel execution: blocks one at a time on the launching host thread, each block's
// threads as fibers that run until they reach a barrier or a warp collective. The
// scheduler picks threads in the order ENGINE_CUDASIM_SCHEDULE names (forward,
// reverse, random, run-ahead), so that a missing barrier shows up as a wrong result
// under at least one order, and reports what a GPU would leave undefined: barriers
// reached by only part of a block or at different places, warp collectives whose
// mask names lanes that exited or never arrive, sources outside the mask, deadlock.
//
// A warp whose first thread finishes without meeting a barrier or a collective is
// "plain": its other lanes run as ordinary calls, without a fiber switch. A plain
// lane that then meets one reports it: the warp's first lane exited without it.
#include "exec.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

#include "cudasim/cudasim.h"
#include "cudasim/device.h"
#include "fiber.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

__thread cudasim::ThreadCtx* cudasim_thread = nullptr;
__thread cudasim::BlockCtx* cudasim_block = nullptr;

namespace cudasim {
namespace {

// A fault found inside a kernel: unwinds the simulated thread to its entry.
struct KernelAbort {
  std::string what;
};

constexpr size_t kStaticSharedLimit = 48 << 10;
constexpr size_t kSharedLimit = 227 << 10;  // per block, opt-in, on an H100

enum class State { fresh, ready, barrier, warp, done };
enum class WarpOp { shfl, ballot, syncwarp };
enum class WarpClass { unknown, plain, fiber };

struct SimThread : ThreadCtx {
  State state = State::fresh;
  bool plain = false, synced = false;
  int warp = 0, lane = 0;
  void* sp = nullptr;
  FiberStack stack{};
  bool has_stack = false;
  const char* file = nullptr;
  int line = 0;
  WarpOp op = WarpOp::shfl;
  ShflKind kind = ShflKind::idx;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
};

// Everything one host thread needs while it runs a launch.
// The collective a warp's lanes are gathering at: who arrived, where, with which mask.
struct WarpGather {
  unsigned arrived = 0;  // lanes parked at it
  const char* file = nullptr;
  int line = 0;
  WarpOp op = WarpOp::shfl;
  unsigned mask = 0;
};

struct Exec {
  const LaunchConfig* cfg = nullptr;
  Schedule sched = Schedule::forward;  // read once per launch
  std::vector<std::array<WarpGather, 4>> gather;
  KernelBody* body = nullptr;
  BlockCtx block{};
  std::vector<SimThread> th;
  std::vector<WarpClass> warp_class;
  int nthreads = 0, nwarps = 0;
  void* sched_sp = nullptr;
  std::string error;
  int error_thread = -1;
  int completed_warp = -1;
  StackPool stacks;
  std::vector<char> arena;
  uint64_t launch_id = 0;
  size_t static_base = 0, static_used = 0;
  std::mt19937_64 rng;
  std::vector<int> order;
  std::vector<FiberStack> dirty;  // stacks of abandoned fibers
#if defined(__SANITIZE_ADDRESS__)
  const void* host_stack_bottom = nullptr;
  size_t host_stack_size = 0;
#endif
};

__thread Exec* t_exec = nullptr;

Exec& exec_state() {
  static thread_local Exec e;
  return e;
}

std::atomic<uint64_t> g_launch_ids{1};
std::atomic<uint64_t> g_launches{0}, g_blocks{0}, g_threads{0}, g_fiber_threads{0};

struct ScheduleSetting {
  Schedule s = Schedule::forward;
  uint64_t seed = 1;
  ScheduleSetting() {
    if (const char* v = std::getenv("ENGINE_CUDASIM_SCHEDULE")) {
      std::string n(v);
      if (n == "forward" || n.empty())
        s = Schedule::forward;
      else if (n == "reverse")
        s = Schedule::reverse;
      else if (n == "random")
        s = Schedule::random;
      else if (n == "run-ahead" || n == "run_ahead")
        s = Schedule::run_ahead;
      else {
        std::fprintf(stderr,
                     "cudasim: ENGINE_CUDASIM_SCHEDULE=%s is not a thread order; expected forward, reverse, random "
                     "or run-ahead\n",
                     v);
        std::exit(2);
      }
    }
    if (const char* v = std::getenv("ENGINE_CUDASIM_SEED")) {
      char* end = nullptr;
      seed = std::strtoull(v, &end, 10);
      if (end == v || *end != '\0') {
        std::fprintf(stderr, "cudasim: ENGINE_CUDASIM_SEED=%s is not an unsigned integer\n", v);
        std::exit(2);
      }
    }
  }
};
ScheduleSetting& schedule_setting() {
  static ScheduleSetting s;
  return s;
}

std::string dim_str(const uint3& d) {
  std::ostringstream o;
  o << "(" << d.x << "," << d.y << "," << d.z << ")";
  return o.str();
}

SimThread& current(const char* what, const char* file, int line) {
  if (t_exec == nullptr || cudasim_thread == nullptr) {
    std::ostringstream o;
    o << what << " called outside a kernel at " << file << ":" << line;
    report(o.str());
    std::abort();
  }
  return *static_cast<SimThread*>(cudasim_thread);
}

std::string site(const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  return std::string(base ? base + 1 : file) + ":" + std::to_string(line);
}

[[noreturn]] void abort_thread(const std::string& what) { throw KernelAbort{what}; }

// Leaves the running fiber for the scheduler; returns when the scheduler resumes it.
void yield_to_scheduler(SimThread& t, bool final_exit) {
  Exec& e = *t_exec;
#if defined(__SANITIZE_ADDRESS__)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(final_exit ? nullptr : &fake, e.host_stack_bottom, e.host_stack_size);
  cudasim_switch(&t.sp, e.sched_sp);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  (void)final_exit;
  cudasim_switch(&t.sp, e.sched_sp);
#endif
}

// Runs the kernel body as thread t; a fault it reports ends the thread and the launch.
void run_body(Exec& e, SimThread& t) {
  try {
    e.body->run_thread();
  } catch (const KernelAbort& a) {
    e.error = a.what;
    e.error_thread = t.linear;
  }
  t.state = State::done;
}

void fiber_main(void* arg) {
  SimThread& t = *static_cast<SimThread*>(arg);
  Exec& e = *t_exec;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(nullptr, &e.host_stack_bottom, &e.host_stack_size);
#endif
  run_body(e, t);
  yield_to_scheduler(t, true);
  std::abort();  // never resumed
}

// Runs thread t until it blocks or ends.
void run_thread(Exec& e, SimThread& t) {
  cudasim_thread = &t;
  if (t.state == State::fresh) {
    WarpClass& wc = e.warp_class[size_t(t.warp)];
    if (wc == WarpClass::plain) {
      t.plain = true;
      t.state = State::ready;
      run_body(e, t);
      g_threads.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    t.stack = e.stacks.take();
    t.has_stack = true;
    t.sp = fiber_prepare(t.stack, &fiber_main, &t);
    t.state = State::ready;
  }
#if defined(__SANITIZE_ADDRESS__)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, t.stack.base, t.stack.size);
  cudasim_switch(&e.sched_sp, t.sp);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  cudasim_switch(&e.sched_sp, t.sp);
#endif
  cudasim_thread = nullptr;
  if (t.state == State::done) {
    g_threads.fetch_add(1, std::memory_order_relaxed);
    g_fiber_threads.fetch_add(1, std::memory_order_relaxed);
    WarpClass& wc = e.warp_class[size_t(t.warp)];
    if (wc == WarpClass::unknown) wc = t.synced ? WarpClass::fiber : WarpClass::plain;
    e.stacks.give(t.stack);
    t.has_stack = false;
  } else if (t.synced) {
    e.warp_class[size_t(t.warp)] = WarpClass::fiber;
  }
}

bool runnable(const SimThread& t) { return t.state == State::fresh || t.state == State::ready; }

std::string thread_name(Exec& e, int linear) { return "thread " + dim_str(e.th[size_t(linear)].tid); }

// Nothing can run: release a barrier that every live thread waits at, or explain why
// the block can go no further. Returns false (with e.error set) on a fault.
bool resolve(Exec& e) {
  int live = 0, at_barrier = 0, first_barrier = -1, first_done = -1;
  for (SimThread& t : e.th) {
    if (t.state == State::done) {
      if (first_done < 0) first_done = t.linear;
      continue;
    }
    ++live;
    if (t.state == State::barrier) {
      ++at_barrier;
      if (first_barrier < 0) first_barrier = t.linear;
    }
  }
  if (live == 0) return true;
  // Reached once per barrier of every block: the messages are built only for a fault.
  if (at_barrier == live) {
    SimThread& f = e.th[size_t(first_barrier)];
    for (SimThread& t : e.th)
      if (t.state == State::barrier && (t.line != f.line || (t.file != f.file && std::strcmp(t.file, f.file) != 0))) {
        std::ostringstream o;
        o << "divergent barrier: " << thread_name(e, f.linear) << " waits at __syncthreads " << site(f.file, f.line)
          << " while " << thread_name(e, t.linear) << " waits at __syncthreads " << site(t.file, t.line);
        e.error = o.str();
        e.error_thread = t.linear;
        return false;
      }
    if (first_done >= 0) {
      std::ostringstream o;
      o << "divergent barrier: __syncthreads at " << site(f.file, f.line) << " is reached by " << live << " of "
        << e.nthreads << " threads; " << thread_name(e, first_done) << " exited without reaching it";
      e.error = o.str();
      e.error_thread = f.linear;
      return false;
    }
    for (SimThread& t : e.th) t.state = State::ready;
    return true;
  }
  // Deadlock: name the first warp collective that cannot complete, and why.
  std::ostringstream o;
  for (SimThread& t : e.th) {
    if (t.state != State::warp) continue;
    for (int l = 0; l < 32; ++l) {
      if (!(t.mask >> l & 1u)) continue;
      int other = t.warp * 32 + l;
      SimThread& u = e.th[size_t(other)];
      if (u.state == State::warp && u.line == t.line && std::strcmp(u.file, t.file) == 0) continue;
      o << "warp collective at " << site(t.file, t.line) << " with mask 0x" << std::hex << t.mask << std::dec
        << " can never complete: lane " << l << " (" << thread_name(e, other) << ") ";
      if (u.state == State::done)
        o << "exited without reaching it";
      else if (u.state == State::barrier)
        o << "waits at __syncthreads " << site(u.file, u.line);
      else
        o << "waits at another warp collective " << site(u.file, u.line);
      e.error = o.str();
      e.error_thread = t.linear;
      return false;
    }
  }
  o << "deadlock: " << at_barrier << " of " << live << " live threads wait at a barrier, the rest at warp collectives";
  e.error = o.str();
  e.error_thread = first_barrier;
  return false;
}

void fill_order(Exec& e) {
  const int n = e.nthreads;
  e.order.resize(size_t(n));
  const Schedule s = e.sched;
  for (int i = 0; i < n; ++i) e.order[size_t(i)] = s == Schedule::reverse ? n - 1 - i : i;
  if (s == Schedule::random) std::shuffle(e.order.begin(), e.order.end(), e.rng);
}

// Runs thread i, then, under run-ahead, the warp whose collective it completed.
void step(Exec& e, SimThread& t) {
  e.completed_warp = -1;
  run_thread(e, t);
  if (e.sched != Schedule::run_ahead) return;
  while (e.error.empty() && e.completed_warp >= 0) {
    const int w = e.completed_warp;
    e.completed_warp = -1;
    for (int l = 0; l < 32 && e.error.empty(); ++l) {
      const int i = w * 32 + l;
      if (i >= e.nthreads) break;
      if (runnable(e.th[size_t(i)])) run_thread(e, e.th[size_t(i)]);
    }
  }
}

bool run_block(Exec& e) {
  for (;;) {
    bool progressed = false;
    fill_order(e);
    for (int i : e.order) {
      SimThread& t = e.th[size_t(i)];
      while (runnable(t)) {
        step(e, t);
        progressed = true;
        if (!e.error.empty()) return false;
      }
    }
    if (!progressed && !resolve(e)) return false;
    bool all_done = true;
    for (SimThread& t : e.th) all_done = all_done && t.state == State::done;
    if (all_done) return true;
  }
}

void abandon_fibers(Exec& e) {
  for (SimThread& t : e.th)
    if (t.has_stack) {
      e.dirty.push_back(t.stack);
      t.has_stack = false;
    }
  for (FiberStack& s : e.dirty) {
#if defined(__SANITIZE_ADDRESS__)
    __asan_unpoison_memory_region(s.base, s.size);
#endif
    e.stacks.give(s);
  }
  e.dirty.clear();
}

std::mutex g_log_mu;
std::map<std::string, unsigned>* g_launch_log = nullptr;

// ENGINE_CUDASIM_PROFILE=1: launches, simulated threads and seconds per kernel at exit.
struct KernelProfile {
  uint64_t launches = 0, threads = 0;
  double seconds = 0;
};
std::map<std::string, KernelProfile>* g_profile = nullptr;

std::string base_name(const char* name) {
  std::string n(name);
  size_t lt = n.find('<');
  if (lt != std::string::npos) n = n.substr(0, lt);
  size_t c = n.rfind("::");
  if (c != std::string::npos) n = n.substr(c + 2);
  while (!n.empty() && n.back() == ' ') n.pop_back();
  return n;
}

void write_launch_log() {
  const char* path = std::getenv("ENGINE_CUDASIM_LAUNCH_LOG");
  if (!path || !path[0] || !g_launch_log) return;
  std::lock_guard<std::mutex> lock(g_log_mu);
  FILE* f = std::fopen(path, "a");
  if (!f) return;
  for (auto& [k, v] : *g_launch_log) std::fprintf(f, "%s %u\n", k.c_str(), v);
  std::fclose(f);
}

void write_profile() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::vector<std::pair<std::string, KernelProfile>> rows(g_profile->begin(), g_profile->end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.seconds > b.second.seconds; });
  std::fprintf(stderr, "cudasim profile: %-60s %10s %14s %10s\n", "kernel", "launches", "threads", "seconds");
  for (auto& [k, p] : rows)
    std::fprintf(stderr, "cudasim profile: %-60s %10llu %14llu %10.3f\n", k.c_str(), (unsigned long long)p.launches,
                 (unsigned long long)p.threads, p.seconds);
}

bool profiling() {
  static const bool on = [] {
    const char* v = std::getenv("ENGINE_CUDASIM_PROFILE");
    return v && v[0] && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void add_profile(const LaunchConfig& cfg, uint64_t threads, double seconds) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (!g_profile) {
    g_profile = new std::map<std::string, KernelProfile>();
    std::atexit(write_profile);
  }
  KernelProfile& p = (*g_profile)[cfg.name];
  ++p.launches;
  p.threads += threads;
  p.seconds += seconds;
}

void log_launch(const LaunchConfig& cfg, unsigned threads) {
  static const bool on = [] {
    const char* v = std::getenv("ENGINE_CUDASIM_LAUNCH_LOG");
    return v && v[0];
  }();
  if (!on) return;
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (!g_launch_log) {
    g_launch_log = new std::map<std::string, unsigned>();
    std::atexit(write_launch_log);
  }
  unsigned& m = (*g_launch_log)[base_name(cfg.name)];
  if (threads > m) m = threads;
}

std::mutex g_attr_mu;
std::map<const void*, int>& max_dynamic_shared() {
  static std::map<const void*, int> m;
  return m;
}

}  // namespace

// ---- device-side entry points ----------------------------------------------------

void syncthreads(const char* file, int line) {
  SimThread& t = current("__syncthreads", file, line);
  t.synced = true;
  if (t.plain)
    abort_thread("divergent barrier: __syncthreads at " + site(file, line) +
                 " is reached after the first thread of this warp exited without reaching it");
  t.state = State::barrier;
  t.file = file;
  t.line = line;
  yield_to_scheduler(t, false);
}

namespace {

const char* op_name(WarpOp op, ShflKind k) {
  if (op == WarpOp::ballot) return "__ballot_sync";
  if (op == WarpOp::syncwarp) return "__syncwarp";
  switch (k) {
    case ShflKind::idx: return "__shfl_sync";
    case ShflKind::xor_: return "__shfl_xor_sync";
    case ShflKind::down: return "__shfl_down_sync";
    case ShflKind::up: return "__shfl_up_sync";
  }
  return "?";
}

// Source lane of a shuffle for lane l, or -1 when the lane keeps its own value.
int shfl_source(ShflKind k, int l, int arg, int width) {
  const int seg = l / width * width;
  switch (k) {
    case ShflKind::idx: return seg + ((arg % width) + width) % width;
    case ShflKind::xor_: {
      int s = l ^ arg;
      return (s >= seg + width || s < 0 || s >= 32) ? -1 : s;
    }
    case ShflKind::down: return l + arg >= seg + width ? -1 : l + arg;
    case ShflKind::up: return l - arg < seg ? -1 : l - arg;
  }
  return -1;
}

// Parks t at a warp collective; the last lane of the mask to arrive computes every
// lane's result. Returns t's result.
uint64_t warp_collective(SimThread& t, WarpOp op, ShflKind kind, unsigned mask, uint64_t value, int arg, int width,
                         const char* file, int line) {
  Exec& e = *t_exec;
  t.synced = true;
  const char* name = op_name(op, kind);
  if (!(mask >> t.lane & 1u)) {
    std::ostringstream o;
    o << name << " at " << site(file, line) << ": lane " << t.lane << " calls it with mask 0x" << std::hex << mask
      << ", which does not name the calling lane";
    abort_thread(o.str());
  }
  if (op == WarpOp::shfl && (width < 1 || width > 32 || (width & (width - 1)) != 0)) {
    std::ostringstream o;
    o << name << " at " << site(file, line) << ": width " << width << " is not a power of two in [1, 32]";
    abort_thread(o.str());
  }
  const int warp_lanes = std::min(32, e.nthreads - t.warp * 32);
  if (warp_lanes < 32 && (mask >> warp_lanes) != 0)
    for (int l = 0; l < 32; ++l)
      if ((mask >> l & 1u) && l >= warp_lanes) {
        std::ostringstream o;
        o << name << " at " << site(file, line) << ": mask 0x" << std::hex << mask << std::dec << " names lane " << l
          << ", but warp " << t.warp << " has only " << warp_lanes << " threads";
        abort_thread(o.str());
      }
  if (t.plain) {
    std::ostringstream o;
    o << name << " at " << site(file, line) << " is reached after the first thread of this warp to run exited "
      << "without reaching it";
    abort_thread(o.str());
  }
  t.state = State::warp;
  t.op = op;
  t.kind = kind;
  t.mask = mask;
  t.value = value;
  t.arg = arg;
  t.width = width;
  t.file = file;
  t.line = line;
  // Lanes gather one collective at a time per warp: the first arrival names it, the
  // others must match it; the last lane of the mask completes it.
  // Disjoint masks (two half-warps, each shuffling among itself) gather apart.
  WarpGather* slot = nullptr;
  for (WarpGather& c : e.gather[size_t(t.warp)])
    if (c.arrived != 0 && (c.mask & mask) != 0) slot = &c;
  if (slot == nullptr)
    for (WarpGather& c : e.gather[size_t(t.warp)])
      if (c.arrived == 0) {
        slot = &c;
        break;
      }
  if (slot == nullptr)
    abort_thread(std::string(name) + " at " + site(file, line) + ": more than 4 collectives at once in one warp");
  WarpGather& g = *slot;
  if (g.arrived == 0) {
    g.file = file;
    g.line = line;
    g.op = op;
    g.mask = mask;
  } else if (g.line != line || g.op != op || g.mask != mask || (g.file != file && std::strcmp(g.file, file) != 0)) {
    std::ostringstream o;
    o << name << " at " << site(file, line) << " with mask 0x" << std::hex << mask << std::dec << ": lane " << t.lane
      << " arrives while lanes 0x" << std::hex << g.arrived << " wait at a different collective ("
      << op_name(g.op, kind) << " at " << site(g.file, g.line) << ", mask 0x" << g.mask << ")";
    abort_thread(o.str());
  }
  g.arrived |= 1u << t.lane;
  const bool complete = g.arrived == mask;
  if (complete) {
    unsigned ballot = 0;
    for (int l = 0; l < 32; ++l)
      if ((mask >> l & 1u) && e.th[size_t(t.warp * 32 + l)].value != 0) ballot |= 1u << l;
    for (int l = 0; l < 32; ++l) {
      if (!(mask >> l & 1u)) continue;
      SimThread& u = e.th[size_t(t.warp * 32 + l)];
      if (op == WarpOp::ballot) {
        u.result = ballot;
      } else if (op == WarpOp::shfl) {
        int src = shfl_source(kind, l, u.arg, width);
        if (src < 0) {
          u.result = u.value;
        } else if (!(mask >> src & 1u)) {
          std::ostringstream o;
          o << name << " at " << site(file, line) << ": lane " << l << " reads lane " << src
            << ", which is outside the mask 0x" << std::hex << mask;
          abort_thread(o.str());
        } else {
          u.result = e.th[size_t(t.warp * 32 + src)].value;
        }
      }
    }
    for (int l = 0; l < 32; ++l)
      if (mask >> l & 1u) e.th[size_t(t.warp * 32 + l)].state = State::ready;
    g.arrived = 0;
    e.completed_warp = t.warp;
  }
  yield_to_scheduler(t, false);
  return t.result;
}

}  // namespace

uint64_t shfl(ShflKind kind, unsigned mask, uint64_t bits, int arg, int width, const char* file, int line) {
  SimThread& t = current("a warp shuffle", file, line);
  return warp_collective(t, WarpOp::shfl, kind, mask, bits, arg, width, file, line);
}

unsigned ballot(unsigned mask, bool pred, const char* file, int line) {
  SimThread& t = current("__ballot_sync", file, line);
  return unsigned(warp_collective(t, WarpOp::ballot, ShflKind::idx, mask, pred ? 1 : 0, 0, 32, file, line));
}

void syncwarp(unsigned mask, const char* file, int line) {
  SimThread& t = current("__syncwarp", file, line);
  warp_collective(t, WarpOp::syncwarp, ShflKind::idx, mask, 0, 0, 32, file, line);
}

void device_trap(const char* what, const char* file, int line) {
  current(what, file, line);
  abort_thread(std::string(what) + " at " + site(file, line));
}

void* shared_slot(SharedSlot& slot, size_t bytes, size_t align) {
  Exec& e = *t_exec;
  if (slot.launch != e.launch_id) {
    size_t off = (e.static_base + e.static_used + align - 1) / align * align;
    size_t used = off + bytes - e.static_base;
    if (used > kStaticSharedLimit || off + bytes > kSharedLimit) {
      std::ostringstream o;
      o << "static shared memory of " << used << " bytes (after " << e.cfg->smem
        << " dynamic) exceeds the 48 KiB a kernel may declare";
      abort_thread(o.str());
    }
    e.static_used = used;
    slot.launch = e.launch_id;
    slot.offset = uint32_t(off);
  }
  return e.arena.data() + slot.offset;
}

void* dynamic_shared() { return t_exec->arena.data(); }

// ---- launches ----------------------------------------------------------------------

void set_max_dynamic_shared(const void* func, int bytes) {
  std::lock_guard<std::mutex> lock(g_attr_mu);
  max_dynamic_shared()[func] = bytes;
}

// The configuration error of a launch, or cudaSuccess; *why says what was wrong (the
// message is built only then: this runs for every launch).
cudaError_t launch_problem(const LaunchConfig& cfg, uint64_t threads, std::string* why) {
  const dim3 b = cfg.block, g = cfg.grid;
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 || threads > 1024) {
    std::ostringstream o;
    o << "block (" << b.x << "," << b.y << "," << b.z << ") = " << threads
      << " threads; a block holds 1 to 1024 threads (x, y <= 1024, z <= 64)";
    *why = o.str();
    return cudaErrorInvalidConfiguration;
  }
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
    std::ostringstream o;
    o << "grid (" << g.x << "," << g.y << "," << g.z << "); grids are 1 to 2^31-1 blocks in x, 65535 in y and z";
    *why = o.str();
    return cudaErrorInvalidConfiguration;
  }
  if (cfg.smem <= kStaticSharedLimit) return cudaSuccess;
  int allowed = 0;
  {
    std::lock_guard<std::mutex> lock(g_attr_mu);
    auto it = max_dynamic_shared().find(cfg.func);
    if (it != max_dynamic_shared().end()) allowed = it->second;
  }
  if (cfg.smem <= kSharedLimit && int64_t(cfg.smem) <= allowed) return cudaSuccess;
  std::ostringstream o;
  o << cfg.smem << " bytes of dynamic shared memory; above 48 KiB a kernel needs "
    << "cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize) first (set: " << allowed << "), and at most "
    << kSharedLimit << " bytes";
  *why = o.str();
  return cudaErrorInvalidValue;
}

void launch_kernel(const LaunchConfig& cfg, std::shared_ptr<KernelBody> body) {
  const uint64_t threads = uint64_t(cfg.block.x) * cfg.block.y * cfg.block.z;
  std::string why;
  if (const cudaError_t bad = launch_problem(cfg, threads, &why)) {
    report("launch of " + std::string(cfg.name) + " at " + site(cfg.file, cfg.line) + ": " + why);
    set_last_error(bad);
    return;
  }
  log_launch(cfg, unsigned(threads));
  LaunchConfig c = cfg;
  cudaError_t e = enqueue(cfg.stream, cfg.name, [c, body] {
    if (!profiling()) return execute_kernel(c, *body);
    auto t0 = std::chrono::steady_clock::now();
    execute_kernel(c, *body);
    add_profile(c, uint64_t(c.grid.x) * c.grid.y * c.grid.z * c.block.x * c.block.y * c.block.z,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
  if (e != cudaSuccess) set_last_error(e);
}

#if defined(__SANITIZE_ADDRESS__)
namespace {
// AddressSanitizer's report names the source line; this names the simulated thread.
void on_asan_death() {
  Exec* e = t_exec;
  if (e == nullptr || e->cfg == nullptr) return;
  std::fprintf(stderr, "cudasim: the fault above happened in kernel %s (launched at %s), block %s, %s\n", e->cfg->name,
               site(e->cfg->file, e->cfg->line).c_str(), dim_str(e->block.bid).c_str(),
               cudasim_thread ? thread_name(*e, cudasim_thread->linear).c_str() : "no thread");
}
}  // namespace
#endif

void execute_kernel(const LaunchConfig& cfg, KernelBody& body) {
#if defined(__SANITIZE_ADDRESS__)
  static std::once_flag death_once;
  std::call_once(death_once, [] { __sanitizer_set_death_callback(on_asan_death); });
#endif
  g_launches.fetch_add(1, std::memory_order_relaxed);
  std::vector<std::pair<int, const void*>> ptrs;
  body.pointer_args(ptrs);
  for (auto& [i, p] : ptrs) {
    MemRange r = find_allocation(p);
    if (r.kind == MemKind::unknown) {
      std::string why;
      device_accessible(p, 1, &why);
      std::ostringstream o;
      o << "kernel " << cfg.name << " (launched at " << site(cfg.file, cfg.line) << "): argument " << i
        << " is not device memory: " << why;
      fail_sticky(cudaErrorIllegalAddress, o.str());
      return;
    }
  }
  Exec& e = exec_state();
  if (t_exec != nullptr) {
    report(std::string("kernel ") + cfg.name + " launched from inside a kernel");
    std::abort();
  }
  t_exec = &e;
  e.cfg = &cfg;
  e.body = &body;
  e.launch_id = g_launch_ids.fetch_add(1);
  e.static_base = (cfg.smem + 15) / 16 * 16;
  e.static_used = 0;
  if (e.arena.size() < kSharedLimit + 64) e.arena.resize(kSharedLimit + 64);
  std::memset(e.arena.data(), 0xFF, e.arena.size());
  const ScheduleSetting& ss = schedule_setting();
  e.sched = ss.s;
  e.rng.seed(ss.seed * 0x9E3779B97F4A7C15ull + e.launch_id);
  const dim3 b = cfg.block, g = cfg.grid;
  e.nthreads = int(b.x * b.y * b.z);
  e.nwarps = (e.nthreads + 31) / 32;
  e.block.bdim = b;
  e.block.gdim = g;
  e.error.clear();
  cudasim_block = &e.block;
  const uint64_t nblocks = uint64_t(g.x) * g.y * g.z;
  std::vector<uint64_t> border;
  if (ss.s == Schedule::random) {
    border.resize(nblocks);
    for (uint64_t i = 0; i < nblocks; ++i) border[i] = i;
    std::shuffle(border.begin(), border.end(), e.rng);
  }
  for (uint64_t k = 0; k < nblocks; ++k) {
    uint64_t bi = ss.s == Schedule::reverse ? nblocks - 1 - k : (ss.s == Schedule::random ? border[k] : k);
    e.block.bid = uint3{unsigned(bi % g.x), unsigned(bi / g.x % g.y), unsigned(bi / (uint64_t(g.x) * g.y))};
    size_t used = e.static_base + e.static_used;
    if (k > 0) std::memset(e.arena.data(), 0xFF, std::min(used, e.arena.size()));
    e.th.assign(size_t(e.nthreads), SimThread{});
    for (int i = 0; i < e.nthreads; ++i) {
      SimThread& t = e.th[size_t(i)];
      t.tid = uint3{unsigned(i % b.x), unsigned(i / b.x % b.y), unsigned(i / (b.x * b.y))};
      t.linear = i;
      t.warp = i / 32;
      t.lane = i % 32;
    }
    e.warp_class.assign(size_t(e.nwarps), WarpClass::unknown);
    e.gather.assign(size_t(e.nwarps), std::array<WarpGather, 4>{});
    g_blocks.fetch_add(1, std::memory_order_relaxed);
    if (!run_block(e)) {
      std::ostringstream o;
      o << "kernel " << cfg.name << " (launched at " << site(cfg.file, cfg.line) << ", grid " << dim_str(g)
        << ", block " << dim_str(b) << ") failed in block " << dim_str(e.block.bid);
      if (e.error_thread >= 0) o << ", " << thread_name(e, e.error_thread);
      o << " [schedule " << schedule_name(ss.s) << "]: " << e.error;
      abandon_fibers(e);
      cudasim_thread = nullptr;
      cudasim_block = nullptr;
      t_exec = nullptr;
      fail_sticky(cudaErrorLaunchFailure, o.str());
      return;
    }
  }
  cudasim_thread = nullptr;
  cudasim_block = nullptr;
  t_exec = nullptr;
}

void set_schedule(Schedule s, uint64_t seed) {
  schedule_setting().s = s;
  schedule_setting().seed = seed;
}
Schedule schedule() { return schedule_setting().s; }
const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::forward: return "forward";
    case Schedule::reverse: return "reverse";
    case Schedule::random: return "random";
    case Schedule::run_ahead: return "run-ahead";
  }
  return "?";
}

Stats stats() {
  Stats s;
  s.launches = g_launches.load();
  s.blocks = g_blocks.load();
  s.threads = g_threads.load();
  s.fiber_threads = g_fiber_threads.load();
  return s;
}

}  // namespace cudasim
