// Helpers of the CUDA kernels of the attention core: element-wise launch
// shapes and device functions several kernels share. The reductions over the
// rows and columns of a feature map are in reductions.cuh.
#pragma once

#include <ATen/AccumulateType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>

#include "../../common/attention_math.h"

namespace autola_mm::cuda {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kWarps = kThreads / kWarp;
constexpr unsigned kFullMask = 0xffffffffu;
// Grids have at most this many blocks; the kernels' loops stride over the rest.
constexpr int64_t kMaxBlocks = 65535 * 8;

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// A grid of `blocks` blocks, between 1 and kMaxBlocks.
inline unsigned grid_for(int64_t blocks) {
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

// Blocks of kThreads threads covering `count` elements, one element per
// thread, capped so that grid-stride loops cover the rest.
inline unsigned blocks_for(int64_t count) {
  return grid_for(ceil_div(count, kThreads));
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

// The gradient of the pooled map y at (n, c, p), whose value there is `y`,
// from the gradient `grad` of its pool over channels (stats: the maximum,
// then the mean, of shape (N, 2, H, W)): the mean's share plus the
// maximum's share among its `ties`.
template <typename scalar_t, typename acc_t = at::acc_type<scalar_t, true>>
__device__ acc_t pool_grad(const scalar_t* grad, const scalar_t* stats, const int32_t* ties,
                           acc_t y, int64_t n, int64_t p, int64_t channels, int64_t positions) {
  const acc_t grad_max = static_cast<acc_t>(grad[n * 2 * positions + p]);
  const acc_t grad_mean = static_cast<acc_t>(grad[(n * 2 + 1) * positions + p]);
  const acc_t max = static_cast<acc_t>(stats[n * 2 * positions + p]);
  return grad_mean / static_cast<acc_t>(channels) +
         max_share(grad_max / static_cast<acc_t>(ties[n * positions + p]), y, max);
}

// ties[n, p] = the number of channels c whose value at position p, x or,
// with channel_logits, x * sigmoid(channel_logits[n, c]), equals
// stats[n, 0, p], its maximum over channels; an (N, H * W) int32 tensor.
// Takes contiguous tensors on the current device (spatial_stats.cu).
at::Tensor position_ties(const at::Tensor& x, const at::Tensor* channel_logits,
                          const at::Tensor& stats);

}  // namespace autola_mm::cuda

// Dispatches over the dtypes the CUDA kernels cover.
#define AUTOLA_MM_DISPATCH_CUDA_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
