#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if !defined(__x86_64__)
#error "cudasim's fiber switch is written for x86-64"
#endif

// Frame layout below the saved stack pointer (low to high): r15, r14, r13, r12, rbx,
// rbp, return address. MXCSR and the x87 control word are callee-saved too, but no
// simulated thread changes them and every fiber starts with its launching thread's
// modes, so the switch leaves them alone (ldmxcsr/fldcw cost a quarter of a switch).
asm(R"(
  .text
  .globl cudasim_switch
  .type cudasim_switch, @function
cudasim_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size cudasim_switch, .-cudasim_switch

  .globl cudasim_fiber_start
  .type cudasim_fiber_start, @function
cudasim_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%rbx
  ud2
  .cfi_endproc
  .size cudasim_fiber_start, .-cudasim_fiber_start
)");

extern "C" void cudasim_fiber_start();

namespace cudasim {

size_t StackPool::stack_bytes() {
#if defined(__SANITIZE_ADDRESS__)
  return size_t(512) << 10;  // instrumented frames are several times larger
#else
  return size_t(128) << 10;
#endif
}

StackPool::~StackPool() {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  for (FiberStack& s : all_) munmap(s.base - page, s.size + page);
}

FiberStack StackPool::take() {
  if (!free_.empty()) {
    FiberStack s = free_.back();
    free_.pop_back();
    return s;
  }
  const size_t page = size_t(sysconf(_SC_PAGESIZE)), bytes = stack_bytes();
  void* p = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "cudasim: out of memory for fiber stacks\n");
    std::abort();
  }
  mprotect(p, page, PROT_NONE);  // a kernel that overflows its stack faults here
  FiberStack s{static_cast<char*>(p) + page, bytes};
  all_.push_back(s);
  return s;
}

void* fiber_prepare(const FiberStack& stack, void (*entry)(void*), void* arg) {
  // After the switch pops 6*8 bytes and returns, rsp is `top`, 16-byte aligned,
  // as the ABI wants it before cudasim_fiber_start calls entry.
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack.base) + stack.size) & ~uintptr_t(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = reinterpret_cast<uint64_t>(&cudasim_fiber_start);
  *--sp = 0;                                  // rbp
  *--sp = reinterpret_cast<uint64_t>(entry);  // rbx
  *--sp = reinterpret_cast<uint64_t>(arg);    // r12
  *--sp = 0;                                  // r13
  *--sp = 0;                                  // r14
  *--sp = 0;                                  // r15
  return sp;
}

}  // namespace cudasim
