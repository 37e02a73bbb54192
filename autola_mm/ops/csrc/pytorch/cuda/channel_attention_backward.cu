// CUDA kernels of the fused channel attention backward
// (autola_mm.ops.channel_attention, SE and SE_A_M): the channel logit's
// gradient and the ties of the row's maximum, reduced over each (n, c) row
// (reduce_rows); the gradient of x from the gate and the channel pool is
// then written element-wise.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"
#include "reductions.cuh"

namespace autola_mm::cuda {
namespace {

// grad_logits[row] = sigmoid'(sum_p grad * x) and channel_ties[row] = the
// number of positions equal to the row's maximum.
template <typename scalar_t>
struct LogitsGrad {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad;
  const scalar_t* x;
  const scalar_t* logits;
  const scalar_t* channel_max;
  scalar_t* grad_logits;
  int32_t* channel_ties;
  int64_t length;

  __device__ Partial<acc_t> reduce(int64_t row, int64_t first, int64_t end,
                                   int64_t stride) const {
    const scalar_t row_max = channel_max[row];
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t j = first; j < end; j += stride) {
      const scalar_t value = x[row * length + j];
      partial.sum += static_cast<acc_t>(grad[row * length + j]) * static_cast<acc_t>(value);
      partial.count += value == row_max;
    }
    return partial;
  }

  __device__ void finish(int64_t row, const Partial<acc_t>& partial) const {
    grad_logits[row] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(logits[row]))));
    channel_ties[row] = static_cast<int32_t>(partial.count);
  }
};

template <typename scalar_t>
__global__ void input_kernel(const scalar_t* grad, const scalar_t* x, const scalar_t* logits,
                             const scalar_t* channel_max, const int32_t* channel_ties,
                             const scalar_t* grad_avg, const scalar_t* grad_max, scalar_t* grad_x,
                             int64_t total, int64_t length) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t row = i / length;
    const acc_t gate = static_cast<acc_t>(gate_of(logits[row]));
    const acc_t through_gate =
        static_cast<acc_t>(static_cast<scalar_t>(static_cast<acc_t>(grad[i]) * gate));
    const acc_t through_stats =
        static_cast<acc_t>(grad_avg[row]) / static_cast<acc_t>(length) +
        max_share(static_cast<acc_t>(grad_max[row]) / static_cast<acc_t>(channel_ties[row]),
                  static_cast<acc_t>(x[i]), static_cast<acc_t>(channel_max[row]));
    grad_x[i] = static_cast<scalar_t>(through_gate + through_stats);
  }
}

}  // namespace

std::tuple<Tensor, Tensor> channel_attention_backward_logits(const Tensor& grad, const Tensor& x,
                                                             const Tensor& logits,
                                                             const Tensor& channel_max) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a = logits.contiguous();
  const Tensor row_max = channel_max.contiguous();
  Tensor grad_logits = at::empty(a.sizes(), a.options());
  Tensor channel_ties = at::empty(a.sizes(), a.options().dtype(at::kInt));
  const int64_t length = input.size(2) * input.size(3);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_attention_logits_cuda", [&] {
    reduce_rows(LogitsGrad<scalar_t>{g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                                     a.const_data_ptr<scalar_t>(),
                                     row_max.const_data_ptr<scalar_t>(),
                                     grad_logits.mutable_data_ptr<scalar_t>(),
                                     channel_ties.mutable_data_ptr<int32_t>(), length},
                input.size(0) * input.size(1), length);
  });
  return {grad_logits, channel_ties};
}

Tensor channel_attention_backward_input(const Tensor& grad, const Tensor& x,
                                        const Tensor& logits, const Tensor& channel_max,
                                        const Tensor& channel_ties, const Tensor& grad_avg,
                                        const Tensor& grad_max) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a = logits.contiguous();
  const Tensor row_max = channel_max.contiguous();
  const Tensor ties = channel_ties.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  Tensor grad_x = at::empty(input.sizes(), input.options());
  if (input.numel() > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_attention_input_cuda", [&] {
      input_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
          g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
          a.const_data_ptr<scalar_t>(), row_max.const_data_ptr<scalar_t>(),
          ties.const_data_ptr<int32_t>(), g_avg.const_data_ptr<scalar_t>(),
          g_max.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(), input.numel(),
          input.size(2) * input.size(3));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return grad_x;
}

}  // namespace autola_mm::cuda
