// same_conv2d on CUDA: cuDNN's convolution (through ATen) with stride 1 and
// the zero padding that keeps H x W. The direct kernel of the CPU back end
// exists because oneDNN spends most of its time in setup on convolutions with
// one or two channels per group; cuDNN has dedicated depthwise kernels, and
// no GPU measurement has shown a hand-written kernel faster. cuDNN lays its
// outputs out as a channels-last input or weight is; the operator's are
// contiguous on every device, as its Meta kernel declares (torch.compile
// lays out its buffers by that).
#include <ATen/ops/convolution.h>
#include <ATen/ops/convolution_backward.h>

#include <tuple>
#include <vector>

#include "../attention_core.h"

namespace autola_mm::cuda {
namespace {

std::vector<int64_t> same_padding(const Tensor& weight, int64_t dilation) {
  return {dilation * (weight.size(2) - 1) / 2, dilation * (weight.size(3) - 1) / 2};
}

}  // namespace

Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  return at::convolution(x, weight, std::nullopt, {1, 1}, same_padding(weight, dilation),
                         {dilation, dilation}, false, {0, 0}, groups)
      .contiguous();
}

std::tuple<Tensor, Tensor> same_conv2d_backward(const Tensor& grad, const Tensor& x,
                                                const Tensor& weight, int64_t dilation,
                                                int64_t groups, std::array<bool, 2> output_mask) {
  const auto grads = at::convolution_backward(
      grad, x, weight, std::nullopt, {1, 1}, same_padding(weight, dilation),
      {dilation, dilation}, false, {0, 0}, groups, {output_mask[0], output_mask[1], false});
  const auto contiguous = [](const Tensor& t) { return t.defined() ? t.contiguous() : t; };
  return {contiguous(std::get<0>(grads)), contiguous(std::get<1>(grads))};
}

}  // namespace autola_mm::cuda
