// The operators of the attention core of autola_mm ("Auto Learning
// Attention", NeurIPS 2020) and their registration with the PyTorch
// dispatcher. This file is the one list of operators: each is defined once
// here (its argument checks, then the kernel of its input's device, or just
// the output shapes for Meta tensors), and AUTOLA_MM_FORWARD_OPERATORS,
// AUTOLA_MM_NORM_OPERATORS, AUTOLA_MM_PATTERN_OPERATORS and
// AUTOLA_MM_BACKWARD_OPERATORS derive the schemas and the CPU, CUDA, Meta,
// autocast and autograd registrations from that list. The autograd formulas of the forward operators are in
// autograd.cpp; every backward is an operator here too.
#include <Python.h>

#include <ATen/OpMathType.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/_native_batch_norm_legit.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/native_batch_norm_backward.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/threshold_backward.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include "argument_checks.h"
#include "attention_core.h"
#include "autograd.h"
#include "cpu/cpu_loops.h"

namespace autola_mm {
namespace {

Tensor empty_like_input(const Tensor& t) { return at::empty_symint(t.sym_sizes(), t.options()); }

Tensor empty_int_like(const Tensor& t) {
  return at::empty_symint(t.sym_sizes(), t.options().dtype(at::kInt));
}

Tensor empty_channel_stats(const Tensor& x) {
  return at::empty_symint({x.sym_size(0), x.sym_size(1), 1, 1}, x.options());
}

Tensor empty_spatial_stats(const Tensor& x) {
  return at::empty_symint({x.sym_size(0), 2, x.sym_size(2), x.sym_size(3)}, x.options());
}

Tensor empty_conv_output(const Tensor& x, const Tensor& weight) {
  return at::empty_symint({x.sym_size(0), weight.sym_size(0), x.sym_size(2), x.sym_size(3)},
                          x.options());
}

std::vector<c10::SymInt> channel_stats_shape(const Tensor& x) {
  return {x.sym_size(0), x.sym_size(1), 1, 1};
}

std::vector<c10::SymInt> spatial_stats_shape(const Tensor& x) {
  return {x.sym_size(0), 2, x.sym_size(2), x.sym_size(3)};
}

std::vector<c10::SymInt> conv_output_shape(const Tensor& x, const Tensor& weight) {
  return {x.sym_size(0), weight.sym_size(0), x.sym_size(2), x.sym_size(3)};
}

}  // namespace

// The kernel of x's device: CUDA tensors run cuda::kernel (when built with
// CUDA), CPU tensors cpu::kernel. Meta tensors return before this.
#ifdef AUTOLA_MM_WITH_CUDA
#define AUTOLA_MM_ON_DEVICE(x, kernel, ...) \
  ((x).is_cuda() ? cuda::kernel(__VA_ARGS__) : cpu::kernel(__VA_ARGS__))
#else
#define AUTOLA_MM_ON_DEVICE(x, kernel, ...) cpu::kernel(__VA_ARGS__)
#endif

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x) {
  const char* op = "autola_mm::channel_stats";
  checks::feature_map(op, x);
  checks::positions(op, x);
  if (x.is_meta()) {
    return {empty_channel_stats(x), empty_channel_stats(x)};
  }
  return AUTOLA_MM_ON_DEVICE(x, channel_stats, x);
}

Tensor channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max, const Tensor& x,
                              const Tensor& max) {
  const char* op = "autola_mm::channel_stats_backward";
  checks::feature_map(op, x);
  checks::positions(op, x);
  const auto shape = channel_stats_shape(x);
  checks::like_with_shape(op, "grad_avg", grad_avg, x, shape);
  checks::like_with_shape(op, "grad_max", grad_max, x, shape);
  checks::like_with_shape(op, "max", max, x, shape);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, channel_stats_backward, grad_avg, grad_max, x, max);
}

Tensor spatial_stats(const Tensor& x) {
  const char* op = "autola_mm::spatial_stats";
  checks::feature_map(op, x);
  checks::channels(op, x);
  if (x.is_meta()) {
    return empty_spatial_stats(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, spatial_stats, x);
}

Tensor spatial_stats_backward(const Tensor& grad, const Tensor& x, const Tensor& stats) {
  const char* op = "autola_mm::spatial_stats_backward";
  checks::feature_map(op, x);
  checks::channels(op, x);
  const auto shape = spatial_stats_shape(x);
  checks::like_with_shape(op, "grad", grad, x, shape);
  checks::like_with_shape(op, "stats", stats, x, shape);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, spatial_stats_backward, grad, x, stats);
}

namespace {

void check_sigmoid_gate(const char* op, const Tensor& x, const Tensor& logits) {
  checks::feature_map(op, x);
  checks::like(op, "logits", logits, x);
  TORCH_CHECK_VALUE(checks::is_channel_shape(logits, x) || checks::is_spatial_shape(logits, x) ||
                        logits.sym_sizes() == x.sym_sizes(),
                    op, ": logits must have shape (N, C, 1, 1), (N, 1, H, W) or (N, C, H, W) ",
                    "for x of shape ", checks::text(x.sym_sizes()), ", got ",
                    checks::text(logits.sym_sizes()));
}

}  // namespace

Tensor sigmoid_gate(const Tensor& x, const Tensor& logits) {
  check_sigmoid_gate("autola_mm::sigmoid_gate", x, logits);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, sigmoid_gate, x, logits);
}

std::tuple<Tensor, Tensor> sigmoid_gate_backward(const Tensor& grad, const Tensor& x,
                                                 const Tensor& logits) {
  const char* op = "autola_mm::sigmoid_gate_backward";
  check_sigmoid_gate(op, x, logits);
  checks::like_with_shape(op, "grad", grad, x, x.sym_sizes());
  if (x.is_meta()) {
    return {empty_like_input(x), empty_like_input(logits)};
  }
  return AUTOLA_MM_ON_DEVICE(x, sigmoid_gate_backward, grad, x, logits);
}

namespace {

void check_gated_spatial_stats(const char* op, const Tensor& x, const Tensor& channel_logits) {
  checks::feature_map(op, x);
  checks::channels(op, x);
  checks::channel_logits(op, "channel_logits", channel_logits, x);
}

}  // namespace

Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  check_gated_spatial_stats("autola_mm::gated_spatial_stats", x, channel_logits);
  if (x.is_meta()) {
    return empty_spatial_stats(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, gated_spatial_stats, x, channel_logits);
}

std::tuple<Tensor, Tensor> gated_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                        const Tensor& channel_logits,
                                                        const Tensor& stats) {
  const char* op = "autola_mm::gated_spatial_stats_backward";
  check_gated_spatial_stats(op, x, channel_logits);
  const auto shape = spatial_stats_shape(x);
  checks::like_with_shape(op, "grad", grad, x, shape);
  checks::like_with_shape(op, "stats", stats, x, shape);
  if (x.is_meta()) {
    return {empty_like_input(x), empty_like_input(channel_logits)};
  }
  return AUTOLA_MM_ON_DEVICE(x, gated_spatial_stats_backward, grad, x, channel_logits, stats);
}

namespace {

void check_channel_spatial_gate(const char* op, const Tensor& x, const Tensor& channel_logits,
                                const Tensor& spatial_logits) {
  checks::feature_map(op, x);
  checks::channel_logits(op, "channel_logits", channel_logits, x);
  checks::spatial_logits(op, "spatial_logits", spatial_logits, x);
}

}  // namespace

Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits) {
  check_channel_spatial_gate("autola_mm::channel_spatial_gate", x, channel_logits,
                             spatial_logits);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, channel_spatial_gate, x, channel_logits, spatial_logits);
}

std::tuple<Tensor, Tensor, Tensor> channel_spatial_gate_backward(const Tensor& grad,
                                                                 const Tensor& x,
                                                                 const Tensor& channel_logits,
                                                                 const Tensor& spatial_logits) {
  const char* op = "autola_mm::channel_spatial_gate_backward";
  check_channel_spatial_gate(op, x, channel_logits, spatial_logits);
  checks::like_with_shape(op, "grad", grad, x, x.sym_sizes());
  if (x.is_meta()) {
    return {empty_like_input(x), empty_like_input(channel_logits),
            empty_like_input(spatial_logits)};
  }
  return AUTOLA_MM_ON_DEVICE(x, channel_spatial_gate_backward, grad, x, channel_logits,
                             spatial_logits);
}

namespace {

void check_channel_attention_backward(const char* op, const Tensor& grad, const Tensor& x,
                                      const Tensor& logits, const Tensor& channel_max) {
  checks::feature_map(op, x);
  checks::positions(op, x);
  checks::like_with_shape(op, "grad", grad, x, x.sym_sizes());
  checks::channel_logits(op, "logits", logits, x);
  checks::like_with_shape(op, "channel_max", channel_max, x, channel_stats_shape(x));
}

}  // namespace

std::tuple<Tensor, Tensor> channel_attention_backward_logits(const Tensor& grad, const Tensor& x,
                                                             const Tensor& logits,
                                                             const Tensor& channel_max) {
  check_channel_attention_backward("autola_mm::channel_attention_backward_logits", grad, x,
                                   logits, channel_max);
  if (x.is_meta()) {
    return {empty_like_input(logits), empty_int_like(logits)};
  }
  return AUTOLA_MM_ON_DEVICE(x, channel_attention_backward_logits, grad, x, logits, channel_max);
}

Tensor channel_attention_backward_input(const Tensor& grad, const Tensor& x,
                                        const Tensor& logits, const Tensor& channel_max,
                                        const Tensor& channel_ties, const Tensor& grad_avg,
                                        const Tensor& grad_max) {
  const char* op = "autola_mm::channel_attention_backward_input";
  check_channel_attention_backward(op, grad, x, logits, channel_max);
  checks::stats_gradients(op, x, channel_ties, grad_avg, grad_max);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, channel_attention_backward_input, grad, x, logits, channel_max,
                             channel_ties, grad_avg, grad_max);
}

std::tuple<Tensor, Tensor> cbam_backward_gate_logits(const Tensor& grad, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& spatial_logits) {
  const char* op = "autola_mm::cbam_backward_gate_logits";
  check_channel_spatial_gate(op, x, channel_logits, spatial_logits);
  checks::like_with_shape(op, "grad", grad, x, x.sym_sizes());
  if (x.is_meta()) {
    return {empty_like_input(channel_logits), empty_like_input(spatial_logits)};
  }
  return AUTOLA_MM_ON_DEVICE(x, cbam_backward_gate_logits, grad, x, channel_logits,
                             spatial_logits);
}

namespace {

void check_cbam_backward_pool(const char* op, const Tensor& grad_pooled, const Tensor& x,
                              const Tensor& channel_logits, const Tensor& pooled,
                              const Tensor& channel_max) {
  check_gated_spatial_stats(op, x, channel_logits);
  checks::positions(op, x);
  const auto shape = spatial_stats_shape(x);
  checks::like_with_shape(op, "grad_pooled", grad_pooled, x, shape);
  checks::like_with_shape(op, "pooled", pooled, x, shape);
  checks::like_with_shape(op, "channel_max", channel_max, x, channel_stats_shape(x));
}

}  // namespace

std::tuple<Tensor, Tensor> cbam_backward_pool_logits(const Tensor& grad_pooled, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& pooled,
                                                     const Tensor& channel_max) {
  check_cbam_backward_pool("autola_mm::cbam_backward_pool_logits", grad_pooled, x,
                           channel_logits, pooled, channel_max);
  if (x.is_meta()) {
    return {empty_like_input(channel_logits), empty_int_like(channel_logits)};
  }
  return AUTOLA_MM_ON_DEVICE(x, cbam_backward_pool_logits, grad_pooled, x, channel_logits, pooled,
                             channel_max);
}

Tensor cbam_backward_input(const Tensor& grad, const Tensor& x, const Tensor& channel_logits,
                           const Tensor& spatial_logits, const Tensor& pooled,
                           const Tensor& grad_pooled, const Tensor& channel_max,
                           const Tensor& channel_ties, const Tensor& grad_avg,
                           const Tensor& grad_max) {
  const char* op = "autola_mm::cbam_backward_input";
  check_channel_spatial_gate(op, x, channel_logits, spatial_logits);
  checks::like_with_shape(op, "grad", grad, x, x.sym_sizes());
  check_cbam_backward_pool(op, grad_pooled, x, channel_logits, pooled, channel_max);
  checks::stats_gradients(op, x, channel_ties, grad_avg, grad_max);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return AUTOLA_MM_ON_DEVICE(x, cbam_backward_input, grad, x, channel_logits, spatial_logits,
                             pooled, grad_pooled, channel_max, channel_ties, grad_avg, grad_max);
}

Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  const char* op = "autola_mm::same_conv2d";
  checks::feature_map(op, x);
  checks::positions(op, x, "convolve");
  checks::same_conv_weight(op, x, weight, dilation, groups);
  if (x.is_meta()) {
    return empty_conv_output(x, weight);
  }
  return AUTOLA_MM_ON_DEVICE(x, same_conv2d, x, weight, dilation, groups);
}

namespace {

void check_same_conv2d_backward(const char* op, const Tensor& grad, const Tensor& x,
                                const Tensor& weight, int64_t dilation, int64_t groups) {
  checks::feature_map(op, x);
  checks::positions(op, x, "convolve");
  checks::same_conv_weight(op, x, weight, dilation, groups);
  checks::like_with_shape(op, "grad", grad, x, conv_output_shape(x, weight));
}

}  // namespace

// The gradients of same_conv2d that output_mask asks for: (input, weight),
// undefined where not asked.
std::tuple<Tensor, Tensor> same_conv2d_backward(const Tensor& grad, const Tensor& x,
                                                const Tensor& weight, int64_t dilation,
                                                int64_t groups, std::array<bool, 2> output_mask) {
  check_same_conv2d_backward("autola_mm::same_conv2d_backward", grad, x, weight, dilation,
                             groups);
  if (x.is_meta()) {
    return {output_mask[0] ? empty_like_input(x) : Tensor(),
            output_mask[1] ? empty_like_input(weight) : Tensor()};
  }
  return AUTOLA_MM_ON_DEVICE(x, same_conv2d_backward, grad, x, weight, dilation, groups,
                             output_mask);
}

// The 1 x 1 convolution runs the same matrix products on every device (gemm::).
Tensor pointwise_conv2d(const Tensor& x, const Tensor& weight) {
  const char* op = "autola_mm::pointwise_conv2d";
  checks::feature_map(op, x);
  checks::positions(op, x, "convolve");
  checks::pointwise_weight(op, x, weight);
  if (x.is_meta()) {
    return empty_conv_output(x, weight);
  }
  return gemm::pointwise_conv2d(x, weight);
}

namespace {

void check_pointwise_conv2d_backward(const char* op, const Tensor& grad, const Tensor& x,
                                     const Tensor& weight) {
  checks::feature_map(op, x);
  checks::positions(op, x, "convolve");
  checks::pointwise_weight(op, x, weight);
  checks::like_with_shape(op, "grad", grad, x, conv_output_shape(x, weight));
}

}  // namespace

Tensor pointwise_conv2d_backward_input(const Tensor& grad, const Tensor& x,
                                       const Tensor& weight) {
  check_pointwise_conv2d_backward("autola_mm::pointwise_conv2d_backward_input", grad, x, weight);
  if (x.is_meta()) {
    return empty_like_input(x);
  }
  return gemm::pointwise_conv2d_backward_input(grad, x, weight);
}

Tensor pointwise_conv2d_backward_weight(const Tensor& grad, const Tensor& x,
                                        const Tensor& weight) {
  check_pointwise_conv2d_backward("autola_mm::pointwise_conv2d_backward_weight", grad, x, weight);
  if (x.is_meta()) {
    return empty_like_input(weight);
  }
  return gemm::pointwise_conv2d_backward_weight(grad, x, weight);
}

// Batch norm of the attention modules' norm layers, in training (batch
// statistics; the running ones move by `momentum`) and in evaluation
// (running statistics), with the ReLU after it fused where `relu` (its
// backward then takes that output as relu_out). The CPU runs cpu::batch_norm;
// other devices run ATen's kernels, which are fast there. Either way it
// returns the output and the mean and 1 / std it normalised with (in
// evaluation, those of the running statistics), in x's opmath dtype. Where
// num_batches_tracked (nn.BatchNorm2d's counter) is given, training adds 1
// to it.
namespace {

void check_batch_norm(const char* op, const Tensor& x, const std::optional<Tensor>& weight,
                      const std::optional<Tensor>& bias, const Tensor& running_mean,
                      const Tensor& running_var) {
  checks::feature_map(op, x);
  for (const auto& [name, t] : {std::pair{"weight", weight}, std::pair{"bias", bias}}) {
    if (t.has_value() && t->defined()) {
      checks::channel_vector(op, name, *t, x);
    }
  }
  checks::channel_vector(op, "running_mean", running_mean, x);
  checks::channel_vector(op, "running_var", running_var, x);
  // x's dtype, or the wider one it computes in (float parameters of a
  // float16 map, as torch's batch norm takes them), all of them the same:
  // ATen's batch norm, which other devices run, reads every parameter as the
  // first one's dtype.
  const auto opmath = at::toOpMathType(x.scalar_type());
  const char* first_name = nullptr;
  at::ScalarType first_dtype = at::ScalarType::Undefined;
  for (const auto& [name, t] : {std::pair{"weight", weight}, std::pair{"bias", bias},
                                std::pair{"running_mean", std::optional<Tensor>(running_mean)},
                                std::pair{"running_var", std::optional<Tensor>(running_var)}}) {
    if (t.has_value() && t->defined()) {
      TORCH_CHECK_VALUE(t->scalar_type() == x.scalar_type() || t->scalar_type() == opmath, op,
                        ": ", name, " must have x's dtype ", x.scalar_type(),
                        opmath == x.scalar_type() ? "" : " or ",
                        opmath == x.scalar_type() ? "" : c10::toString(opmath), ", got ",
                        t->scalar_type());
      if (first_name == nullptr) {
        first_name = name;
        first_dtype = t->scalar_type();
      }
      TORCH_CHECK_VALUE(t->scalar_type() == first_dtype, op, ": ", name, " must have ",
                        first_name, "'s dtype ", first_dtype, ", got ", t->scalar_type(),
                        " (the parameters and running statistics share one dtype)");
    }
  }
}

Tensor empty_channel_vector(const Tensor& x) {
  return at::empty_symint({x.sym_size(1)}, x.options().dtype(at::toOpMathType(x.scalar_type())));
}

// The gradient of a weight or bias of batch_norm: in the weight's dtype, or
// x's opmath dtype where there is none.
Tensor empty_channel_gradient(const Tensor& x, const std::optional<Tensor>& weight) {
  if (weight.has_value() && weight->defined()) {
    return at::empty_symint({x.sym_size(1)}, weight->options());
  }
  return empty_channel_vector(x);
}

// Values per channel: what training normalises over.
c10::SymInt values_per_channel(const Tensor& x) {
  return x.sym_size(0) * x.sym_size(2) * x.sym_size(3);
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& x,
                                              const std::optional<Tensor>& weight,
                                              const std::optional<Tensor>& bias,
                                              Tensor& running_mean, Tensor& running_var,
                                              bool training, double momentum, double eps,
                                              bool relu,
                                              const std::optional<Tensor>& num_batches_tracked) {
  const char* op = "autola_mm::batch_norm";
  check_batch_norm(op, x, weight, bias, running_mean, running_var);
  TORCH_CHECK_VALUE(!training || values_per_channel(x) != 1, op,
                    ": expected more than 1 value per channel when training, got x of shape ",
                    checks::text(x.sym_sizes()));
  TORCH_CHECK_VALUE(!training || eps > 0, op, ": eps must be positive when training, got ",
                    checks::text(eps));
  const bool counts = num_batches_tracked.has_value() && num_batches_tracked->defined();
  if (counts) {
    const Tensor& counter = *num_batches_tracked;
    TORCH_CHECK_VALUE(counter.dim() == 0 && counter.scalar_type() == at::kLong, op,
                      ": num_batches_tracked must be a 0-dim int64 tensor, got a ",
                      counter.scalar_type(), " tensor of shape ",
                      checks::text(counter.sym_sizes()));
    TORCH_CHECK_VALUE(counter.device() == x.device(), op,
                      ": num_batches_tracked must be on x's device ", x.device().str(), ", got ",
                      counter.device().str());
  }
  if (x.is_meta()) {
    return {empty_like_input(x), empty_channel_vector(x), empty_channel_vector(x)};
  }
  if (training && counts) {
    // nn.BatchNorm2d's counter of training batches, here rather than as an
    // operator call of its own (on the CPU; other devices add on theirs).
    Tensor counter = *num_batches_tracked;
    if (counter.is_cpu()) {
      ++*counter.mutable_data_ptr<int64_t>();
    } else {
      counter.add_(1);
    }
  }
  if (x.numel() == 0) {
    // As torch's batch norm: an empty output, the running statistics unchanged.
    return {empty_like_input(x), empty_channel_vector(x).zero_(), empty_channel_vector(x).zero_()};
  }
  if (x.is_cpu()) {
    return cpu::batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps,
                           relu);
  }
  auto [out, mean, invstd] = at::_native_batch_norm_legit(x, weight, bias, running_mean,
                                                          running_var, training, momentum, eps);
  // ATen lays the output out as a channels-last x is; the operator's is
  // contiguous on every device, as its Meta kernel declares.
  out = out.contiguous();
  if (relu) {
    out.relu_();
  }
  if (!training) {
    const auto opmath = at::toOpMathType(x.scalar_type());
    mean = running_mean.to(opmath, /*non_blocking=*/false, /*copy=*/true);
    invstd = (running_var.to(opmath) + eps).rsqrt();
  }
  return {out, mean, invstd};
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(
    const Tensor& grad, const Tensor& x, const std::optional<Tensor>& weight,
    const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var,
    const Tensor& save_mean, const Tensor& save_invstd, bool training, double eps,
    const std::optional<Tensor>& relu_out) {
  const char* op = "autola_mm::batch_norm_backward";
  checks::feature_map(op, x);
  checks::like_with_shape(op, "grad", grad, x, x.sym_sizes());
  const bool fused_relu = relu_out.has_value() && relu_out->defined();
  if (fused_relu) {
    checks::like_with_shape(op, "relu_out", *relu_out, x, x.sym_sizes());
  }
  if (weight.has_value() && weight->defined()) {
    checks::channel_vector(op, "weight", *weight, x);
  }
  checks::channel_vector(op, "save_mean", save_mean, x);
  checks::channel_vector(op, "save_invstd", save_invstd, x);
  if (x.is_meta()) {
    return {empty_like_input(x), empty_channel_gradient(x, weight),
            empty_channel_gradient(x, weight)};
  }
  if (x.numel() == 0) {
    return {empty_like_input(x), empty_channel_gradient(x, weight).zero_(),
            empty_channel_gradient(x, weight).zero_()};
  }
  if (x.is_cpu()) {
    return cpu::batch_norm_backward(grad, x, weight, save_mean, save_invstd, training, relu_out);
  }
  TORCH_CHECK_VALUE(training || (running_mean.has_value() && running_var.has_value()), op,
                    ": evaluation needs the running statistics");
  // The gradient the fused ReLU passes: where its output is positive.
  const Tensor passed = fused_relu ? at::threshold_backward(grad, *relu_out, 0) : grad;
  // The gradient of x contiguous, as the Meta kernel declares (ATen's
  // follows a channels-last x).
  if (weight.has_value() && weight->defined()) {
    auto [grad_x, grad_weight, grad_bias] =
        at::native_batch_norm_backward(passed, x, weight, running_mean, running_var, save_mean,
                                       save_invstd, training, eps, {true, true, true});
    return {grad_x.contiguous(), grad_weight, grad_bias};
  }
  // No weight: ATen's kernel reads a weight of ones, in the dtype it reads
  // the running statistics in (those given in evaluation, else the saved ones).
  const Tensor& statistic = training ? save_mean : *running_mean;
  auto [grad_x, grad_weight, grad_bias] = at::native_batch_norm_backward(
      passed, x, at::ones({x.size(1)}, statistic.options()), running_mean, running_var, save_mean,
      save_invstd, training, eps, {true, true, true});
  const auto opmath = at::toOpMathType(x.scalar_type());
  return {grad_x.contiguous(), grad_weight.to(opmath), grad_bias.to(opmath)};
}

// The channel MLP of SE and CBAM: logits = fc2(relu(fc1(avg))), plus
// fc2(relu(fc1(max))) where max is given, on pooled descriptors of shape
// (N, C, 1, 1); fc1 is (weight1 (hidden, C), bias1 (hidden,)), fc2 is
// (weight2 (C, hidden), bias2 (C,)), a bias None where the layer has none.
// The CPU runs cpu::channel_mlp (one pass each way); other devices run
// ATen's linear layers and ReLU. The backward returns the gradients of avg,
// max (an empty tensor where max is None), weight1, bias1, weight2 and bias2
// (those of absent biases too).
namespace {

void check_mlp_tensor(const char* op, const char* name, const Tensor& t, const Tensor& avg,
                      c10::SymIntArrayRef expected, const char* layout) {
  TORCH_CHECK_VALUE(t.scalar_type() == avg.scalar_type(), op, ": ", name,
                    " must have avg's dtype ", avg.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.device() == avg.device(), op, ": ", name, " must be on avg's device ",
                    avg.device().str(), ", got ", t.device().str());
  TORCH_CHECK_VALUE(t.sym_sizes() == expected, op, ": ", name, " must have shape ", layout,
                    " = ", checks::text(expected), ", got ", checks::text(t.sym_sizes()));
}

void check_channel_mlp(const char* op, const Tensor& avg, const std::optional<Tensor>& max,
                       const Tensor& weight1, const std::optional<Tensor>& bias1,
                       const Tensor& weight2) {
  TORCH_CHECK_VALUE(avg.dim() == 4 && avg.sym_size(2) == 1 && avg.sym_size(3) == 1, op,
                    ": avg must be a pooled descriptor of shape (N, C, 1, 1), got shape ",
                    checks::text(avg.sym_sizes()));
  TORCH_CHECK_VALUE(at::isFloatingType(avg.scalar_type()), op,
                    ": avg must be a floating point tensor, got ", avg.scalar_type());
  if (max.has_value() && max->defined()) {
    check_mlp_tensor(op, "max", *max, avg, avg.sym_sizes(), "(N, C, 1, 1)");
  }
  TORCH_CHECK_VALUE(weight1.dim() == 2, op, ": weight1 must be 2-D (hidden, C), got shape ",
                    checks::text(weight1.sym_sizes()));
  const c10::SymInt hidden = weight1.sym_size(0);
  const c10::SymInt channels = avg.sym_size(1);
  check_mlp_tensor(op, "weight1", weight1, avg, {hidden, channels}, "(hidden, C)");
  if (bias1.has_value() && bias1->defined()) {
    check_mlp_tensor(op, "bias1", *bias1, avg, {hidden}, "(hidden,)");
  }
  check_mlp_tensor(op, "weight2", weight2, avg, {channels, hidden}, "(C, hidden)");
}

// relu(fc1(p)) of (N, C, 1, 1) descriptors, as (N, hidden), on ATen's kernels.
Tensor aten_mlp_hidden(const Tensor& pooled, const Tensor& weight1,
                       const std::optional<Tensor>& bias1) {
  return at::relu(at::linear(pooled.flatten(1), weight1, bias1));
}

std::vector<Tensor> descriptors(const Tensor& avg, const std::optional<Tensor>& max) {
  std::vector<Tensor> pooled = {avg};
  if (max.has_value() && max->defined()) {
    pooled.push_back(*max);
  }
  return pooled;
}

}  // namespace

Tensor channel_mlp(const Tensor& avg, const std::optional<Tensor>& max, const Tensor& weight1,
                   const std::optional<Tensor>& bias1, const Tensor& weight2,
                   const std::optional<Tensor>& bias2) {
  const char* op = "autola_mm::channel_mlp";
  check_channel_mlp(op, avg, max, weight1, bias1, weight2);
  if (bias2.has_value() && bias2->defined()) {
    check_mlp_tensor(op, "bias2", *bias2, avg, {avg.sym_size(1)}, "(C,)");
  }
  if (avg.is_meta()) {
    return empty_like_input(avg);
  }
  if (avg.is_cpu()) {
    return cpu::channel_mlp(avg, max, weight1, bias1, weight2, bias2);
  }
  Tensor logits;
  for (const Tensor& pooled : descriptors(avg, max)) {
    Tensor term = at::linear(aten_mlp_hidden(pooled, weight1, bias1), weight2, bias2);
    logits = logits.defined() ? logits + term : term;
  }
  return logits.view_symint(avg.sym_sizes());
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> channel_mlp_backward(
    const Tensor& grad, const Tensor& avg, const std::optional<Tensor>& max,
    const Tensor& weight1, const std::optional<Tensor>& bias1, const Tensor& weight2) {
  const char* op = "autola_mm::channel_mlp_backward";
  check_channel_mlp(op, avg, max, weight1, bias1, weight2);
  check_mlp_tensor(op, "grad", grad, avg, avg.sym_sizes(), "(N, C, 1, 1)");
  const bool has_max = max.has_value() && max->defined();
  if (avg.is_meta()) {
    return {empty_like_input(avg), has_max ? empty_like_input(*max) : at::empty({0}, avg.options()),
            empty_like_input(weight1), at::empty_symint({weight1.sym_size(0)}, avg.options()),
            empty_like_input(weight2), at::empty_symint({weight2.sym_size(0)}, avg.options())};
  }
  if (avg.is_cpu()) {
    return cpu::channel_mlp_backward(grad, avg, max, weight1, bias1, weight2);
  }
  const Tensor g = grad.flatten(1);
  const Tensor grad_hidden = at::mm(g, weight2);
  std::vector<Tensor> grad_pooled;
  Tensor hidden_sum, grad_weight1, grad_bias1;
  for (const Tensor& pooled : descriptors(avg, max)) {
    const Tensor p = pooled.flatten(1);
    const Tensor hidden = aten_mlp_hidden(pooled, weight1, bias1);
    const Tensor grad_pre = at::threshold_backward(grad_hidden, hidden, 0);
    grad_pooled.push_back(at::mm(grad_pre, weight1).view_symint(avg.sym_sizes()));
    const Tensor weight_term = at::mm(grad_pre.t(), p);
    const Tensor bias_term = grad_pre.sum(0);
    hidden_sum = hidden_sum.defined() ? hidden_sum + hidden : hidden;
    grad_weight1 = grad_weight1.defined() ? grad_weight1 + weight_term : weight_term;
    grad_bias1 = grad_bias1.defined() ? grad_bias1 + bias_term : bias_term;
  }
  const Tensor grad_weight2 = at::mm(g.t(), hidden_sum);
  const Tensor grad_bias2 = g.sum(0) * static_cast<double>(grad_pooled.size());
  const Tensor grad_max = has_max ? grad_pooled[1] : at::empty({0}, avg.options());
  return {grad_pooled[0], grad_max, grad_weight1, grad_bias1, grad_weight2, grad_bias2};
}

// SE's pattern with a ReLU channel MLP as one operator:
// x * sigmoid(channel_mlp(avg_hw(x), max_hw(x) where with_max_pool, weight1,
// bias1, weight2, bias2)). Its kernel is the composition of the three
// operators on every device, and its checks are theirs (an error names the
// operator that found it, as in the autograd formula); its autograd formula
// (autograd.cpp) runs SE's two-pass backward, all of it below Python.
Tensor channel_mlp_attention(const Tensor& x, const Tensor& weight1,
                             const std::optional<Tensor>& bias1, const Tensor& weight2,
                             const std::optional<Tensor>& bias2, bool with_max_pool) {
  AUTOLA_MM_BELOW_AUTOCAST;
  auto [avg, max] = channel_stats(x);
  const std::optional<Tensor> second = with_max_pool ? std::optional<Tensor>(max) : std::nullopt;
  return sigmoid_gate(x, channel_mlp(avg, second, weight1, bias1, weight2, bias2));
}

// CBAM's pattern with a ReLU channel MLP, a bias-free spatial convolution
// and a batch norm with running statistics, as one operator:
// c = channel_mlp(avg_hw(x), max_hw(x), ...), s = batch_norm(same_conv2d(
// gated_spatial_stats(x, c), conv_weight), ...), x * sigmoid(c) * sigmoid(s).
// Its kernel is the composition of those operators on every device (their
// checks its checks; the batch norm updates the running statistics and the
// counter as its operator does); its autograd formula (autograd.cpp) runs
// CBAM's three-pass backward, all of it below Python.
Tensor cbam_mlp_attention(const Tensor& x, const Tensor& weight1,
                          const std::optional<Tensor>& bias1, const Tensor& weight2,
                          const std::optional<Tensor>& bias2, const Tensor& conv_weight,
                          const std::optional<Tensor>& bn_weight,
                          const std::optional<Tensor>& bn_bias, Tensor& running_mean,
                          Tensor& running_var, bool training, double momentum, double eps,
                          const std::optional<Tensor>& num_batches_tracked) {
  AUTOLA_MM_BELOW_AUTOCAST;
  auto [avg, max] = channel_stats(x);
  const Tensor channel = channel_mlp(avg, max, weight1, bias1, weight2, bias2);
  const Tensor conv = same_conv2d(gated_spatial_stats(x, channel), conv_weight, 1, 1);
  const Tensor spatial = std::get<0>(batch_norm(conv, bn_weight, bn_bias, running_mean,
                                                running_var, training, momentum, eps, false,
                                                num_batches_tracked));
  return channel_spatial_gate(x, channel, spatial);
}

namespace {

// The gate's 1 x 1 convolution, on the kernel direct_pointwise names.
Tensor gate_pointwise(const Tensor& x, const Tensor& weight) {
  return direct_pointwise(weight) ? same_conv2d(x, weight, 1, 1) : pointwise_conv2d(x, weight);
}

void check_gate_kernel(const char* name, const Tensor& weight, const c10::SymInt& out,
                       const c10::SymInt& in, bool depthwise) {
  const char* op = "autola_mm::sep_conv_gate";
  TORCH_CHECK_VALUE(weight.dim() == 4, op, ": ", name, " must be 4-D, got shape ",
                    checks::text(weight.sym_sizes()));
  const bool matches = weight.sym_size(0) == out && weight.sym_size(1) == in &&
                       (depthwise || (weight.sym_size(2) == 1 && weight.sym_size(3) == 1));
  TORCH_CHECK_VALUE(matches, op, ": ", name, " must have shape (", checks::text(out), ", ",
                    checks::text(in), depthwise ? ", k, k)" : ", 1, 1)", ", got ",
                    checks::text(weight.sym_sizes()));
}

}  // namespace

void check_sep_conv_gate(const Tensor& x, const Tensor& depthwise1, const Tensor& pointwise1,
                         const Tensor& depthwise2, const Tensor& pointwise2, bool spatial) {
  checks::feature_map("autola_mm::sep_conv_gate", x);
  // The convolutions read x's C channels, or the two maps of its channel pool.
  const c10::SymInt width = spatial ? c10::SymInt(2) : x.sym_size(1);
  const c10::SymInt gated = spatial ? c10::SymInt(1) : x.sym_size(1);
  check_gate_kernel("depthwise1", depthwise1, width, 1, true);
  check_gate_kernel("pointwise1", pointwise1, width, width, false);
  check_gate_kernel("depthwise2", depthwise2, width, 1, true);
  check_gate_kernel("pointwise2", pointwise2, gated, width, false);
}

// HOGA's separable gates, sep_conv_3x3 (and sep_conv_3x3_spatial where
// spatial), as one operator: on s = x (N, C, H, W), or its channel pool
// spatial_stats(x) (N, 2, H, W), two stacked (depthwise k x k same_conv2d,
// 1 x 1 convolution, batch_norm), the first with its ReLU fused, give the
// logits of sigmoid_gate(x, logits): (N, C, H, W) gate every element,
// (N, 1, H, W) every position. Its kernel is the composition of those
// operators on every device (their checks its checks, after the shapes of
// the four kernels; each batch norm updates its running statistics and
// counter as its operator does); its autograd formula (autograd.cpp) runs
// their backward operators in reverse, all of it below Python.
Tensor sep_conv_gate(const Tensor& x, const Tensor& depthwise1, const Tensor& pointwise1,
                     const std::optional<Tensor>& bn_weight1,
                     const std::optional<Tensor>& bn_bias1, Tensor& running_mean1,
                     Tensor& running_var1, bool training1, double momentum1, double eps1,
                     const std::optional<Tensor>& num_batches_tracked1, const Tensor& depthwise2,
                     const Tensor& pointwise2, const std::optional<Tensor>& bn_weight2,
                     const std::optional<Tensor>& bn_bias2, Tensor& running_mean2,
                     Tensor& running_var2, bool training2, double momentum2, double eps2,
                     const std::optional<Tensor>& num_batches_tracked2, bool spatial) {
  AUTOLA_MM_BELOW_AUTOCAST;
  check_sep_conv_gate(x, depthwise1, pointwise1, depthwise2, pointwise2, spatial);
  const Tensor source = spatial ? spatial_stats(x) : x;
  const Tensor conv1 = gate_pointwise(same_conv2d(source, depthwise1, 1, depthwise1.size(0)),
                                      pointwise1);
  const Tensor hidden = std::get<0>(batch_norm(conv1, bn_weight1, bn_bias1, running_mean1,
                                               running_var1, training1, momentum1, eps1, true,
                                               num_batches_tracked1));
  const Tensor conv2 = gate_pointwise(same_conv2d(hidden, depthwise2, 1, depthwise2.size(0)),
                                      pointwise2);
  const Tensor logits = std::get<0>(batch_norm(conv2, bn_weight2, bn_bias2, running_mean2,
                                               running_var2, training2, momentum2, eps2, false,
                                               num_batches_tracked2));
  return sigmoid_gate(x, logits);
}

#undef AUTOLA_MM_ON_DEVICE

}  // namespace autola_mm

// The operators a model calls: name, schema, and the autocast policy of
// their CUDA kernels. Pools and gates take the widest dtype of their inputs
// (a float16 map gated by float32 logits runs in float32); convolutions run
// in autocast's lower precision, as torch's own convolutions do.
#define AUTOLA_MM_FORWARD_OPERATORS(OP)                                                      \
  OP(channel_stats, "(Tensor x) -> (Tensor, Tensor)", promote)                               \
  OP(spatial_stats, "(Tensor x) -> Tensor", promote)                                         \
  OP(sigmoid_gate, "(Tensor x, Tensor logits) -> Tensor", promote)                           \
  OP(gated_spatial_stats, "(Tensor x, Tensor channel_logits) -> Tensor", promote)            \
  OP(channel_spatial_gate, "(Tensor x, Tensor channel_logits, Tensor spatial_logits) -> Tensor", \
     promote)                                                                                \
  OP(same_conv2d, "(Tensor x, Tensor weight, int dilation=1, int groups=1) -> Tensor",           \
     lower_precision_fp)                                                                     \
  OP(pointwise_conv2d, "(Tensor x, Tensor weight) -> Tensor", lower_precision_fp)             \
  OP(channel_mlp,                                                                            \
     "(Tensor avg, Tensor? max_, Tensor weight1, Tensor? bias1, Tensor weight2, "            \
     "Tensor? bias2) -> Tensor",                                                             \
     lower_precision_fp)

// Batch norm: registered as the forward operators are, but without an
// autocast kernel, so that it runs in its input's dtype under autocast, as
// torch's batch norm does (its running statistics are updated in place and
// must not be cast).
#define AUTOLA_MM_NORM_OPERATORS(OP)                                                         \
  OP(batch_norm,                                                                             \
     "(Tensor x, Tensor? weight, Tensor? bias, Tensor(a!) running_mean, "                    \
     "Tensor(b!) running_var, bool training, float momentum, float eps, bool relu=False, "   \
     "Tensor(c!)? num_batches_tracked=None) -> (Tensor, Tensor, Tensor)")

// SE's and CBAM's patterns with their logit networks, and HOGA's separable
// gates: registered as the forward operators are, but without an autocast
// kernel. Under autocast the MLP and the convolutions compute in another
// dtype than the pools and the gates, whose casts only autograd's graph
// undoes: the Python callers (autola_mm.ops.compiled.channel_mlp_attention,
// cbam_mlp_attention, sep_conv_gate) cast or compose the operators there.
#define AUTOLA_MM_PATTERN_OPERATORS(OP)                                                      \
  OP(channel_mlp_attention,                                                                  \
     "(Tensor x, Tensor weight1, Tensor? bias1, Tensor weight2, Tensor? bias2, "             \
     "bool with_max_pool=False) -> Tensor")                                                  \
  OP(cbam_mlp_attention,                                                                     \
     "(Tensor x, Tensor weight1, Tensor? bias1, Tensor weight2, Tensor? bias2, "             \
     "Tensor conv_weight, Tensor? bn_weight, Tensor? bn_bias, Tensor(a!) running_mean, "     \
     "Tensor(b!) running_var, bool training, float momentum, float eps, "                    \
     "Tensor(c!)? num_batches_tracked=None) -> Tensor")                                    \
  OP(sep_conv_gate,                                                                          \
     "(Tensor x, Tensor depthwise1, Tensor pointwise1, Tensor? bn_weight1, Tensor? bn_bias1, " \
     "Tensor(a!) running_mean1, Tensor(b!) running_var1, bool training1, float momentum1, "  \
     "float eps1, Tensor(c!)? num_batches_tracked1, Tensor depthwise2, Tensor pointwise2, "  \
     "Tensor? bn_weight2, Tensor? bn_bias2, Tensor(d!) running_mean2, "                      \
     "Tensor(e!) running_var2, bool training2, float momentum2, float eps2, "                \
     "Tensor(f!)? num_batches_tracked2, bool spatial=False) -> Tensor")

// Their backward passes, and the fused backward passes of SE
// (channel_attention_*) and CBAM (cbam_backward_*).
#define AUTOLA_MM_BACKWARD_OPERATORS(OP)                                                         \
  OP(channel_stats_backward, "(Tensor grad_avg, Tensor grad_max, Tensor x, Tensor max) -> Tensor") \
  OP(spatial_stats_backward, "(Tensor grad, Tensor x, Tensor stats) -> Tensor")                  \
  OP(sigmoid_gate_backward, "(Tensor grad, Tensor x, Tensor logits) -> (Tensor, Tensor)")        \
  OP(gated_spatial_stats_backward,                                                               \
     "(Tensor grad, Tensor x, Tensor channel_logits, Tensor stats) -> (Tensor, Tensor)")         \
  OP(channel_spatial_gate_backward,                                                              \
     "(Tensor grad, Tensor x, Tensor channel_logits, Tensor spatial_logits) -> "                 \
     "(Tensor, Tensor, Tensor)")                                                                 \
  OP(channel_attention_backward_logits,                                                          \
     "(Tensor grad, Tensor x, Tensor logits, Tensor channel_max) -> (Tensor, Tensor)")           \
  OP(channel_attention_backward_input,                                                           \
     "(Tensor grad, Tensor x, Tensor logits, Tensor channel_max, Tensor channel_ties, "          \
     "Tensor grad_avg, Tensor grad_max) -> Tensor")                                              \
  OP(cbam_backward_gate_logits,                                                                  \
     "(Tensor grad, Tensor x, Tensor channel_logits, Tensor spatial_logits) -> (Tensor, Tensor)") \
  OP(cbam_backward_pool_logits,                                                                  \
     "(Tensor grad_pooled, Tensor x, Tensor channel_logits, Tensor pooled, "                     \
     "Tensor channel_max) -> (Tensor, Tensor)")                                                  \
  OP(cbam_backward_input,                                                                        \
     "(Tensor grad, Tensor x, Tensor channel_logits, Tensor spatial_logits, Tensor pooled, "     \
     "Tensor grad_pooled, Tensor channel_max, Tensor channel_ties, Tensor grad_avg, "            \
     "Tensor grad_max) -> Tensor")                                                               \
  OP(same_conv2d_backward,                                                                       \
     "(Tensor grad, Tensor x, Tensor weight, int dilation, int groups, bool[2] output_mask) "    \
     "-> (Tensor, Tensor)")                                                                       \
  OP(pointwise_conv2d_backward_input, "(Tensor grad, Tensor x, Tensor weight) -> Tensor")        \
  OP(pointwise_conv2d_backward_weight, "(Tensor grad, Tensor x, Tensor weight) -> Tensor")   \
  OP(channel_mlp_backward,                                                                       \
     "(Tensor grad, Tensor avg, Tensor? max_, Tensor weight1, Tensor? bias1, Tensor weight2) "   \
     "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")                                      \
  OP(batch_norm_backward,                                                                        \
     "(Tensor grad, Tensor x, Tensor? weight, Tensor? running_mean, Tensor? running_var, "       \
     "Tensor save_mean, Tensor save_invstd, bool training, float eps, "                          \
     "Tensor? relu_out=None) -> (Tensor, Tensor, Tensor)")

namespace autola_mm {
namespace {

// Calls the operator kName through the dispatcher (below the autocast key,
// which the autocast wrapper has excluded), so that autograd records it.
template <const char* kName, typename Signature>
struct Redispatch;

template <const char* kName, typename Ret, typename... Args>
struct Redispatch<kName, Ret(Args...)> {
  static Ret call(Args... args) {
    static const auto handle =
        c10::Dispatcher::singleton().findSchemaOrThrow(kName, "").typed<Ret(Args...)>();
    return handle.call(args...);
  }
};

#define AUTOLA_MM_QUALIFIED_NAME(name, ...) constexpr char qualified_##name[] = "autola_mm::" #name;
AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_QUALIFIED_NAME)
#undef AUTOLA_MM_QUALIFIED_NAME

}  // namespace
}  // namespace autola_mm

#define AUTOLA_MM_DEFINE(name, schema, ...) m.def(#name schema, tags);
#define AUTOLA_MM_IMPLEMENT(name, ...) m.impl(#name, &autola_mm::name);
#define AUTOLA_MM_AUTOGRAD(name, ...) m.impl(#name, &autola_mm::autograd::name);
#define AUTOLA_MM_AUTOCAST(device, name, policy)                                               \
  m.impl(#name, &at::autocast::WrapFunction<                                                   \
                    at::autocast::CastPolicy::policy, device, decltype(autola_mm::name),       \
                    decltype(autola_mm::name),                                                 \
                    &autola_mm::Redispatch<autola_mm::qualified_##name,                        \
                                           decltype(autola_mm::name)>::call>::type::call);
#define AUTOLA_MM_AUTOCAST_CUDA(name, schema, policy) \
  AUTOLA_MM_AUTOCAST(c10::DeviceType::CUDA, name, policy)
// The CPU kernels cover float32 and float64: under CPU autocast every
// operator takes the widest dtype of its inputs.
#define AUTOLA_MM_AUTOCAST_CPU(name, schema, policy) \
  AUTOLA_MM_AUTOCAST(c10::DeviceType::CPU, name, promote)

TORCH_LIBRARY(autola_mm, m) {
  const std::vector<at::Tag> tags = {at::Tag::pt2_compliant_tag};
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_DEFINE)
  AUTOLA_MM_NORM_OPERATORS(AUTOLA_MM_DEFINE)
  AUTOLA_MM_PATTERN_OPERATORS(AUTOLA_MM_DEFINE)
  AUTOLA_MM_BACKWARD_OPERATORS(AUTOLA_MM_DEFINE)
}

// One function per operator serves every device: it checks its arguments and
// runs the kernel of its input's device.
TORCH_LIBRARY_IMPL(autola_mm, CPU, m) {
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_NORM_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_PATTERN_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_BACKWARD_OPERATORS(AUTOLA_MM_IMPLEMENT)
}

TORCH_LIBRARY_IMPL(autola_mm, Meta, m) {
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_NORM_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_PATTERN_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_BACKWARD_OPERATORS(AUTOLA_MM_IMPLEMENT)
}

// The backward operators have no derivative: differentiating through one
// (a double backward) raises instead of leaving gradients silently unset.
#define AUTOLA_MM_NOT_DIFFERENTIABLE(name, ...) \
  m.impl(#name, torch::autograd::autogradNotImplementedFallback());

TORCH_LIBRARY_IMPL(autola_mm, Autograd, m) {
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_AUTOGRAD)
  AUTOLA_MM_NORM_OPERATORS(AUTOLA_MM_AUTOGRAD)
  AUTOLA_MM_PATTERN_OPERATORS(AUTOLA_MM_AUTOGRAD)
  AUTOLA_MM_BACKWARD_OPERATORS(AUTOLA_MM_NOT_DIFFERENTIABLE)
}

TORCH_LIBRARY_IMPL(autola_mm, AutocastCPU, m) {
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_AUTOCAST_CPU)
}

#ifdef AUTOLA_MM_WITH_CUDA
TORCH_LIBRARY_IMPL(autola_mm, CUDA, m) {
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_NORM_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_PATTERN_OPERATORS(AUTOLA_MM_IMPLEMENT)
  AUTOLA_MM_BACKWARD_OPERATORS(AUTOLA_MM_IMPLEMENT)
}

TORCH_LIBRARY_IMPL(autola_mm, AutocastCUDA, m) {
  AUTOLA_MM_FORWARD_OPERATORS(AUTOLA_MM_AUTOCAST_CUDA)
}
#endif

// The extension is imported as the Python module autola_mm.ops._ext; importing
// it runs the registrations above. Its attributes: with_cuda, whether CUDA
// kernels were built; cpu_isa, the instruction set its CPU loops run
// ("avx512", "avx2" or "baseline"; chosen here, once, so that a bad
// AUTOLA_CPU_ISA fails the import); and direct_max_channel_pairs
// (attention_core.h). The operators are reached through
// torch.ops.autola_mm.
extern "C" PyObject* PyInit__ext(void) {
  const char* isa = nullptr;
  try {
    isa = autola_mm::cpu::cpu_isa_name(autola_mm::cpu::cpu_isa());
  } catch (const c10::Error& error) {
    PyErr_SetString(PyExc_ValueError, error.what_without_backtrace());
    return nullptr;
  }
  static PyModuleDef definition = {PyModuleDef_HEAD_INIT, "_ext", nullptr, -1, nullptr};
  PyObject* module = PyModule_Create(&definition);
#ifdef AUTOLA_MM_WITH_CUDA
  const long with_cuda = 1;
#else
  const long with_cuda = 0;
#endif
  if (module != nullptr &&
      (PyModule_AddIntConstant(module, "with_cuda", with_cuda) != 0 ||
       PyModule_AddStringConstant(module, "cpu_isa", isa) != 0 ||
       PyModule_AddIntConstant(module, "direct_max_channel_pairs",
                               autola_mm::kDirectMaxChannelPairs) != 0)) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
