// The autograd kernels of the operators a model calls (autograd.cpp), which
// operators.cpp registers on the dispatcher's Autograd key.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace autola_mm::autograd {

using at::Tensor;

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x);
Tensor spatial_stats(const Tensor& x);
Tensor sigmoid_gate(const Tensor& x, const Tensor& logits);
Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits);
Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits);
Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups);
Tensor pointwise_conv2d(const Tensor& x, const Tensor& weight);
Tensor channel_mlp(const Tensor& avg, const std::optional<Tensor>& max, const Tensor& weight1,
                   const std::optional<Tensor>& bias1, const Tensor& weight2,
                   const std::optional<Tensor>& bias2);
Tensor channel_mlp_attention(const Tensor& x, const Tensor& weight1,
                             const std::optional<Tensor>& bias1, const Tensor& weight2,
                             const std::optional<Tensor>& bias2, bool with_max_pool);
Tensor cbam_mlp_attention(const Tensor& x, const Tensor& weight1,
                          const std::optional<Tensor>& bias1, const Tensor& weight2,
                          const std::optional<Tensor>& bias2, const Tensor& conv_weight,
                          const std::optional<Tensor>& bn_weight,
                          const std::optional<Tensor>& bn_bias, Tensor& running_mean,
                          Tensor& running_var, bool training, double momentum, double eps,
                          const std::optional<Tensor>& num_batches_tracked);
std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& x,
                                              const std::optional<Tensor>& weight,
                                              const std::optional<Tensor>& bias,
                                              Tensor& running_mean, Tensor& running_var,
                                              bool training, double momentum, double eps,
                                              bool relu,
                                              const std::optional<Tensor>& num_batches_tracked);

}  // namespace autola_mm::autograd
