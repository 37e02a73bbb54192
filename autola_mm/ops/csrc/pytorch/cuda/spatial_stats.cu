// CUDA kernels of spatial_stats and gated_spatial_stats: one thread per
// (n, position) pools the channels (of x * sigmoid(channel_logits) when
// gated); the backward counts the ties of each maximum, writes the gradient
// of x element-wise and, when gated, reduces the channel logits' gradient
// with one block per (n, c).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"

namespace autola_mm::cuda {
namespace {

template <typename scalar_t>
__global__ void spatial_stats_kernel(const scalar_t* x, const scalar_t* channel_logits,
                                     scalar_t* stats, int64_t images, int64_t channels,
                                     int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t total = images * positions;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t n = i / positions;
    const int64_t p = i % positions;
    acc_t sum = 0;
    acc_t max = 0;
    for (int64_t c = 0; c < channels; ++c) {
      const scalar_t value = x[(n * channels + c) * positions + p];
      const acc_t y = channel_logits == nullptr
                          ? static_cast<acc_t>(value)
                          : gated(value, gate_of(channel_logits[n * channels + c]));
      sum += y;
      max = c == 0 ? y : nan_max(max, y);
    }
    stats[n * 2 * positions + p] = static_cast<scalar_t>(max);
    stats[(n * 2 + 1) * positions + p] = static_cast<scalar_t>(sum / static_cast<acc_t>(channels));
  }
}

// The gradient of the gated map y at element i: the mean's share plus the
// maximum's share among its ties.
template <typename scalar_t, typename acc_t = at::acc_type<scalar_t, true>>
__device__ acc_t pooled_grad(const scalar_t* grad, const scalar_t* stats, const int32_t* ties,
                             acc_t y, int64_t n, int64_t p, int64_t channels, int64_t positions) {
  const acc_t grad_max = static_cast<acc_t>(grad[n * 2 * positions + p]);
  const acc_t grad_mean = static_cast<acc_t>(grad[(n * 2 + 1) * positions + p]);
  const acc_t max = static_cast<acc_t>(stats[n * 2 * positions + p]);
  return grad_mean / static_cast<acc_t>(channels) +
         max_share(grad_max / static_cast<acc_t>(ties[n * positions + p]), y, max);
}

template <typename scalar_t>
__global__ void spatial_stats_backward_kernel(const scalar_t* grad, const scalar_t* x,
                                              const scalar_t* channel_logits,
                                              const scalar_t* stats, const int32_t* ties,
                                              scalar_t* grad_x, int64_t images, int64_t channels,
                                              int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t total = images * channels * positions;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t p = i % positions;
    const int64_t nc = i / positions;
    const int64_t n = nc / channels;
    if (channel_logits == nullptr) {
      grad_x[i] = static_cast<scalar_t>(pooled_grad(grad, stats, ties, static_cast<acc_t>(x[i]),
                                                    n, p, channels, positions));
    } else {
      const scalar_t gate = gate_of(channel_logits[nc]);
      const acc_t grad_y =
          pooled_grad(grad, stats, ties, gated(x[i], gate), n, p, channels, positions);
      grad_x[i] = static_cast<scalar_t>(grad_y * static_cast<acc_t>(gate));
    }
  }
}

// grad_logits[n, c] = sigmoid'(sum_p grad_y * x); one block per (n, c).
template <typename scalar_t>
__global__ void gated_logits_backward_kernel(const scalar_t* grad, const scalar_t* x,
                                             const scalar_t* channel_logits,
                                             const scalar_t* stats, const int32_t* ties,
                                             scalar_t* grad_logits, int64_t channels,
                                             int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  __shared__ acc_t shared[kThreads / kWarp];
  const int64_t nc = blockIdx.x;
  const int64_t n = nc / channels;
  const scalar_t gate = gate_of(channel_logits[nc]);
  acc_t sum = 0;
  for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
    const scalar_t value = x[nc * positions + p];
    sum += pooled_grad(grad, stats, ties, gated(value, gate), n, p, channels, positions) *
           static_cast<acc_t>(value);
  }
  sum = block_reduce(sum, SumOp<acc_t>(), shared);
  if (threadIdx.x == 0) {
    grad_logits[nc] = static_cast<scalar_t>(sigmoid_backward(sum, static_cast<acc_t>(gate)));
  }
}

Tensor launch_spatial_stats(const Tensor& x, const Tensor* channel_logits) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor logits = channel_logits ? channel_logits->contiguous() : Tensor();
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  Tensor stats = at::empty({images, 2, input.size(2), input.size(3)}, input.options());
  if (images * positions > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "spatial_stats_cuda", [&] {
      spatial_stats_kernel<<<blocks_for(images * positions), kThreads, 0, current_stream()>>>(
          input.const_data_ptr<scalar_t>(),
          channel_logits ? logits.const_data_ptr<scalar_t>() : nullptr,
          stats.mutable_data_ptr<scalar_t>(), images, channels, positions);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return stats;
}

// grad_x, and grad_logits when channel_logits is given.
std::tuple<Tensor, Tensor> launch_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                         const Tensor* channel_logits,
                                                         const Tensor& stats) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor s = stats.contiguous();
  const Tensor logits = channel_logits ? channel_logits->contiguous() : Tensor();
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  Tensor grad_x = at::empty(input.sizes(), input.options());
  Tensor grad_logits = channel_logits ? at::empty(logits.sizes(), logits.options()) : Tensor();
  if (images * positions == 0) {
    return {grad_x, grad_logits};
  }
  Tensor ties = at::empty({images, positions}, input.options().dtype(at::kInt));
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "spatial_stats_backward_cuda", [&] {
    const scalar_t* logits_ptr = channel_logits ? logits.const_data_ptr<scalar_t>() : nullptr;
    position_ties_kernel<<<blocks_for(images * positions), kThreads, 0, current_stream()>>>(
        input.const_data_ptr<scalar_t>(), logits_ptr, s.const_data_ptr<scalar_t>(),
        ties.mutable_data_ptr<int32_t>(), images, channels, positions);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    spatial_stats_backward_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), logits_ptr,
        s.const_data_ptr<scalar_t>(), ties.const_data_ptr<int32_t>(),
        grad_x.mutable_data_ptr<scalar_t>(), images, channels, positions);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (channel_logits) {
      gated_logits_backward_kernel<<<static_cast<unsigned>(images * channels), kThreads, 0,
                                     current_stream()>>>(
          g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), logits_ptr,
          s.const_data_ptr<scalar_t>(), ties.const_data_ptr<int32_t>(),
          grad_logits.mutable_data_ptr<scalar_t>(), channels, positions);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {grad_x, grad_logits};
}

}  // namespace

Tensor spatial_stats(const Tensor& x) {
  check_spatial_stats(x);
  return launch_spatial_stats(x, nullptr);
}

Tensor spatial_stats_backward(const Tensor& grad, const Tensor& x, const Tensor& stats) {
  check_spatial_stats_backward(grad, x, stats);
  return std::get<0>(launch_spatial_stats_backward(grad, x, nullptr, stats));
}

Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  check_gated_spatial_stats(x, channel_logits);
  return launch_spatial_stats(x, &channel_logits);
}

std::tuple<Tensor, Tensor> gated_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                        const Tensor& channel_logits,
                                                        const Tensor& stats) {
  check_gated_spatial_stats_backward(grad, x, channel_logits, stats);
  return launch_spatial_stats_backward(grad, x, &channel_logits, stats);
}

}  // namespace autola_mm::cuda
