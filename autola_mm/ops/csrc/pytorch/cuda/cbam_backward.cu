// CUDA kernels of the fused CBAM backward (autola_mm.ops.cbam_attention):
// the channel logits' gradient through the gated channel pool (one block per
// (n, c), which also counts the ties of the channel's maximum over H x W),
// and the gradient of x from all uses of x in CBAM, written element-wise
// after counting the ties of each position's maximum over channels.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"

namespace autola_mm::cuda {
namespace {

// The gradient of the gated map y at (n, c, p) from the pool's gradient.
template <typename scalar_t>
__device__ at::acc_type<scalar_t, true> gated_pool_grad(const scalar_t* grad_pooled,
                                                        const scalar_t* pooled,
                                                        const int32_t* position_ties,
                                                        at::acc_type<scalar_t, true> y, int64_t n,
                                                        int64_t p, int64_t channels,
                                                        int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  const acc_t grad_max = static_cast<acc_t>(grad_pooled[n * 2 * positions + p]);
  const acc_t grad_mean = static_cast<acc_t>(grad_pooled[(n * 2 + 1) * positions + p]);
  const acc_t max = static_cast<acc_t>(pooled[n * 2 * positions + p]);
  return grad_mean / static_cast<acc_t>(channels) +
         max_share(grad_max / static_cast<acc_t>(position_ties[n * positions + p]), y, max);
}

template <typename scalar_t>
__global__ void pool_logits_kernel(const scalar_t* grad_pooled, const scalar_t* x,
                                   const scalar_t* channel_logits, const scalar_t* pooled,
                                   const int32_t* position_ties, const scalar_t* channel_max,
                                   scalar_t* grad_channel, int32_t* channel_ties,
                                   int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  __shared__ acc_t shared_sum[kThreads / kWarp];
  __shared__ int32_t shared_ties[kThreads / kWarp];
  const int64_t nc = blockIdx.x;
  const int64_t n = nc / channels;
  const scalar_t gate = gate_of(channel_logits[nc]);
  const scalar_t row_max = channel_max[nc];
  acc_t sum = 0;
  int32_t ties = 0;
  for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
    const scalar_t value = x[nc * positions + p];
    sum += gated_pool_grad(grad_pooled, pooled, position_ties, gated(value, gate), n, p, channels,
                           positions) *
           static_cast<acc_t>(value);
    ties += value == row_max;
  }
  sum = block_reduce(sum, SumOp<acc_t>(), shared_sum);
  ties = block_reduce(ties, SumOp<int32_t>(), shared_ties);
  if (threadIdx.x == 0) {
    grad_channel[nc] = static_cast<scalar_t>(sigmoid_backward(sum, static_cast<acc_t>(gate)));
    channel_ties[nc] = ties;
  }
}

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
    const acc_t grad_y = gated_pool_grad(grad_pooled, pooled, position_ties, gated(x[i], gate), n,
                                         p, channels, positions);
    const acc_t through_stats =
        static_cast<acc_t>(grad_avg[nc]) / static_cast<acc_t>(positions) +
        max_share(static_cast<acc_t>(grad_max[nc]) / static_cast<acc_t>(channel_ties[nc]), value,
                  static_cast<acc_t>(channel_max[nc]));
    grad_x[i] =
        static_cast<scalar_t>((through_gates + grad_y * static_cast<acc_t>(gate)) + through_stats);
  }
}

Tensor count_position_ties(const Tensor& x, const Tensor& channel_logits, const Tensor& pooled) {
  const int64_t images = x.size(0), channels = x.size(1);
  const int64_t positions = x.size(2) * x.size(3);
  Tensor ties = at::empty({images, positions}, x.options().dtype(at::kInt));
  if (images * positions > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(x.scalar_type(), "cbam_position_ties_cuda", [&] {
      position_ties_kernel<<<blocks_for(images * positions), kThreads, 0, current_stream()>>>(
          x.const_data_ptr<scalar_t>(), channel_logits.const_data_ptr<scalar_t>(),
          pooled.const_data_ptr<scalar_t>(), ties.mutable_data_ptr<int32_t>(), images, channels,
          positions);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return ties;
}

}  // namespace

std::tuple<Tensor, Tensor> cbam_backward_pool_logits(const Tensor& grad_pooled, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& pooled,
                                                     const Tensor& channel_max) {
  check_cbam_backward_pool_logits(grad_pooled, x, channel_logits, pooled, channel_max);
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad_pooled.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor stats = pooled.contiguous();
  const Tensor row_max = channel_max.contiguous();
  Tensor grad_channel = at::empty(a_c.sizes(), a_c.options());
  Tensor channel_ties = at::empty(a_c.sizes(), a_c.options().dtype(at::kInt));
  const int64_t rows = input.size(0) * input.size(1);
  if (rows == 0) {
    return {grad_channel, channel_ties};
  }
  const Tensor position_ties = count_position_ties(input, a_c, stats);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "cbam_backward_pool_logits_cuda", [&] {
    pool_logits_kernel<<<static_cast<unsigned>(rows), kThreads, 0, current_stream()>>>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), stats.const_data_ptr<scalar_t>(),
        position_ties.const_data_ptr<int32_t>(), row_max.const_data_ptr<scalar_t>(),
        grad_channel.mutable_data_ptr<scalar_t>(), channel_ties.mutable_data_ptr<int32_t>(),
        input.size(1), input.size(2) * input.size(3));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_channel, channel_ties};
}

Tensor cbam_backward_input(const Tensor& grad, const Tensor& x, const Tensor& channel_logits,
                           const Tensor& spatial_logits, const Tensor& pooled,
                           const Tensor& grad_pooled, const Tensor& channel_max,
                           const Tensor& channel_ties, const Tensor& grad_avg,
                           const Tensor& grad_max) {
  check_cbam_backward_input(grad, x, channel_logits, spatial_logits, pooled, grad_pooled,
                            channel_max, channel_ties, grad_avg, grad_max);
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
  const Tensor position_ties = count_position_ties(input, a_c, stats);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "cbam_backward_input_cuda", [&] {
    input_grad_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
        stats.const_data_ptr<scalar_t>(), g_stats.const_data_ptr<scalar_t>(),
        position_ties.const_data_ptr<int32_t>(), row_max.const_data_ptr<scalar_t>(),
        ties.const_data_ptr<int32_t>(), g_avg.const_data_ptr<scalar_t>(),
        g_max.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(), input.numel(),
        input.size(1), input.size(2) * input.size(3));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_x;
}

}  // namespace autola_mm::cuda
