// The autograd kernels of the operators a model calls (autograd.cpp), which
// operators.cpp registers on the dispatcher's Autograd key.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <cstdint>
#include <optional>
#include <tuple>

// The pattern operators have no autocast kernel (operators.cpp): they run in
// their inputs' dtypes, and so must the operators they call, which autocast
// would otherwise cast (the MLP and the convolution to float16 under CUDA
// autocast, while the context kept the float32 weights that the backward
// operators then refuse). Their autograd kernels and backward passes (which
// run under the autocast state of the caller of backward()) and their own
// kernels (which run without the autograd kernel in inference mode) say so;
// the other operators' backward passes, as torch's own, run under the
// caller's autocast. A mix of dtypes fails in the forward, with the inner
// operator's dtype error.
#define AUTOLA_MM_BELOW_AUTOCAST \
  c10::impl::ExcludeDispatchKeyGuard below_autocast(c10::autocast_dispatch_keyset)

namespace autola_mm {

// The shapes of sep_conv_gate's four kernels (operators.cpp), which its
// autograd formula checks first too.
void check_sep_conv_gate(const at::Tensor& x, const at::Tensor& depthwise1,
                         const at::Tensor& pointwise1, const at::Tensor& depthwise2,
                         const at::Tensor& pointwise2, bool spatial);

}  // namespace autola_mm

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
Tensor sep_conv_gate(const Tensor& x, const Tensor& depthwise1, const Tensor& pointwise1,
                     const std::optional<Tensor>& bn_weight1,
                     const std::optional<Tensor>& bn_bias1, Tensor& running_mean1,
                     Tensor& running_var1, bool training1, double momentum1, double eps1,
                     const std::optional<Tensor>& num_batches_tracked1, const Tensor& depthwise2,
                     const Tensor& pointwise2, const std::optional<Tensor>& bn_weight2,
                     const std::optional<Tensor>& bn_bias2, Tensor& running_mean2,
                     Tensor& running_var2, bool training2, double momentum2, double eps2,
                     const std::optional<Tensor>& num_batches_tracked2, bool spatial);
std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& x,
                                              const std::optional<Tensor>& weight,
                                              const std::optional<Tensor>& bias,
                                              Tensor& running_mean, Tensor& running_var,
                                              bool training, double momentum, double eps,
                                              bool relu,
                                              const std::optional<Tensor>& num_batches_tracked);

}  // namespace autola_mm::autograd
