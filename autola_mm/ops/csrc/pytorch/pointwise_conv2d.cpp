// pointwise_conv2d: the 1 x 1 convolution of HOGA's projection and of its
// gates' pointwise convolutions ("Auto Learning Attention", NeurIPS 2020),
// as matrix products over (N, C, H * W) views of the NCHW maps. oneDNN, which
// runs torch's conv2d on the CPU, reorders NCHW maps to and from its blocked
// layout around every 1 x 1 convolution; a batched product reads them in
// place (N=16, 320 -> 256 channels, 56 x 56, 2 threads: forward and backward
// about 190 ms against 350 ms). The same code serves CPU and CUDA tensors
// (the products run on MKL or cuBLAS); large CPU outputs are allocated as
// the attention core's are (new_output.h).
#include <ATen/ops/bmm.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>

#include "attention_core.h"
#include "new_output.h"

namespace autola_mm::gemm {
namespace {

// The (N, C, H * W) view of an (N, C, H, W) map (a copy only when its
// images are not (C, H, W) blocks, e.g. channels-last).
Tensor flat_positions(const Tensor& x) {
  return x.reshape({x.size(0), x.size(1), x.size(2) * x.size(3)});
}

// The (out, in) weight matrix repeated (stride 0) for each of `images`, so
// that one batched product covers the batch without folding the maps into
// a transposed copy, as at::matmul of a matrix and a batch would.
Tensor batched(const Tensor& matrix, int64_t images) {
  return matrix.expand({images, matrix.size(0), matrix.size(1)});
}

Tensor weight_matrix(const Tensor& weight) {
  return weight.reshape({weight.size(0), weight.size(1)});
}

// The (C, N * H * W) matrix of an (N, C, H, W) map: a view for one image or
// a channels-last map, a copy otherwise.
Tensor channels_by_positions(const Tensor& x) {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2) * x.size(3)});
}

}  // namespace

Tensor pointwise_conv2d(const Tensor& x, const Tensor& weight) {
  Tensor out = new_output({x.size(0), weight.size(0), x.size(2), x.size(3)}, x.options());
  Tensor flat_out = out.view({x.size(0), weight.size(0), x.size(2) * x.size(3)});
  at::bmm_out(flat_out, batched(weight_matrix(weight), x.size(0)), flat_positions(x));
  return out;
}

Tensor pointwise_conv2d_backward_input(const Tensor& grad, const Tensor& x,
                                       const Tensor& weight) {
  Tensor grad_x = new_output(x.sizes(), x.options());
  Tensor flat_grad_x = grad_x.view({x.size(0), x.size(1), x.size(2) * x.size(3)});
  at::bmm_out(flat_grad_x, batched(weight_matrix(weight).t(), x.size(0)), flat_positions(grad));
  return grad_x;
}

Tensor pointwise_conv2d_backward_weight(const Tensor& grad, const Tensor& x,
                                        const Tensor& weight) {
  // float16 and bfloat16: one product over the whole batch (K = N * H * W),
  // which accumulates in float32 and rounds once, where a product per image
  // would round the gradient of every image to the low precision.
  if (x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16) {
    return at::mm(channels_by_positions(grad), channels_by_positions(x).t())
        .view(weight.sizes());
  }
  const Tensor g = flat_positions(grad);
  const Tensor input = flat_positions(x);
  const int64_t images = x.size(0), positions = x.size(2) * x.size(3);
  // One batched product and a sum over images when the per-image products
  // take no more memory than the gradient itself (few input channels per
  // position); otherwise one product per image, accumulated in place.
  if (x.size(1) <= positions) {
    return at::bmm(g, input.transpose(1, 2)).sum(0).view(weight.sizes());
  }
  Tensor grad_weight = at::zeros({weight.size(0), weight.size(1)}, weight.options());
  for (int64_t n = 0; n < images; ++n) {
    grad_weight.addmm_(g[n], input[n].t());
  }
  return grad_weight.view(weight.sizes());
}

}  // namespace autola_mm::gemm
