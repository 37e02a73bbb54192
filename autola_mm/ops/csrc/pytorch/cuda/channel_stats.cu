// CUDA kernels of channel_stats: the average and the maximum of each (n, c)
// row over its H x W positions (reduce_rows); the backward counts the ties
// of each row's maximum the same way, then writes the gradient element-wise.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"
#include "reductions.cuh"

namespace autola_mm::cuda {
namespace {

template <typename scalar_t>
struct RowStats {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* x;
  scalar_t* avg;
  scalar_t* max;
  int64_t length;

  __device__ Partial<acc_t> reduce(int64_t row, int64_t first, int64_t end,
                                   int64_t stride) const {
    const scalar_t* values = x + row * length;
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t i = first; i < end; i += stride) {
      const acc_t value = static_cast<acc_t>(values[i]);
      partial.sum += value;
      partial.max = nan_max(partial.max, value);
    }
    return partial;
  }

  __device__ void finish(int64_t row, const Partial<acc_t>& partial) const {
    avg[row] = static_cast<scalar_t>(partial.sum / static_cast<acc_t>(length));
    max[row] = static_cast<scalar_t>(partial.max);
  }
};

// ties[row] = the number of positions of the row equal to its maximum.
template <typename scalar_t>
struct RowTies {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* x;
  const scalar_t* max;
  int32_t* ties;
  int64_t length;

  __device__ Partial<acc_t> reduce(int64_t row, int64_t first, int64_t end,
                                   int64_t stride) const {
    const scalar_t* values = x + row * length;
    const scalar_t row_max = max[row];
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t i = first; i < end; i += stride) {
      partial.count += values[i] == row_max;
    }
    return partial;
  }

  __device__ void finish(int64_t row, const Partial<acc_t>& partial) const {
    ties[row] = static_cast<int32_t>(partial.count);
  }
};

template <typename scalar_t>
__global__ void channel_stats_backward_kernel(const scalar_t* grad_avg, const scalar_t* grad_max,
                                              const scalar_t* x, const scalar_t* max,
                                              const int32_t* ties, scalar_t* grad_x,
                                              int64_t total, int64_t length) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t row = i / length;
    const acc_t mean_share = static_cast<acc_t>(grad_avg[row]) / static_cast<acc_t>(length);
    const acc_t grad_over_ties =
        static_cast<acc_t>(grad_max[row]) / static_cast<acc_t>(ties[row]);
    grad_x[i] = static_cast<scalar_t>(
        mean_share +
        max_share(grad_over_ties, static_cast<acc_t>(x[i]), static_cast<acc_t>(max[row])));
  }
}

}  // namespace

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const int64_t rows = input.size(0) * input.size(1);
  const int64_t length = input.size(2) * input.size(3);
  Tensor avg = at::empty({input.size(0), input.size(1), 1, 1}, input.options());
  Tensor max = at::empty_like(avg);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_stats_cuda", [&] {
    reduce_rows(RowStats<scalar_t>{input.const_data_ptr<scalar_t>(),
                                   avg.mutable_data_ptr<scalar_t>(),
                                   max.mutable_data_ptr<scalar_t>(), length},
                rows, length);
  });
  return {avg, max};
}

Tensor channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max, const Tensor& x,
                              const Tensor& max) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  const Tensor row_max = max.contiguous();
  const int64_t rows = input.size(0) * input.size(1);
  const int64_t length = input.size(2) * input.size(3);
  Tensor grad_x = at::empty(input.sizes(), input.options());
  if (input.numel() == 0) {
    return grad_x;
  }
  Tensor ties = at::empty({rows}, input.options().dtype(at::kInt));
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_stats_backward_cuda", [&] {
    reduce_rows(RowTies<scalar_t>{input.const_data_ptr<scalar_t>(),
                                  row_max.const_data_ptr<scalar_t>(),
                                  ties.mutable_data_ptr<int32_t>(), length},
                rows, length);
    channel_stats_backward_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
        g_avg.const_data_ptr<scalar_t>(), g_max.const_data_ptr<scalar_t>(),
        input.const_data_ptr<scalar_t>(), row_max.const_data_ptr<scalar_t>(),
        ties.const_data_ptr<int32_t>(), grad_x.mutable_data_ptr<scalar_t>(), input.numel(),
        length);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_x;
}

}  // namespace autola_mm::cuda
