// CUDA kernels of channel_stats: one block per (n, c) row reduces its H x W
// positions to their average and maximum; the backward counts the ties of
// the maximum, then writes the row's gradient.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"

namespace autola_mm::cuda {
namespace {

template <typename scalar_t>
__global__ void channel_stats_kernel(const scalar_t* x, scalar_t* avg, scalar_t* max,
                                     int64_t length) {
  using acc_t = at::acc_type<scalar_t, true>;
  __shared__ acc_t shared[kThreads / kWarp];
  const scalar_t* row = x + static_cast<int64_t>(blockIdx.x) * length;
  acc_t sum = 0;
  acc_t row_max = static_cast<acc_t>(row[0]);
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) {
    const acc_t value = static_cast<acc_t>(row[i]);
    sum += value;
    row_max = nan_max(row_max, value);
  }
  sum = block_reduce(sum, SumOp<acc_t>(), shared);
  row_max = block_reduce(row_max, NanMaxOp<acc_t>(), shared);
  if (threadIdx.x == 0) {
    avg[blockIdx.x] = static_cast<scalar_t>(sum / static_cast<acc_t>(length));
    max[blockIdx.x] = static_cast<scalar_t>(row_max);
  }
}

template <typename scalar_t>
__global__ void channel_stats_backward_kernel(const scalar_t* grad_avg, const scalar_t* grad_max,
                                              const scalar_t* x, const scalar_t* max,
                                              scalar_t* grad_x, int64_t length) {
  using acc_t = at::acc_type<scalar_t, true>;
  __shared__ int64_t shared[kThreads / kWarp];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * length;
  const scalar_t row_max = max[blockIdx.x];
  int64_t ties = 0;
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) {
    ties += x[offset + i] == row_max;
  }
  ties = block_reduce(ties, SumOp<int64_t>(), shared);
  const acc_t mean_share =
      static_cast<acc_t>(grad_avg[blockIdx.x]) / static_cast<acc_t>(length);
  const acc_t grad_over_ties = static_cast<acc_t>(grad_max[blockIdx.x]) / static_cast<acc_t>(ties);
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) {
    const acc_t value = static_cast<acc_t>(x[offset + i]);
    grad_x[offset + i] = static_cast<scalar_t>(
        mean_share + max_share(grad_over_ties, value, static_cast<acc_t>(row_max)));
  }
}

}  // namespace

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x) {
  check_channel_stats(x);
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const int64_t rows = input.size(0) * input.size(1);
  Tensor avg = at::empty({input.size(0), input.size(1), 1, 1}, input.options());
  Tensor max = at::empty_like(avg);
  if (rows > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_stats_cuda", [&] {
      channel_stats_kernel<<<static_cast<unsigned>(rows), kThreads, 0, current_stream()>>>(
          input.const_data_ptr<scalar_t>(), avg.mutable_data_ptr<scalar_t>(),
          max.mutable_data_ptr<scalar_t>(), input.size(2) * input.size(3));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {avg, max};
}

Tensor channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max, const Tensor& x,
                              const Tensor& max) {
  check_channel_stats_backward(grad_avg, grad_max, x, max);
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  const Tensor row_max = max.contiguous();
  const int64_t rows = input.size(0) * input.size(1);
  Tensor grad_x = at::empty(input.sizes(), input.options());
  if (rows > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_stats_backward_cuda", [&] {
      channel_stats_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, current_stream()>>>(
          g_avg.const_data_ptr<scalar_t>(), g_max.const_data_ptr<scalar_t>(),
          input.const_data_ptr<scalar_t>(), row_max.const_data_ptr<scalar_t>(),
          grad_x.mutable_data_ptr<scalar_t>(), input.size(2) * input.size(3));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return grad_x;
}

}  // namespace autola_mm::cuda
