// CUDA kernels of the fused CBAM backward (autola_mm.ops.cbam_attention):
// the channel logits' gradient through the gated channel pool, with the ties
// of each channel's maximum over H x W, reduced over each (n, c) row
// (reduce_rows), and the gradient of x from all uses of x in CBAM, written
// element-wise; both after counting the ties of each position's maximum
// over channels (position_ties).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"
#include "reductions.cuh"

namespace autola_mm::cuda {
namespace {

// grad_channel[nc] = sigmoid'(sum_p grad_y * x), with grad_y the gradient
// of the gated map y = x * s_c from the pool's, and channel_ties[nc] = the
// number of positions equal to the row's maximum.
template <typename scalar_t>
struct PoolLogitsGrad {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad_pooled;
  const scalar_t* x;
  const scalar_t* channel_logits;
  const scalar_t* pooled;
  const int32_t* position_ties;
  const scalar_t* channel_max;
  scalar_t* grad_channel;
  int32_t* channel_ties;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t nc, int64_t first, int64_t end,
                                   int64_t stride) const {
    const int64_t n = nc / channels;
    const scalar_t gate = gate_of(channel_logits[nc]);
    const scalar_t row_max = channel_max[nc];
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t p = first; p < end; p += stride) {
      const scalar_t value = x[nc * positions + p];
      partial.sum += pool_grad(grad_pooled, pooled, position_ties, gated(value, gate), n, p,
                               channels, positions) *
                     static_cast<acc_t>(value);
      partial.count += value == row_max;
    }
    return partial;
  }

  __device__ void finish(int64_t nc, const Partial<acc_t>& partial) const {
    grad_channel[nc] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(channel_logits[nc]))));
    channel_ties[nc] = static_cast<int32_t>(partial.count);
  }
};

template <typename scalar_t>
__global__ void input_grad_kernel(const scalar_t* grad, const scalar_t* x,
                                  const scalar_t* channel_logits, const scalar_t* spatial_logits,
                                  const scalar_t* pooled, const scalar_t* grad_pooled,
                                  const int32_t* position_ties, const scalar_t* channel_max,
                                  const int32_t* channel_ties, const scalar_t* grad_avg,
                                  const scalar_t* grad_max, scalar_t* grad_x, int64_t total,
                                  int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t nc = i / positions;
    const int64_t n = nc / channels;
    const int64_t p = i % positions;
    const scalar_t gate = gate_of(channel_logits[nc]);
    const acc_t spatial_gate = static_cast<acc_t>(gate_of(spatial_logits[n * positions + p]));
    const acc_t value = static_cast<acc_t>(x[i]);
    const acc_t grad_y1 =
        static_cast<acc_t>(static_cast<scalar_t>(static_cast<acc_t>(grad[i]) * spatial_gate));
    const acc_t through_gates = grad_y1 * static_cast<acc_t>(gate);
    const acc_t grad_y =
        pool_grad(grad_pooled, pooled, position_ties, gated(x[i], gate), n, p, channels, positions);
    const acc_t through_stats =
        static_cast<acc_t>(grad_avg[nc]) / static_cast<acc_t>(positions) +
        max_share(static_cast<acc_t>(grad_max[nc]) / static_cast<acc_t>(channel_ties[nc]), value,
                  static_cast<acc_t>(channel_max[nc]));
    grad_x[i] =
        static_cast<scalar_t>((through_gates + grad_y * static_cast<acc_t>(gate)) + through_stats);
  }
}

}  // namespace

std::tuple<Tensor, Tensor> cbam_backward_pool_logits(const Tensor& grad_pooled, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& pooled,
                                                     const Tensor& channel_max) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad_pooled.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor stats = pooled.contiguous();
  const Tensor row_max = channel_max.contiguous();
  Tensor grad_channel = at::empty(a_c.sizes(), a_c.options());
  Tensor channel_ties = at::empty(a_c.sizes(), a_c.options().dtype(at::kInt));
  const Tensor pool_ties = position_ties(input, &a_c, stats);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "cbam_backward_pool_logits_cuda", [&] {
    reduce_rows(PoolLogitsGrad<scalar_t>{g.const_data_ptr<scalar_t>(),
                                         input.const_data_ptr<scalar_t>(),
                                         a_c.const_data_ptr<scalar_t>(),
                                         stats.const_data_ptr<scalar_t>(),
                                         pool_ties.const_data_ptr<int32_t>(),
                                         row_max.const_data_ptr<scalar_t>(),
                                         grad_channel.mutable_data_ptr<scalar_t>(),
                                         channel_ties.mutable_data_ptr<int32_t>(), input.size(1),
                                         input.size(2) * input.size(3)},
                input.size(0) * input.size(1), input.size(2) * input.size(3));
  });
  return {grad_channel, channel_ties};
}

Tensor cbam_backward_input(const Tensor& grad, const Tensor& x, const Tensor& channel_logits,
                           const Tensor& spatial_logits, const Tensor& pooled,
                           const Tensor& grad_pooled, const Tensor& channel_max,
                           const Tensor& channel_ties, const Tensor& grad_avg,
                           const Tensor& grad_max) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  const Tensor stats = pooled.contiguous();
  const Tensor g_stats = grad_pooled.contiguous();
  const Tensor row_max = channel_max.contiguous();
  const Tensor ties = channel_ties.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  Tensor grad_x = at::empty(input.sizes(), input.options());
  if (input.numel() == 0) {
    return grad_x;
  }
  const Tensor pool_ties = position_ties(input, &a_c, stats);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "cbam_backward_input_cuda", [&] {
    input_grad_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
        stats.const_data_ptr<scalar_t>(), g_stats.const_data_ptr<scalar_t>(),
        pool_ties.const_data_ptr<int32_t>(), row_max.const_data_ptr<scalar_t>(),
        ties.const_data_ptr<int32_t>(), g_avg.const_data_ptr<scalar_t>(),
        g_max.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(), input.numel(),
        input.size(1), input.size(2) * input.size(3));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_x;
}

}  // namespace autola_mm::cuda
