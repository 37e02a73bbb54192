// The kernels of the attention core of autola_mm ("Auto Learning Attention",
// NeurIPS 2020), one set per device, that the operators of operators.cpp run
// after checking their arguments. A kernel may assume checked arguments.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>
#include <vector>

namespace autola_mm {

using at::Tensor;

#define AUTOLA_MM_DECLARE_BACKEND(backend)                                          \
  namespace backend {                                                                \
  std::tuple<Tensor, Tensor> channel_stats(const Tensor& x);                         \
  Tensor channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max,      \
                                const Tensor& x, const Tensor& max);                 \
  Tensor spatial_stats(const Tensor& x);                                             \
  Tensor spatial_stats_backward(const Tensor& grad, const Tensor& x,                 \
                                const Tensor& stats);                                \
  Tensor sigmoid_gate(const Tensor& x, const Tensor& logits);                        \
  std::tuple<Tensor, Tensor> sigmoid_gate_backward(const Tensor& grad,               \
                                                   const Tensor& x,                  \
                                                   const Tensor& logits);            \
  Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits);         \
  std::tuple<Tensor, Tensor> gated_spatial_stats_backward(                           \
      const Tensor& grad, const Tensor& x, const Tensor& channel_logits,             \
      const Tensor& stats);                                                          \
  Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,         \
                              const Tensor& spatial_logits);                         \
  std::tuple<Tensor, Tensor, Tensor> channel_spatial_gate_backward(                  \
      const Tensor& grad, const Tensor& x, const Tensor& channel_logits,             \
      const Tensor& spatial_logits);                                                 \
  std::tuple<Tensor, Tensor> channel_attention_backward_logits(                      \
      const Tensor& grad, const Tensor& x, const Tensor& logits,                     \
      const Tensor& channel_max);                                                    \
  Tensor channel_attention_backward_input(                                           \
      const Tensor& grad, const Tensor& x, const Tensor& logits,                     \
      const Tensor& channel_max, const Tensor& channel_ties, const Tensor& grad_avg, \
      const Tensor& grad_max);                                                       \
  std::tuple<Tensor, Tensor> cbam_backward_gate_logits(                              \
      const Tensor& grad, const Tensor& x, const Tensor& channel_logits,             \
      const Tensor& spatial_logits);                                                 \
  std::tuple<Tensor, Tensor> cbam_backward_pool_logits(                              \
      const Tensor& grad_pooled, const Tensor& x, const Tensor& channel_logits,      \
      const Tensor& pooled, const Tensor& channel_max);                              \
  Tensor cbam_backward_input(                                                        \
      const Tensor& grad, const Tensor& x, const Tensor& channel_logits,             \
      const Tensor& spatial_logits, const Tensor& pooled, const Tensor& grad_pooled, \
      const Tensor& channel_max, const Tensor& channel_ties, const Tensor& grad_avg, \
      const Tensor& grad_max);                                                       \
  Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation,        \
                     int64_t groups);                                                \
  std::tuple<Tensor, Tensor> same_conv2d_backward(                                   \
      const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t dilation,   \
      int64_t groups, std::array<bool, 2> output_mask);                              \
  }

// The 1 x 1 convolutions inside the gate operators (sep_conv_gate) run on
// same_conv2d's direct kernel up to this many (input, output) channel pairs,
// as matrix products (pointwise_conv2d) above it: the bound by which
// SameConv2d (autola_mm/models/attention/same_conv.py) routes the gates'
// modules, exported by the extension as direct_max_channel_pairs.
constexpr int64_t kDirectMaxChannelPairs = 16;

inline bool direct_pointwise(const Tensor& weight) {
  return weight.size(0) * weight.size(1) <= kDirectMaxChannelPairs;
}

// The 1 x 1 convolution as matrix products: one implementation for every
// device (pointwise_conv2d.cpp).
namespace gemm {
Tensor pointwise_conv2d(const Tensor& x, const Tensor& weight);
Tensor pointwise_conv2d_backward_input(const Tensor& grad, const Tensor& x, const Tensor& weight);
Tensor pointwise_conv2d_backward_weight(const Tensor& grad, const Tensor& x, const Tensor& weight);
}  // namespace gemm

AUTOLA_MM_DECLARE_BACKEND(cpu)
AUTOLA_MM_DECLARE_BACKEND(cuda)

// The batch norm of the attention modules, with an optional fused ReLU
// (cpu/batch_norm.cpp): on other devices the operator runs ATen's batch norm
// kernels and ReLU.
namespace cpu {
std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& x,
                                              const std::optional<Tensor>& weight,
                                              const std::optional<Tensor>& bias,
                                              Tensor& running_mean, Tensor& running_var,
                                              bool training, double momentum, double eps,
                                              bool relu);
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(
    const Tensor& grad, const Tensor& x, const std::optional<Tensor>& weight,
    const Tensor& save_mean, const Tensor& save_invstd, bool training,
    const std::optional<Tensor>& relu_out);

// The channel MLP of SE and CBAM (cpu/channel_mlp.cpp): on other devices the
// operator runs ATen's linear layers and ReLU.
Tensor channel_mlp(const Tensor& avg, const std::optional<Tensor>& max, const Tensor& weight1,
                   const std::optional<Tensor>& bias1, const Tensor& weight2,
                   const std::optional<Tensor>& bias2);
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> channel_mlp_backward(
    const Tensor& grad, const Tensor& avg, const std::optional<Tensor>& max,
    const Tensor& weight1, const std::optional<Tensor>& bias1, const Tensor& weight2);
}  // namespace cpu

#undef AUTOLA_MM_DECLARE_BACKEND

}  // namespace autola_mm
