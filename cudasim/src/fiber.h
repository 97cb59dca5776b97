#pragma once
// Fibers for simulated threads: a stack of their own and a hand-written x86-64 switch
// of the callee-saved registers. ucontext's swapcontext
// makes a signal-mask system call per switch and is several times slower.
#include <cstddef>
#include <vector>

namespace cudasim {

struct FiberStack {
  char* base = nullptr;  // lowest usable address (a guard page lies below it)
  size_t size = 0;
};

// Stacks are reused across blocks and launches (per host thread): a block of 1024
// threads that all wait at a barrier needs 1024 of them, a barrier-free block one.
class StackPool {
 public:
  ~StackPool();
  FiberStack take();
  void give(FiberStack s) { free_.push_back(s); }
  static size_t stack_bytes();

 private:
  std::vector<FiberStack> free_, all_;
};

// Prepares `stack` so that the first switch to the returned stack pointer calls
// entry(arg) on it. entry must never return (it switches away for the last time).
void* fiber_prepare(const FiberStack& stack, void (*entry)(void*), void* arg);

}  // namespace cudasim

// Saves the current context on its stack, stores its stack pointer in *save_sp and
// resumes the context whose stack pointer is to_sp.
extern "C" void cudasim_switch(void** save_sp, void* to_sp);
