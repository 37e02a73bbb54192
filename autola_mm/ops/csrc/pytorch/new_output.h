// Allocation of the full-size outputs of the kernels (large CPU outputs get
// huge pages; other devices get a plain at::empty).
//
// A large output is fresh anonymous memory, and on the machines this was
// measured on the first write of every 4 KiB page (a page fault) cost about
// ten times the kernel's own streaming of that memory. For outputs of at
// least kHugePageOutputBytes the kernels ask the kernel for transparent huge
// pages on the 2 MiB-aligned part of the buffer (what torch's allocator does
// for every allocation with THP_MEM_ALLOC_ENABLE=1): 512 times fewer faults.
// It is only advice: with THP off it changes nothing.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace autola_mm {

constexpr int64_t kHugePageOutputBytes = int64_t{4} << 20;

inline at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  at::Tensor out = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const int64_t bytes = static_cast<int64_t>(out.nbytes());
  if (out.device().is_cpu() && bytes >= kHugePageOutputBytes) {
    constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
    const auto start = reinterpret_cast<uintptr_t>(out.data_ptr());
    const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t last = (start + bytes) & ~(kHugePage - 1);
    if (last > first) {
      madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
    }
  }
#endif
  return out;
}

}  // namespace autola_mm
