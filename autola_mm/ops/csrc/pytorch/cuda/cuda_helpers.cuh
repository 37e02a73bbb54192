// Helpers of the CUDA kernels of the attention core: launch shapes, a
// block-wide reduction, and device functions several kernels share.
#pragma once

#include <ATen/AccumulateType.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>

#include "../../common/attention_math.h"

namespace autola_mm::cuda {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

// Blocks of kThreads threads covering `count` elements, one element per
// thread, capped so that grid-stride loops cover the rest.
inline int blocks_for(int64_t count) {
  return static_cast<int>(std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, 65535 * 8));
}

template <typename T>
struct SumOp {
  __device__ T operator()(T a, T b) const { return a + b; }
};

template <typename T>
struct NanMaxOp {
  __device__ T operator()(T a, T b) const { return nan_max(a, b); }
};

// Reduces `value` over the kThreads threads of a block with `op`; every
// thread gets the result. `shared` holds kThreads / kWarp elements.
template <typename T, typename Op>
__device__ T block_reduce(T value, Op op, T* shared) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    value = op(value, __shfl_down_sync(0xffffffffu, value, offset));
  }
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  if (lane == 0) {
    shared[warp] = value;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / kWarp; ++w) {
      value = op(value, shared[w]);
    }
    shared[0] = value;
  }
  __syncthreads();
  value = shared[0];
  __syncthreads();
  return value;
}

inline cudaStream_t current_stream() {
  return c10::cuda::getCurrentCUDAStream();
}

// sigmoid(logit) rounded to the tensor's dtype, as torch.sigmoid returns it.
template <typename scalar_t>
__device__ scalar_t gate_of(scalar_t logit) {
  using acc_t = at::acc_type<scalar_t, true>;
  return static_cast<scalar_t>(sigmoid(static_cast<acc_t>(logit)));
}

// x * gate rounded to the tensor's dtype (the reference's gated map), widened.
template <typename scalar_t>
__device__ at::acc_type<scalar_t, true> gated(scalar_t x, scalar_t gate) {
  using acc_t = at::acc_type<scalar_t, true>;
  const acc_t product = static_cast<acc_t>(x) * static_cast<acc_t>(gate);
  return static_cast<acc_t>(static_cast<scalar_t>(product));
}

// ties[n, p] = the number of channels c whose (gated) value at position p
// equals stats[n, 0, p], the maximum over channels; one thread per (n, p).
// Without gates (channel_logits == nullptr) the values are x itself.
template <typename scalar_t>
__global__ void position_ties_kernel(const scalar_t* x, const scalar_t* channel_logits,
                                     const scalar_t* stats, int32_t* ties, int64_t images,
                                     int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t total = images * positions;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t n = i / positions;
    const int64_t p = i % positions;
    const acc_t max = static_cast<acc_t>(stats[n * 2 * positions + p]);
    int32_t count = 0;
    for (int64_t c = 0; c < channels; ++c) {
      const scalar_t value = x[(n * channels + c) * positions + p];
      const acc_t y = channel_logits == nullptr
                          ? static_cast<acc_t>(value)
                          : gated(value, gate_of(channel_logits[n * channels + c]));
      count += y == max;
    }
    ties[i] = count;
  }
}

}  // namespace autola_mm::cuda

// Dispatches over the dtypes the CUDA kernels cover.
#define AUTOLA_MM_DISPATCH_CUDA_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
