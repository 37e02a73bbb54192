// CUDA kernels of channel_spatial_gate, CBAM's two gates
// x * sigmoid(channel_logits) * sigmoid(spatial_logits): element-wise
// forward; the backward writes the gradient of x and reduces the spatial
// logits' gradient with one thread per (n, position), and reduces the
// channel logits' gradient with one block per (n, c). Without the gradient
// of x it is the first step of the fused CBAM backward.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"

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

// With y = x * s_c: grad_x = (grad * s_s) * s_c (when grad_x is given) and
// grad_spatial = sigmoid'(sum_c grad * y); one thread per (n, position).
template <typename scalar_t>
__global__ void spatial_pass_kernel(const scalar_t* grad, const scalar_t* x,
                                    const scalar_t* channel_logits,
                                    const scalar_t* spatial_logits, scalar_t* grad_x,
                                    scalar_t* grad_spatial, int64_t images, int64_t channels,
                                    int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t total = images * positions;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t n = i / positions;
    const int64_t p = i % positions;
    const acc_t spatial_gate = static_cast<acc_t>(gate_of(spatial_logits[i]));
    acc_t sum = 0;
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t e = (n * channels + c) * positions + p;
      const scalar_t gate = gate_of(channel_logits[n * channels + c]);
      const acc_t g = static_cast<acc_t>(grad[e]);
      sum += g * gated(x[e], gate);
      if (grad_x != nullptr) {
        const acc_t grad_y = static_cast<acc_t>(static_cast<scalar_t>(g * spatial_gate));
        grad_x[e] = static_cast<scalar_t>(grad_y * static_cast<acc_t>(gate));
      }
    }
    grad_spatial[i] = static_cast<scalar_t>(sigmoid_backward(sum, spatial_gate));
  }
}

// grad_channel = sigmoid'(sum_p (grad * s_s) * x); one block per (n, c).
template <typename scalar_t>
__global__ void channel_pass_kernel(const scalar_t* grad, const scalar_t* x,
                                    const scalar_t* channel_logits,
                                    const scalar_t* spatial_logits, scalar_t* grad_channel,
                                    int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  __shared__ acc_t shared[kThreads / kWarp];
  const int64_t nc = blockIdx.x;
  const int64_t n = nc / channels;
  acc_t sum = 0;
  for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
    const int64_t e = nc * positions + p;
    const acc_t spatial_gate = static_cast<acc_t>(gate_of(spatial_logits[n * positions + p]));
    const acc_t grad_y =
        static_cast<acc_t>(static_cast<scalar_t>(static_cast<acc_t>(grad[e]) * spatial_gate));
    sum += grad_y * static_cast<acc_t>(x[e]);
  }
  sum = block_reduce(sum, SumOp<acc_t>(), shared);
  if (threadIdx.x == 0) {
    grad_channel[nc] = static_cast<scalar_t>(
        sigmoid_backward(sum, static_cast<acc_t>(gate_of(channel_logits[nc]))));
  }
}

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
  Tensor grad_channel = at::zeros(a_c.sizes(), a_c.options());
  Tensor grad_spatial = at::zeros(a_s.sizes(), a_s.options());
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  if (input.numel() == 0) {
    return {grad_x, grad_channel, grad_spatial};
  }
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "channel_spatial_gate_backward_cuda", [&] {
    spatial_pass_kernel<<<blocks_for(images * positions), kThreads, 0, current_stream()>>>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
        with_grad_x ? grad_x.mutable_data_ptr<scalar_t>() : nullptr,
        grad_spatial.mutable_data_ptr<scalar_t>(), images, channels, positions);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    channel_pass_kernel<<<static_cast<unsigned>(images * channels), kThreads, 0,
                          current_stream()>>>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
        grad_channel.mutable_data_ptr<scalar_t>(), channels, positions);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_x, grad_channel, grad_spatial};
}

}  // namespace

Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits) {
  check_channel_spatial_gate(x, channel_logits, spatial_logits);
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
  check_channel_spatial_gate_backward(grad, x, channel_logits, spatial_logits);
  return launch_backward(grad, x, channel_logits, spatial_logits, true);
}

std::tuple<Tensor, Tensor> cbam_backward_gate_logits(const Tensor& grad, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& spatial_logits) {
  check_channel_spatial_gate_backward(grad, x, channel_logits, spatial_logits);
  auto [grad_x, grad_channel, grad_spatial] =
      launch_backward(grad, x, channel_logits, spatial_logits, false);
  return {grad_channel, grad_spatial};
}

}  // namespace autola_mm::cuda
