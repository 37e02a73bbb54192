// CUDA kernels of channel_spatial_gate, CBAM's two gates
// x * sigmoid(channel_logits) * sigmoid(spatial_logits): element-wise
// forward; the backward reduces the spatial logits' gradient over the
// channels at each (n, position) (reduce_columns), writing the gradient of
// x on the way, and the channel logits' gradient over each (n, c) row
// (reduce_rows). Without the gradient of x it is the first step of the
// fused CBAM backward.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"
#include "reductions.cuh"

namespace autola_mm::cuda {
namespace {

template <typename scalar_t>
__global__ void channel_spatial_gate_kernel(const scalar_t* x, const scalar_t* channel_logits,
                                            const scalar_t* spatial_logits, scalar_t* out,
                                            int64_t total, int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t nc = i / positions;
    const int64_t np = (nc / channels) * positions + i % positions;
    const acc_t y = gated(x[i], gate_of(channel_logits[nc]));
    out[i] = static_cast<scalar_t>(y * static_cast<acc_t>(gate_of(spatial_logits[np])));
  }
}

// With y = x * s_c: grad_spatial[column] = sigmoid'(sum_c grad * y) over
// the channels at the column n * positions + p, and, when grad_x is given,
// grad_x = (grad * s_s) * s_c at each element on the way.
template <typename scalar_t>
struct SpatialPass {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad;
  const scalar_t* x;
  const scalar_t* channel_logits;
  const scalar_t* spatial_logits;
  scalar_t* grad_x;
  scalar_t* grad_spatial;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t column, int64_t begin, int64_t end) const {
    const int64_t n = column / positions;
    const int64_t first = n * channels * positions + column % positions;
    const acc_t spatial_gate = static_cast<acc_t>(gate_of(spatial_logits[column]));
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t c = begin; c < end; ++c) {
      const int64_t e = first + c * positions;
      const scalar_t gate = gate_of(channel_logits[n * channels + c]);
      const acc_t g = static_cast<acc_t>(grad[e]);
      partial.sum += g * gated(x[e], gate);
      if (grad_x != nullptr) {
        const acc_t grad_y = static_cast<acc_t>(static_cast<scalar_t>(g * spatial_gate));
        grad_x[e] = static_cast<scalar_t>(grad_y * static_cast<acc_t>(gate));
      }
    }
    return partial;
  }

  __device__ void finish(int64_t column, const Partial<acc_t>& partial) const {
    grad_spatial[column] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(spatial_logits[column]))));
  }
};

// grad_channel[nc] = sigmoid'(sum_p (grad * s_s) * x) over the row nc.
template <typename scalar_t>
struct ChannelPass {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad;
  const scalar_t* x;
  const scalar_t* channel_logits;
  const scalar_t* spatial_logits;
  scalar_t* grad_channel;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t nc, int64_t first, int64_t end,
                                   int64_t stride) const {
    const scalar_t* image_logits = spatial_logits + (nc / channels) * positions;
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t p = first; p < end; p += stride) {
      const int64_t e = nc * positions + p;
      const acc_t spatial_gate = static_cast<acc_t>(gate_of(image_logits[p]));
      const acc_t grad_y =
          static_cast<acc_t>(static_cast<scalar_t>(static_cast<acc_t>(grad[e]) * spatial_gate));
      partial.sum += grad_y * static_cast<acc_t>(x[e]);
    }
    return partial;
  }

  __device__ void finish(int64_t nc, const Partial<acc_t>& partial) const {
    grad_channel[nc] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(channel_logits[nc]))));
  }
};

// The three gradients; grad_x is undefined without with_grad_x. A logit
// whose gate covers no element (H * W = 0 for the channel logits, C = 0 for
// the spatial ones) gets sigmoid_backward(0, s) = 0, as on the CPU.
std::tuple<Tensor, Tensor, Tensor> launch_backward(const Tensor& grad, const Tensor& x,
                                                   const Tensor& channel_logits,
                                                   const Tensor& spatial_logits,
                                                   bool with_grad_x) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  Tensor grad_x = with_grad_x ? at::empty(input.sizes(), input.options()) : Tensor();
  Tensor grad_channel = at::empty(a_c.sizes(), a_c.options());
  Tensor grad_spatial = at::empty(a_s.sizes(), a_s.options());
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_spatial_gate_backward_cuda", [&] {
    reduce_columns(
        SpatialPass<scalar_t>{g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                              a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
                              with_grad_x ? grad_x.mutable_data_ptr<scalar_t>() : nullptr,
                              grad_spatial.mutable_data_ptr<scalar_t>(), channels, positions},
        images * positions, channels);
    reduce_rows(
        ChannelPass<scalar_t>{g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                              a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
                              grad_channel.mutable_data_ptr<scalar_t>(), channels, positions},
        images * channels, positions);
  });
  return {grad_x, grad_channel, grad_spatial};
}

}  // namespace

Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  Tensor out = at::empty(input.sizes(), input.options());
  if (input.numel() > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_spatial_gate_cuda", [&] {
      channel_spatial_gate_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
          input.const_data_ptr<scalar_t>(), a_c.const_data_ptr<scalar_t>(),
          a_s.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), input.numel(),
          input.size(1), input.size(2) * input.size(3));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return out;
}

std::tuple<Tensor, Tensor, Tensor> channel_spatial_gate_backward(const Tensor& grad,
                                                                 const Tensor& x,
                                                                 const Tensor& channel_logits,
                                                                 const Tensor& spatial_logits) {
  return launch_backward(grad, x, channel_logits, spatial_logits, true);
}

std::tuple<Tensor, Tensor> cbam_backward_gate_logits(const Tensor& grad, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& spatial_logits) {
  auto [grad_x, grad_channel, grad_spatial] =
      launch_backward(grad, x, channel_logits, spatial_logits, false);
  return {grad_channel, grad_spatial};
}

}  // namespace autola_mm::cuda
