// How the CPU kernels of the attention core split a contiguous (N, C, H, W)
// feature map into work: rows of H * W positions for the per-channel pools
// and gates, and tiles of positions (all C channels of a run of positions)
// for the per-position ones. Reductions along a row are `omp simd`
// reduction loops: the compiler keeps a vector of partial results in
// registers and folds it once at the end of the row (a fixed order for a
// given instruction set, independent of the data and of the threads). Rows
// of a 7 x 7 map cost a few vector steps, where partial results kept in an
// array cost a fold through memory per row (channel_stats of 8x2048x7x7:
// 0.83 -> 0.14 ms).
#pragma once

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace autola_mm::cpu {

// Elements one task should touch at least, so that small maps stay on one thread.
constexpr int64_t kMinTaskElements = 32768;

// Elements of a row that a reduction sums in the vector lanes of the map's
// own dtype before the chunk's sum joins the row's total in the wider
// accumulation type (double for float): a float vector has twice the lanes
// of a double one and needs no conversion per element, and a chunk this
// short bounds float's rounding to 4096 / 16 = 256 additions per lane.
constexpr int64_t kLaneSumChunk = 4096;

// The sum over [0, length) in acc_t of chunk_sum(begin, end), a chunk's sum
// over [begin, end), for the chunks of kLaneSumChunk in order. A kernel whose
// pass over a row also reduces something else (a maximum, a count of ties)
// does that inside its chunk_sum's loop.
template <typename acc_t, typename ChunkSum>
inline acc_t sum_of_chunks(int64_t length, const ChunkSum& chunk_sum) {
  acc_t total = 0;
  for (int64_t begin = 0; begin < length; begin += kLaneSumChunk) {
    total += chunk_sum(begin, std::min(begin + kLaneSumChunk, length));
  }
  return total;
}

// The sum of term(j) over j in [0, length): each chunk in scalar_t lanes.
template <typename acc_t, typename scalar_t, typename Term>
inline acc_t lane_sum(int64_t length, const Term& term) {
  return sum_of_chunks<acc_t>(length, [&](int64_t begin, int64_t end) {
    scalar_t chunk = 0;
#pragma omp simd reduction(+ : chunk)
    for (int64_t j = begin; j < end; ++j) {
      chunk += term(j);
    }
    return chunk;
  });
}

// lane_sum of term(j) over a row of `length` values, and in the same pass
// the count of its values equal to row_max (the ties of its maximum, in
// int32 lanes): the backward passes of SE's and CBAM's channel gates.
template <typename acc_t, typename scalar_t, typename Term>
inline acc_t lane_sum_and_ties(int64_t length, const scalar_t* row, scalar_t row_max,
                               const Term& term, int32_t& ties) {
  ties = 0;
  return sum_of_chunks<acc_t>(length, [&](int64_t begin, int64_t end) {
    scalar_t chunk = 0;
    int32_t chunk_ties = 0;
#pragma omp simd reduction(+ : chunk, chunk_ties)
    for (int64_t j = begin; j < end; ++j) {
      chunk += term(j);
      chunk_ties += row[j] == row_max;
    }
    ties += chunk_ties;
    return chunk;
  });
}

// Rows (of `row_length` elements) per parallel task.
inline int64_t rows_per_task(int64_t row_length) {
  return std::max<int64_t>(1, kMinTaskElements / std::max<int64_t>(1, row_length));
}

// Rows per task of the final sums over tiles: each row is a few additions, so
// only very many rows are worth waking other threads for (a parallel region
// costs far more than it saves on a busy machine).
inline int64_t tile_sum_rows_per_task(int64_t tiles) {
  return std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, tiles));
}

// Positions per tile. A single pass over the channels streams `positions`
// contiguous elements of each channel; two passes (count the ties, then
// write) keep the tile, channels x positions, in a core's L2 cache.
inline int64_t tile_positions(int64_t channels, int64_t positions, bool two_passes) {
  const int64_t budget = two_passes ? 65536 / std::max<int64_t>(1, channels) : 1024;
  const int64_t tile = std::clamp<int64_t>(budget / 16 * 16, 64, 1024);
  return std::min(tile, std::max<int64_t>(1, positions));
}

inline int64_t tile_count(int64_t positions, int64_t tile_size) {
  return (positions + tile_size - 1) / tile_size;
}

// The extension is compiled for the baseline ISA (x86-64: SSE2). As ATen
// does, the kernels' loops pick at run time the widest copy the CPU runs:
// AVX-512 (512-bit vectors, where the CPU has AVX512F/BW/VL/DQ), else AVX2
// and FMA, else the baseline. `flatten` inlines the loop body and everything
// it calls into each copy, so the compiler vectorises it for that ISA (the
// float sigmoid gate, for one, runs about 4 times faster with AVX2 than with
// SSE2). The choice is read once per process (cpu_isa).
enum class CpuIsa { kBaseline, kAvx2, kAvx512 };

inline const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kBaseline:
      break;
  }
  return "baseline";
}

inline CpuIsa widest_cpu_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return CpuIsa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return CpuIsa::kAvx2;
  }
#endif
  return CpuIsa::kBaseline;
}

// The widest ISA of this CPU, or a narrower one named by AUTOLA_CPU_ISA
// (baseline, avx2 or avx512; the tests run every copy this way). Raises
// for a name it does not know or an ISA the CPU lacks.
inline CpuIsa select_cpu_isa() {
  const CpuIsa widest = widest_cpu_isa();
  const char* requested = std::getenv("AUTOLA_CPU_ISA");
  if (requested == nullptr || *requested == '\0') {
    return widest;
  }
  for (CpuIsa isa : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (std::strcmp(requested, cpu_isa_name(isa)) == 0) {
      TORCH_CHECK_VALUE(isa <= widest, "AUTOLA_CPU_ISA=", requested,
                        ": this CPU runs at most ", cpu_isa_name(widest),
                        "; unset AUTOLA_CPU_ISA to use it");
      return isa;
    }
  }
  TORCH_CHECK_VALUE(false, "AUTOLA_CPU_ISA=", requested,
                    ": expected baseline, avx2 or avx512 (or unset, for the widest this CPU "
                    "runs)");
}

// The ISA of every kernel loop, chosen once per process (when the extension
// is imported).
inline CpuIsa cpu_isa() {
  static const CpuIsa isa = select_cpu_isa();
  return isa;
}

#if defined(__x86_64__) && defined(__GNUC__)
template <typename Fn>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,prefer-vector-width=512"),
               flatten)) void run_avx512(const Fn& fn, int64_t first, int64_t last) {
  fn(first, last);
}

template <typename Fn>
__attribute__((target("avx2,fma"), flatten)) void run_avx2(const Fn& fn, int64_t first,
                                                          int64_t last) {
  fn(first, last);
}
#endif

template <typename Fn>
__attribute__((flatten)) void run_baseline(const Fn& fn, int64_t first, int64_t last) {
  fn(first, last);
}

// fn(first, last) on the copy of the ISA cpu_isa() chose.
template <typename Fn>
void run_vectorized(const Fn& fn, int64_t first, int64_t last) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (cpu_isa()) {
    case CpuIsa::kAvx512:
      run_avx512(fn, first, last);
      return;
    case CpuIsa::kAvx2:
      run_avx2(fn, first, last);
      return;
    case CpuIsa::kBaseline:
      break;
  }
#endif
  run_baseline(fn, first, last);
}

// at::parallel_for(begin, end, grain, fn), each task's fn(first, last) on
// the copy of the ISA cpu_isa() chose.
template <typename Fn>
void parallel_for_vectorized(int64_t begin, int64_t end, int64_t grain, const Fn& fn) {
  at::parallel_for(begin, end, grain,
                   [&](int64_t first, int64_t last) { run_vectorized(fn, first, last); });
}

// Runs fn(n, begin, end) over every image n and tile [begin, end) of its
// positions, in parallel, with tile index `tile` = begin / tile_size.
template <typename Fn>
void for_each_tile(int64_t images, int64_t channels, int64_t positions, int64_t tile_size,
                   const Fn& fn) {
  const int64_t tiles = tile_count(positions, tile_size);
  const int64_t grain = rows_per_task(tile_size * channels);
  parallel_for_vectorized(0, images * tiles, grain, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t n = task / tiles;
      const int64_t begin = (task % tiles) * tile_size;
      fn(n, begin, std::min(begin + tile_size, positions));
    }
  });
}

}  // namespace autola_mm::cpu
