// CUDA kernels of same_conv2d, the stride-1, size-keeping, grouped
// convolution of HOGA's depthwise and channel-pool convolutions: one thread
// per output element sums its taps (the input gradient is the forward with
// the adjoint kernel, same_conv2d_adjoint.cpp); the weight gradient reduces
// each weight's products over images and positions with one block per weight.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../../common/same_conv_math.h"
#include "../attention_core.h"
#include "cuda_helpers.cuh"

namespace autola_mm::cuda {
namespace {

struct ConvDims {
  int64_t images, in_channels, out_channels, height, width, kernel_h, kernel_w, dilation,
      groups;
};

ConvDims dims_of(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  return {x.size(0),      x.size(1),      weight.size(0), x.size(2), x.size(3),
          weight.size(2), weight.size(3), dilation,       groups};
}

template <typename scalar_t>
__global__ void same_conv2d_kernel(const scalar_t* x, const scalar_t* weight, scalar_t* out,
                                   ConvDims d) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t in_per_group = d.in_channels / d.groups;
  const int64_t out_per_group = d.out_channels / d.groups;
  const int64_t total = d.images * d.out_channels * d.height * d.width;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t w = e % d.width;
    const int64_t h = e / d.width % d.height;
    const int64_t o = e / (d.width * d.height) % d.out_channels;
    const int64_t n = e / (d.width * d.height * d.out_channels);
    acc_t sum = 0;
    for (int64_t i = 0; i < in_per_group; ++i) {
      const int64_t channel = o / out_per_group * in_per_group + i;
      const scalar_t* src = x + (n * d.in_channels + channel) * d.height * d.width;
      const scalar_t* taps = weight + (o * in_per_group + i) * d.kernel_h * d.kernel_w;
      for (int64_t kh = 0; kh < d.kernel_h; ++kh) {
        const int64_t y = h + tap_offset(kh, d.kernel_h, d.dilation);
        if (y < 0 || y >= d.height) continue;
        for (int64_t kw = 0; kw < d.kernel_w; ++kw) {
          const int64_t xw = w + tap_offset(kw, d.kernel_w, d.dilation);
          if (xw < 0 || xw >= d.width) continue;
          sum += static_cast<acc_t>(taps[kh * d.kernel_w + kw]) *
                 static_cast<acc_t>(src[y * d.width + xw]);
        }
      }
    }
    out[e] = static_cast<scalar_t>(sum);
  }
}

// One block per weight (o, i, kh, kw).
template <typename scalar_t>
__global__ void same_conv2d_weight_grad_kernel(const scalar_t* grad, const scalar_t* x,
                                               scalar_t* grad_weight, ConvDims d) {
  using acc_t = at::acc_type<scalar_t, true>;
  __shared__ acc_t shared[kThreads / kWarp];
  const int64_t in_per_group = d.in_channels / d.groups;
  const int64_t out_per_group = d.out_channels / d.groups;
  const int64_t taps = d.kernel_h * d.kernel_w;
  const int64_t index = blockIdx.x;
  const int64_t t = index % taps;
  const int64_t i = index / taps % in_per_group;
  const int64_t o = index / (taps * in_per_group);
  const int64_t channel = o / out_per_group * in_per_group + i;
  const int64_t dy = tap_offset(t / d.kernel_w, d.kernel_h, d.dilation);
  const int64_t dx = tap_offset(t % d.kernel_w, d.kernel_w, d.dilation);
  const int64_t h0 = first_valid(dy, d.height), h1 = last_valid(dy, d.height);
  const int64_t w0 = first_valid(dx, d.width), w1 = last_valid(dx, d.width);
  const int64_t rows = h1 > h0 ? h1 - h0 : 0;
  const int64_t cols = w1 > w0 ? w1 - w0 : 0;
  const int64_t count = d.images * rows * cols;
  acc_t sum = 0;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t w = w0 + e % cols;
    const int64_t h = h0 + e / cols % rows;
    const int64_t n = e / (cols * rows);
    const int64_t plane = d.height * d.width;
    sum += static_cast<acc_t>(grad[(n * d.out_channels + o) * plane + h * d.width + w]) *
           static_cast<acc_t>(x[(n * d.in_channels + channel) * plane + (h + dy) * d.width +
                                w + dx]);
  }
  sum = block_reduce(sum, SumOp<acc_t>(), shared);
  if (threadIdx.x == 0) {
    grad_weight[index] = static_cast<scalar_t>(sum);
  }
}

}  // namespace

Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  check_same_conv2d(x, weight, dilation, groups);
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor w = weight.contiguous();
  const ConvDims d = dims_of(input, w, dilation, groups);
  Tensor out = at::empty({d.images, d.out_channels, d.height, d.width}, input.options());
  if (out.numel() > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "same_conv2d_cuda", [&] {
      same_conv2d_kernel<<<blocks_for(out.numel()), kThreads, 0, current_stream()>>>(
          input.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(),
          out.mutable_data_ptr<scalar_t>(), d);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return out;
}

Tensor same_conv2d_backward_input(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                  int64_t dilation, int64_t groups) {
  check_same_conv2d_backward(grad, x, weight, dilation, groups);
  return same_conv2d(grad, same_conv2d_adjoint_weight(weight, groups), dilation, groups);
}

Tensor same_conv2d_backward_weight(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                   int64_t dilation, int64_t groups) {
  check_same_conv2d_backward(grad, x, weight, dilation, groups);
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor g = grad.contiguous();
  const Tensor input = x.contiguous();
  const ConvDims d = dims_of(input, weight, dilation, groups);
  Tensor grad_weight = at::empty(weight.sizes(), weight.options());
  if (grad_weight.numel() > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(x.scalar_type(), "same_conv2d_backward_weight_cuda", [&] {
      same_conv2d_weight_grad_kernel<<<static_cast<unsigned>(grad_weight.numel()), kThreads, 0,
                                       current_stream()>>>(
          g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
          grad_weight.mutable_data_ptr<scalar_t>(), d);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return grad_weight;
}

}  // namespace autola_mm::cuda
