// The reductions of the CUDA kernels over a contiguous (N, C, H, W) feature
// map: over the H x W positions of each (n, c) row (reduce_rows) and over
// the C channels at each (n, position) column (reduce_columns). A kernel
// passes an Op: op.reduce accumulates a stretch of a row or column into a
// Partial, and op.finish writes the result of a row or column from the
// combination of its Partials.
//
// Launch shapes. Rows: a warp per row of up to kWarpRowLength positions
// (kWarps rows per block), a block per longer row, and a long row is split
// among several blocks when there are too few rows to fill the GPU.
// Columns: a warp covers kWarp consecutive columns, one per lane, so that it
// reads consecutive positions of a channel; the channels of a column are
// split in contiguous ranges among up to kWarps warps of a block and, when
// there are too few columns to fill the GPU, among several blocks. The
// Partials of a row or column split among blocks go to a workspace and
// finish_kernel combines them. Every combination runs in a fixed order, so
// results do not change from run to run (the splits, and with them the
// rounding of sums, depend on the GPU's size). Over columns the order is the
// channels' order, so the maximum is the one a sequential nan_max finds.
#pragma once

#include <ATen/cuda/NumericLimits.cuh>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <cstdint>

#include "cuda_helpers.cuh"

namespace autola_mm::cuda {

// Rows of up to this many positions get one warp each, longer ones a block.
constexpr int64_t kWarpRowLength = 1024;
// A row is split among blocks in chunks of at least this many positions.
constexpr int64_t kMinRowChunk = kThreads * 32;
// The channels of a column are split among more warps, or blocks, only while
// each warp keeps at least this many.
constexpr int64_t kWarpChannels = 16;

// A partial reduction: a sum, a NaN-propagating maximum and a count. Each
// Op accumulates the fields it needs; the others keep their identity.
template <typename acc_t>
struct Partial {
  acc_t sum;
  acc_t max;
  int64_t count;

  __device__ static Partial identity() {
    return {acc_t(0), at::numeric_limits<acc_t>::lower_bound(), 0};
  }
};

// `a`, then `b`: b's maximum replaces a's only if greater or NaN.
template <typename acc_t>
__device__ Partial<acc_t> combine(const Partial<acc_t>& a, const Partial<acc_t>& b) {
  return {a.sum + b.sum, nan_max(a.max, b.max), a.count + b.count};
}

// The combination of the Partials of a warp's lanes, in every lane.
template <typename acc_t>
__device__ Partial<acc_t> warp_combine(Partial<acc_t> partial) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const Partial<acc_t> other = {__shfl_xor_sync(kFullMask, partial.sum, offset),
                                  __shfl_xor_sync(kFullMask, partial.max, offset),
                                  __shfl_xor_sync(kFullMask, partial.count, offset)};
    partial = combine(partial, other);
  }
  return partial;
}

// Each item is a chunk of a row: item = chunk * rows + row. A group of
// `group_warps` warps (1 or kWarps) reduces an item: its thread of rank r
// takes the positions begin + r, begin + r + group size, ... of the chunk
// [begin, end); the group combines its threads' Partials across lanes,
// then across its warps.
template <typename Op>
__global__ void row_kernel(Op op, Partial<typename Op::acc_t>* partials, int64_t rows,
                           int64_t length, int group_warps, int64_t chunks) {
  using acc_t = typename Op::acc_t;
  __shared__ Partial<acc_t> shared[kWarps];
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int groups = kWarps / group_warps;
  const int rank = threadIdx.x % (group_warps * kWarp);
  const int64_t items = rows * chunks;
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * groups; first < items;
       first += static_cast<int64_t>(gridDim.x) * groups) {
    const int64_t item = first + warp / group_warps;
    const int64_t row = item % rows;
    const int64_t chunk = item / rows;
    Partial<acc_t> partial = Partial<acc_t>::identity();
    if (item < items) {
      partial = op.reduce(row, chunk * length / chunks + rank, (chunk + 1) * length / chunks,
                          group_warps * kWarp);
    }
    partial = warp_combine(partial);
    if (group_warps > 1) {
      if (lane == 0) {
        shared[warp] = partial;
      }
      __syncthreads();
      if (rank == 0) {
        for (int w = 1; w < group_warps; ++w) {
          partial = combine(partial, shared[w]);
        }
      }
      __syncthreads();
    }
    if (rank == 0 && item < items) {
      if (chunks == 1) {
        op.finish(row, partial);
      } else {
        partials[item] = partial;
      }
    }
  }
}

// Each item is a tile of kWarp columns in a chunk of the channels:
// item = chunk * tiles + tile. A block covers kWarps / slices items; the
// `slices` warps of an item take contiguous ranges of the chunk's channels,
// and the first of them combines their Partials in the channels' order.
template <typename Op>
__global__ void column_kernel(Op op, Partial<typename Op::acc_t>* partials, int64_t columns,
                              int64_t channels, int slices, int64_t chunks) {
  using acc_t = typename Op::acc_t;
  __shared__ Partial<acc_t> shared[kWarps][kWarp];
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int slice = warp % slices;
  const int items_per_block = kWarps / slices;
  const int64_t tiles = ceil_div(columns, kWarp);
  const int64_t items = tiles * chunks;
  const int64_t parts = chunks * slices;
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * items_per_block; first < items;
       first += static_cast<int64_t>(gridDim.x) * items_per_block) {
    const int64_t item = first + warp / slices;
    const int64_t chunk = item / tiles;
    const int64_t column = (item % tiles) * kWarp + lane;
    const bool active = item < items && column < columns;
    Partial<acc_t> partial = Partial<acc_t>::identity();
    if (active) {
      const int64_t part = chunk * slices + slice;
      partial = op.reduce(column, part * channels / parts, (part + 1) * channels / parts);
    }
    shared[warp][lane] = partial;
    __syncthreads();
    if (slice == 0 && active) {
      for (int s = 1; s < slices; ++s) {
        partial = combine(partial, shared[warp + s][lane]);
      }
      if (chunks == 1) {
        op.finish(column, partial);
      } else {
        partials[chunk * columns + column] = partial;
      }
    }
    __syncthreads();
  }
}

// Combines the Partials of the `chunks` chunks of each of `count` rows or
// columns (partials[chunk * count + i]) in order and finishes it.
template <typename Op>
__global__ void finish_kernel(Op op, const Partial<typename Op::acc_t>* partials, int64_t count,
                              int64_t chunks) {
  using acc_t = typename Op::acc_t;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    Partial<acc_t> partial = partials[i];
    for (int64_t chunk = 1; chunk < chunks; ++chunk) {
      partial = combine(partial, partials[chunk * count + i]);
    }
    op.finish(i, partial);
  }
}

// Blocks of kThreads threads that the current GPU runs at once.
inline int64_t resident_blocks() {
  const int device = c10::cuda::current_device();
  int processors = 0;
  int threads = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&processors, cudaDevAttrMultiProcessorCount, device));
  C10_CUDA_CHECK(
      cudaDeviceGetAttribute(&threads, cudaDevAttrMaxThreadsPerMultiProcessor, device));
  return static_cast<int64_t>(processors) * threads / kThreads;
}

// launch(partials) launches the reduction of `count` rows or columns, each
// in `chunks` chunks; with more than one, partials is a workspace on the
// current device (the callers' CUDAGuard) that finish_kernel then combines.
template <typename Op, typename Launch>
void launch_reduction(const Op& op, int64_t count, int64_t chunks, const Launch& launch) {
  using acc_t = typename Op::acc_t;
  at::Tensor workspace;
  Partial<acc_t>* partials = nullptr;
  if (chunks > 1) {
    const int64_t bytes = count * chunks * static_cast<int64_t>(sizeof(Partial<acc_t>));
    workspace = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(
                                       at::kCUDA, c10::cuda::current_device()));
    partials = static_cast<Partial<acc_t>*>(workspace.mutable_data_ptr());
  }
  launch(partials);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (chunks > 1) {
    finish_kernel<<<blocks_for(count), kThreads, 0, current_stream()>>>(op, partials, count,
                                                                        chunks);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// Reduces the `rows` rows of `length` positions with op.reduce(row, first,
// end, stride), which accumulates positions first, first + stride, ...
// before end of a row, and writes each with op.finish(row, partial).
template <typename Op>
void reduce_rows(const Op& op, int64_t rows, int64_t length) {
  if (rows == 0) {
    return;
  }
  const bool long_rows = length > kWarpRowLength;
  const int group_warps = long_rows ? kWarps : 1;
  const int64_t chunks =
      long_rows ? std::clamp<int64_t>(ceil_div(resident_blocks(), rows), 1,
                                      ceil_div(length, kMinRowChunk))
                : 1;
  const int64_t groups = kWarps / group_warps;
  launch_reduction(op, rows, chunks, [&](Partial<typename Op::acc_t>* partials) {
    row_kernel<<<grid_for(ceil_div(rows * chunks, groups)), kThreads, 0, current_stream()>>>(
        op, partials, rows, length, group_warps, chunks);
  });
}

// Reduces the `channels` channels of each of `columns` columns with
// op.reduce(column, begin, end), which accumulates channels begin to end - 1
// in order, and writes each with op.finish(column, partial).
template <typename Op>
void reduce_columns(const Op& op, int64_t columns, int64_t channels) {
  if (columns == 0) {
    return;
  }
  int slices = 1;
  while (slices < kWarps && slices * kWarpChannels < channels) {
    slices *= 2;
  }
  const int64_t items_per_block = kWarps / slices;
  const int64_t tiles = ceil_div(columns, kWarp);
  const int64_t chunks =
      std::clamp<int64_t>(ceil_div(resident_blocks(), ceil_div(tiles, items_per_block)), 1,
                          std::max<int64_t>(1, ceil_div(channels, slices * kWarpChannels)));
  launch_reduction(op, columns, chunks, [&](Partial<typename Op::acc_t>* partials) {
    column_kernel<<<grid_for(ceil_div(tiles * chunks, items_per_block)), kThreads, 0,
                    current_stream()>>>(op, partials, columns, channels, slices, chunks);
  });
}

}  // namespace autola_mm::cuda
