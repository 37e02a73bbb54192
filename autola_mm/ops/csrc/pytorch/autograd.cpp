// The autograd formulas of the operators a model calls (operators.cpp lists
// them), as C++ autograd functions on the dispatcher's Autograd key: the
// forward saves what the backward reads and runs the operator below
// autograd; the backward calls the operator's backward operator(s) through
// the dispatcher, so that every device, Meta tensors (torch.compile's
// tracing) and the profiler see them. In C++ a call costs the autograd
// engine's bookkeeping only, where a Python autograd function cost a
// Python frame and a boxed redispatch in each direction (about 40 us per
// operator on the CPU, more than the kernels of HOGA's small maps).
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/add.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/graph_task.h>

#include <array>
#include <tuple>

#include "attention_core.h"
#include "autograd.h"

namespace autola_mm::autograd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The operator autola_mm::<name> as a typed dispatcher handle, found once.
template <typename Signature>
c10::TypedOperatorHandle<Signature> operator_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

#define AUTOLA_MM_OPERATOR(name, signature)                              \
  const auto& name##_op() {                                              \
    static const auto handle = operator_handle<signature>("autola_mm::" #name); \
    return handle;                                                       \
  }

using Unary = Tensor(const Tensor&);
using Binary = Tensor(const Tensor&, const Tensor&);
using Conv = Tensor(const Tensor&, const Tensor&, int64_t, int64_t);
using Pair = std::tuple<Tensor, Tensor>;
using Triple = std::tuple<Tensor, Tensor, Tensor>;
using Six = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>;

AUTOLA_MM_OPERATOR(channel_stats, Pair(const Tensor&))
AUTOLA_MM_OPERATOR(channel_stats_backward,
                   Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(spatial_stats, Unary)
AUTOLA_MM_OPERATOR(spatial_stats_backward, Tensor(const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(sigmoid_gate, Binary)
AUTOLA_MM_OPERATOR(sigmoid_gate_backward, Pair(const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(gated_spatial_stats, Binary)
AUTOLA_MM_OPERATOR(gated_spatial_stats_backward,
                   Pair(const Tensor&, const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(channel_spatial_gate, Tensor(const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(channel_spatial_gate_backward,
                   Triple(const Tensor&, const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(same_conv2d, Conv)
AUTOLA_MM_OPERATOR(same_conv2d_backward,
                   Pair(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t,
                        std::array<bool, 2>))
AUTOLA_MM_OPERATOR(pointwise_conv2d, Binary)
AUTOLA_MM_OPERATOR(pointwise_conv2d_backward_input,
                   Tensor(const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(pointwise_conv2d_backward_weight,
                   Tensor(const Tensor&, const Tensor&, const Tensor&))

AUTOLA_MM_OPERATOR(channel_mlp,
                   Tensor(const Tensor&, const std::optional<Tensor>&, const Tensor&,
                          const std::optional<Tensor>&, const Tensor&,
                          const std::optional<Tensor>&))
AUTOLA_MM_OPERATOR(channel_mlp_backward,
                   Six(const Tensor&, const Tensor&, const std::optional<Tensor>&, const Tensor&,
                       const std::optional<Tensor>&, const Tensor&))

AUTOLA_MM_OPERATOR(channel_attention_backward_logits,
                   Pair(const Tensor&, const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(channel_attention_backward_input,
                   Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          const Tensor&, const Tensor&, const Tensor&))

AUTOLA_MM_OPERATOR(cbam_backward_gate_logits,
                   Pair(const Tensor&, const Tensor&, const Tensor&, const Tensor&))
AUTOLA_MM_OPERATOR(cbam_backward_pool_logits,
                   Pair(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                        const Tensor&))
AUTOLA_MM_OPERATOR(cbam_backward_input,
                   Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          const Tensor&, const Tensor&))

AUTOLA_MM_OPERATOR(batch_norm,
                   Triple(const Tensor&, const std::optional<Tensor>&,
                          const std::optional<Tensor>&, Tensor&, Tensor&, bool, double, double,
                          bool, const std::optional<Tensor>&))
AUTOLA_MM_OPERATOR(batch_norm_backward,
                   Triple(const Tensor&, const Tensor&, const std::optional<Tensor>&,
                          const std::optional<Tensor>&, const std::optional<Tensor>&,
                          const Tensor&, const Tensor&, bool, double,
                          const std::optional<Tensor>&))

#undef AUTOLA_MM_OPERATOR

// Runs the operator's kernels (device, Meta, ...) without recording autograd.
#define AUTOLA_MM_BELOW_AUTOGRAD at::AutoDispatchBelowADInplaceOrView below_autograd

struct ChannelStats : torch::autograd::Function<ChannelStats> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    auto [avg, max] = channel_stats_op().call(x);
    ctx->save_for_backward({x, max});
    return {avg, max};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {channel_stats_backward_op().call(grads[0], grads[1], saved[0], saved[1])};
  }
};

struct SpatialStats : torch::autograd::Function<SpatialStats> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    Tensor stats = spatial_stats_op().call(x);
    ctx->save_for_backward({x, stats});
    return stats;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {spatial_stats_backward_op().call(grads[0], saved[0], saved[1])};
  }
};

struct SigmoidGate : torch::autograd::Function<SigmoidGate> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& logits) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    ctx->save_for_backward({x, logits});
    return sigmoid_gate_op().call(x, logits);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [grad_x, grad_logits] = sigmoid_gate_backward_op().call(grads[0], saved[0], saved[1]);
    return {grad_x, grad_logits};
  }
};

struct GatedSpatialStats : torch::autograd::Function<GatedSpatialStats> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& channel_logits) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    Tensor stats = gated_spatial_stats_op().call(x, channel_logits);
    ctx->save_for_backward({x, channel_logits, stats});
    return stats;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [grad_x, grad_logits] =
        gated_spatial_stats_backward_op().call(grads[0], saved[0], saved[1], saved[2]);
    return {grad_x, grad_logits};
  }
};

struct ChannelSpatialGate : torch::autograd::Function<ChannelSpatialGate> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& channel_logits,
                        const Tensor& spatial_logits) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    ctx->save_for_backward({x, channel_logits, spatial_logits});
    return channel_spatial_gate_op().call(x, channel_logits, spatial_logits);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [grad_x, grad_channel, grad_spatial] =
        channel_spatial_gate_backward_op().call(grads[0], saved[0], saved[1], saved[2]);
    return {grad_x, grad_channel, grad_spatial};
  }
};

struct SameConv2d : torch::autograd::Function<SameConv2d> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight,
                        int64_t dilation, int64_t groups) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    ctx->save_for_backward({x, weight});
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    return same_conv2d_op().call(x, weight, dilation, groups);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const int64_t dilation = ctx->saved_data["dilation"].toInt();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    auto [grad_x, grad_weight] = same_conv2d_backward_op().call(
        grads[0], saved[0], saved[1], dilation, groups,
        {ctx->needs_input_grad(0), ctx->needs_input_grad(1)});
    return {grad_x, grad_weight, Tensor(), Tensor()};
  }
};

struct PointwiseConv2d : torch::autograd::Function<PointwiseConv2d> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    ctx->save_for_backward({x, weight});
    return pointwise_conv2d_op().call(x, weight);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    Tensor grad_x, grad_weight;
    if (ctx->needs_input_grad(0)) {
      grad_x = pointwise_conv2d_backward_input_op().call(grads[0], saved[0], saved[1]);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = pointwise_conv2d_backward_weight_op().call(grads[0], saved[0], saved[1]);
    }
    return {grad_x, grad_weight};
  }
};

// The backward recomputes the hidden layer from the descriptors (a few
// hundred values) rather than saving it.
struct ChannelMlp : torch::autograd::Function<ChannelMlp> {
  static Tensor forward(AutogradContext* ctx, const Tensor& avg, const std::optional<Tensor>& max,
                        const Tensor& weight1, const std::optional<Tensor>& bias1,
                        const Tensor& weight2, const std::optional<Tensor>& bias2) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    ctx->save_for_backward(
        {avg, max.value_or(Tensor()), weight1, bias1.value_or(Tensor()), weight2});
    ctx->saved_data["has_bias2"] = bias2.has_value() && bias2->defined();
    return channel_mlp_op().call(avg, max, weight1, bias1, weight2, bias2);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto optional = [](const Tensor& t) {
      return t.defined() ? std::optional<Tensor>(t) : std::nullopt;
    };
    auto [grad_avg, grad_max, grad_weight1, grad_bias1, grad_weight2, grad_bias2] =
        channel_mlp_backward_op().call(grads[0], saved[0], optional(saved[1]), saved[2],
                                       optional(saved[3]), saved[4]);
    return {grad_avg,
            saved[1].defined() ? grad_max : Tensor(),
            grad_weight1,
            saved[3].defined() ? grad_bias1 : Tensor(),
            grad_weight2,
            ctx->saved_data["has_bias2"].toBool() ? grad_bias2 : Tensor()};
  }
};

// SE's pattern with a ReLU channel MLP, as autola_mm.ops.compiled's
// _ChannelAttention computes it, without its Python frames and nested graph:
// the forward pools, runs the MLP and gates; the backward reduces the
// logits' gradient from grad and x in one pass, backpropagates it through the
// MLP (channel_mlp_backward), and writes the gradient of x from the gate and
// the pool in a second pass. The MLP's backward recomputes its hidden layer.
struct ChannelMlpAttention : torch::autograd::Function<ChannelMlpAttention> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight1,
                        const std::optional<Tensor>& bias1, const Tensor& weight2,
                        const std::optional<Tensor>& bias2, bool with_max_pool) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    AUTOLA_MM_BELOW_AUTOCAST;
    auto [avg, max] = channel_stats_op().call(x);
    const std::optional<Tensor> second =
        with_max_pool ? std::optional<Tensor>(max) : std::nullopt;
    Tensor logits = channel_mlp_op().call(avg, second, weight1, bias1, weight2, bias2);
    ctx->save_for_backward({x, avg, max, logits, weight1, bias1.value_or(Tensor()), weight2});
    ctx->saved_data["with_max_pool"] = with_max_pool;
    ctx->saved_data["has_bias2"] = bias2.has_value() && bias2->defined();
    return sigmoid_gate_op().call(x, logits);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    AUTOLA_MM_BELOW_AUTOCAST;
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &avg = saved[1], &max = saved[2], &logits = saved[3];
    const bool with_max_pool = ctx->saved_data["with_max_pool"].toBool();
    const std::optional<Tensor> second =
        with_max_pool ? std::optional<Tensor>(max) : std::nullopt;
    const std::optional<Tensor> bias1 =
        saved[5].defined() ? std::optional<Tensor>(saved[5]) : std::nullopt;
    auto [grad_logits, ties] =
        channel_attention_backward_logits_op().call(grads[0], x, logits, max);
    auto [grad_avg, grad_max, grad_weight1, grad_bias1, grad_weight2, grad_bias2] =
        channel_mlp_backward_op().call(grad_logits, avg, second, saved[4], bias1, saved[6]);
    Tensor grad_x;
    if (ctx->needs_input_grad(0)) {
      grad_x = channel_attention_backward_input_op().call(
          grads[0], x, logits, max, ties, grad_avg,
          with_max_pool ? grad_max : at::zeros_like(max));
    }
    return {grad_x,
            grad_weight1,
            bias1.has_value() ? grad_bias1 : Tensor(),
            grad_weight2,
            ctx->saved_data["has_bias2"].toBool() ? grad_bias2 : Tensor(),
            Tensor()};
  }
};

// CBAM's pattern with a ReLU channel MLP, a spatial convolution and a batch
// norm, as autola_mm.ops.compiled's _CBAMAttention computes it, without its
// Python frames and nested graphs. The forward runs the operators in order
// (the batch norm updates its running statistics and counter); the backward
// reduces both gates' logits' gradients from grad and x, backpropagates the
// spatial one through the batch norm and the convolution, reduces the
// channel logits' gradient through the gated pool, backpropagates the sum
// through the MLP, and writes the gradient of x from its three uses.
struct CbamMlpAttention : torch::autograd::Function<CbamMlpAttention> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight1,
                        const std::optional<Tensor>& bias1, const Tensor& weight2,
                        const std::optional<Tensor>& bias2, const Tensor& conv_weight,
                        const std::optional<Tensor>& bn_weight,
                        const std::optional<Tensor>& bn_bias, Tensor& running_mean,
                        Tensor& running_var, bool training, double momentum, double eps,
                        const std::optional<Tensor>& num_batches_tracked) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    AUTOLA_MM_BELOW_AUTOCAST;
    auto [avg, max] = channel_stats_op().call(x);
    Tensor channel = channel_mlp_op().call(avg, max, weight1, bias1, weight2, bias2);
    Tensor pooled = gated_spatial_stats_op().call(x, channel);
    Tensor conv = same_conv2d_op().call(pooled, conv_weight, 1, 1);
    auto [spatial, mean, invstd] =
        batch_norm_op().call(conv, bn_weight, bn_bias, running_mean, running_var, training,
                             momentum, eps, false, num_batches_tracked);
    ctx->save_for_backward({x, avg, max, channel, pooled, conv, spatial, mean, invstd, weight1,
                            bias1.value_or(Tensor()), weight2, conv_weight,
                            bn_weight.value_or(Tensor()), training ? Tensor() : running_mean,
                            training ? Tensor() : running_var});
    ctx->saved_data["training"] = training;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["has_bias2"] = bias2.has_value() && bias2->defined();
    ctx->saved_data["has_bn_bias"] = bn_bias.has_value() && bn_bias->defined();
    // needs_input_grad counts the tensors given: x, weight1, bias1 where
    // given, weight2, bias2 where given, then conv_weight.
    ctx->saved_data["conv_weight_input"] = int64_t{3} + (bias1.has_value() && bias1->defined()) +
                                           ctx->saved_data["has_bias2"].toBool();
    return channel_spatial_gate_op().call(x, channel, spatial);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    AUTOLA_MM_BELOW_AUTOCAST;
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &avg = saved[1], &max = saved[2], &channel = saved[3];
    const Tensor &pooled = saved[4], &conv = saved[5], &spatial = saved[6];
    const auto optional = [](const Tensor& t) {
      return t.defined() ? std::optional<Tensor>(t) : std::nullopt;
    };
    // The spatial network's gradients end in grad_pooled; its (N, 1, H, W)
    // intermediates are freed before the last pass writes the gradient of x.
    Tensor grad_channel, grad_pooled, grad_conv_weight, grad_bn_weight, grad_bn_bias;
    {
      Tensor grad_spatial, grad_conv;
      std::tie(grad_channel, grad_spatial) =
          cbam_backward_gate_logits_op().call(grads[0], x, channel, spatial);
      std::tie(grad_conv, grad_bn_weight, grad_bn_bias) = batch_norm_backward_op().call(
          grad_spatial, conv, optional(saved[13]), optional(saved[14]), optional(saved[15]),
          saved[7], saved[8], ctx->saved_data["training"].toBool(),
          ctx->saved_data["eps"].toDouble(), std::nullopt);
      grad_spatial.reset();
      std::tie(grad_pooled, grad_conv_weight) = same_conv2d_backward_op().call(
          grad_conv, pooled, saved[12], 1, 1,
          {true, ctx->needs_input_grad(ctx->saved_data["conv_weight_input"].toInt())});
    }
    auto [grad_channel_pool, ties] =
        cbam_backward_pool_logits_op().call(grad_pooled, x, channel, pooled, max);
    auto [grad_avg, grad_max, grad_weight1, grad_bias1, grad_weight2, grad_bias2] =
        channel_mlp_backward_op().call(at::add(grad_channel, grad_channel_pool), avg, max,
                                       saved[9], optional(saved[10]), saved[11]);
    Tensor grad_x;
    if (ctx->needs_input_grad(0)) {
      grad_x = cbam_backward_input_op().call(grads[0], x, channel, spatial, pooled, grad_pooled,
                                             max, ties, grad_avg, grad_max);
    }
    return {grad_x,
            grad_weight1,
            saved[10].defined() ? grad_bias1 : Tensor(),
            grad_weight2,
            ctx->saved_data["has_bias2"].toBool() ? grad_bias2 : Tensor(),
            grad_conv_weight,
            saved[13].defined() ? grad_bn_weight : Tensor(),
            ctx->saved_data["has_bn_bias"].toBool() ? grad_bn_bias : Tensor(),
            Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// The gate's 1 x 1 convolution and its backward, on the kernel
// direct_pointwise names (attention_core.h); the weight's gradient only
// where weight_grad.
Tensor gate_pointwise(const Tensor& x, const Tensor& weight) {
  return direct_pointwise(weight) ? same_conv2d_op().call(x, weight, 1, 1)
                                  : pointwise_conv2d_op().call(x, weight);
}

Pair gate_pointwise_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                             bool weight_grad) {
  if (direct_pointwise(weight)) {
    return same_conv2d_backward_op().call(grad, x, weight, 1, 1, {true, weight_grad});
  }
  return {pointwise_conv2d_backward_input_op().call(grad, x, weight),
          weight_grad ? pointwise_conv2d_backward_weight_op().call(grad, x, weight) : Tensor()};
}

// HOGA's separable gate (operators.cpp's sep_conv_gate) as the operators
// compute it, without the Python frames of its modules and with one autograd
// node: the forward runs the operators in order and keeps every map their
// backward operators read; the backward runs those in reverse, the first
// batch norm's through its fused ReLU, and adds the gradient that reaches x
// through the logits (through the channel pool where spatial) to the gate's.
// The maps made inside the forward are kept in saved_data, not saved
// variables (no one else holds them, and they are not outputs), so that a
// backward that does not keep the graph frees each one when its last reader
// is done, as the operators' own nodes would, rather than all at the end;
// keeping them changed the allocator's reuse enough to slow the backward of
// 8x16x56x56 by about two fifths on the CPU.
struct SepConvGate : torch::autograd::Function<SepConvGate> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& depthwise1,
                        const Tensor& pointwise1, const std::optional<Tensor>& bn_weight1,
                        const std::optional<Tensor>& bn_bias1, Tensor& running_mean1,
                        Tensor& running_var1, bool training1, double momentum1, double eps1,
                        const std::optional<Tensor>& num_batches_tracked1,
                        const Tensor& depthwise2, const Tensor& pointwise2,
                        const std::optional<Tensor>& bn_weight2,
                        const std::optional<Tensor>& bn_bias2, Tensor& running_mean2,
                        Tensor& running_var2, bool training2, double momentum2, double eps2,
                        const std::optional<Tensor>& num_batches_tracked2, bool spatial) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    AUTOLA_MM_BELOW_AUTOCAST;
    check_sep_conv_gate(x, depthwise1, pointwise1, depthwise2, pointwise2, spatial);
    const Tensor source = spatial ? spatial_stats_op().call(x) : x;
    Tensor depthwise_out1 = same_conv2d_op().call(source, depthwise1, 1, depthwise1.size(0));
    Tensor conv1 = gate_pointwise(depthwise_out1, pointwise1);
    auto [hidden, mean1, invstd1] =
        batch_norm_op().call(conv1, bn_weight1, bn_bias1, running_mean1, running_var1,
                             training1, momentum1, eps1, true, num_batches_tracked1);
    Tensor depthwise_out2 = same_conv2d_op().call(hidden, depthwise2, 1, depthwise2.size(0));
    Tensor conv2 = gate_pointwise(depthwise_out2, pointwise2);
    auto [logits, mean2, invstd2] =
        batch_norm_op().call(conv2, bn_weight2, bn_bias2, running_mean2, running_var2,
                             training2, momentum2, eps2, false, num_batches_tracked2);
    ctx->save_for_backward({x, depthwise1, pointwise1, depthwise2, pointwise2,
                            bn_weight1.value_or(Tensor()), bn_weight2.value_or(Tensor()),
                            training1 ? Tensor() : running_mean1,
                            training1 ? Tensor() : running_var1,
                            training2 ? Tensor() : running_mean2,
                            training2 ? Tensor() : running_var2});
    auto& kept = ctx->saved_data;
    if (spatial) {
      kept["source"] = source;
    }
    kept["depthwise_out1"] = depthwise_out1;
    kept["conv1"] = conv1;
    kept["hidden"] = hidden;
    kept["depthwise_out2"] = depthwise_out2;
    kept["conv2"] = conv2;
    kept["logits"] = logits;
    kept["mean1"] = mean1;
    kept["invstd1"] = invstd1;
    kept["mean2"] = mean2;
    kept["invstd2"] = invstd2;
    kept["training1"] = training1;
    kept["training2"] = training2;
    kept["eps1"] = eps1;
    kept["eps2"] = eps2;
    kept["spatial"] = spatial;
    // needs_input_grad counts the tensors given, in order: x, the first
    // stage's two kernels, its BN weight and bias where given, its running
    // statistics, its counter where given, then the second stage's.
    const auto given = [](const std::optional<Tensor>& t) {
      return static_cast<int64_t>(t.has_value() && t->defined());
    };
    kept["stage2"] =
        int64_t{5} + given(bn_weight1) + given(bn_bias1) + given(num_batches_tracked1);
    kept["has_bn_bias1"] = given(bn_bias1) == 1;
    kept["has_bn_bias2"] = given(bn_bias2) == 1;
    return sigmoid_gate_op().call(x, logits);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    AUTOLA_MM_BELOW_AUTOCAST;
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &depthwise1 = saved[1], &pointwise1 = saved[2];
    const Tensor &depthwise2 = saved[3], &pointwise2 = saved[4];
    const auto optional = [](const Tensor& t) {
      return t.defined() ? std::optional<Tensor>(t) : std::nullopt;
    };
    auto& kept = ctx->saved_data;
    // A map of the forward, dropped from the context unless the graph is kept
    // for another backward.
    const bool keep_graph = torch::autograd::get_current_graph_task_keep_graph();
    const auto take = [&](const char* name) {
      Tensor t = kept.at(name).toTensor();
      if (!keep_graph) {
        kept.erase(name);
      }
      return t;
    };
    const bool spatial = kept.at("spatial").toBool();
    const int64_t stage1 = 1, stage2 = kept.at("stage2").toInt();
    Tensor grad_x, grad_logits;
    {
      const Tensor logits = take("logits");
      std::tie(grad_x, grad_logits) = sigmoid_gate_backward_op().call(grads[0], x, logits);
    }
    Tensor grad_conv2, grad_bn_weight2, grad_bn_bias2;
    std::tie(grad_conv2, grad_bn_weight2, grad_bn_bias2) = batch_norm_backward_op().call(
        grad_logits, take("conv2"), optional(saved[6]), optional(saved[9]), optional(saved[10]),
        take("mean2"), take("invstd2"), kept.at("training2").toBool(),
        kept.at("eps2").toDouble(), std::nullopt);
    grad_logits.reset();
    auto [grad_depthwise_out2, grad_pointwise2] = gate_pointwise_backward(
        grad_conv2, take("depthwise_out2"), pointwise2, ctx->needs_input_grad(stage2 + 1));
    grad_conv2.reset();
    const Tensor hidden = take("hidden");
    auto [grad_hidden, grad_depthwise2] = same_conv2d_backward_op().call(
        grad_depthwise_out2, hidden, depthwise2, 1, depthwise2.size(0),
        {true, ctx->needs_input_grad(stage2)});
    grad_depthwise_out2.reset();
    auto [grad_conv1, grad_bn_weight1, grad_bn_bias1] = batch_norm_backward_op().call(
        grad_hidden, take("conv1"), optional(saved[5]), optional(saved[7]), optional(saved[8]),
        take("mean1"), take("invstd1"), kept.at("training1").toBool(),
        kept.at("eps1").toDouble(), hidden);
    grad_hidden.reset();
    auto [grad_depthwise_out1, grad_pointwise1] = gate_pointwise_backward(
        grad_conv1, take("depthwise_out1"), pointwise1, ctx->needs_input_grad(stage1 + 1));
    grad_conv1.reset();
    const bool input_grad = ctx->needs_input_grad(0);
    const Tensor source = spatial ? take("source") : x;
    auto [grad_source, grad_depthwise1] = same_conv2d_backward_op().call(
        grad_depthwise_out1, source, depthwise1, 1, depthwise1.size(0),
        {input_grad, ctx->needs_input_grad(stage1)});
    if (input_grad) {
      grad_x = at::add(grad_x, spatial ? spatial_stats_backward_op().call(grad_source, x, source)
                                       : grad_source);
    }
    return {input_grad ? grad_x : Tensor(),
            grad_depthwise1,
            grad_pointwise1,
            saved[5].defined() ? grad_bn_weight1 : Tensor(),
            kept.at("has_bn_bias1").toBool() ? grad_bn_bias1 : Tensor(),
            Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(),
            grad_depthwise2,
            grad_pointwise2,
            saved[6].defined() ? grad_bn_weight2 : Tensor(),
            kept.at("has_bn_bias2").toBool() ? grad_bn_bias2 : Tensor(),
            Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// The output is differentiable in x, weight and bias; the statistics are
// not. The backward reads the running statistics only in evaluation (on
// devices other than the CPU), so training saves none: the next step updates
// them in place. A fused ReLU saves its output, which the backward reads
// for where the gradient passes (the layer after it keeps that output
// anyway, as its input).
struct BatchNorm : torch::autograd::Function<BatchNorm> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x,
                               const std::optional<Tensor>& weight,
                               const std::optional<Tensor>& bias, Tensor& running_mean,
                               Tensor& running_var, bool training, double momentum, double eps,
                               bool relu, const std::optional<Tensor>& num_batches_tracked) {
    AUTOLA_MM_BELOW_AUTOGRAD;
    auto [out, mean, invstd] = batch_norm_op().call(x, weight, bias, running_mean, running_var,
                                                    training, momentum, eps, relu,
                                                    num_batches_tracked);
    ctx->save_for_backward({x, weight.value_or(Tensor()), training ? Tensor() : running_mean,
                            training ? Tensor() : running_var, mean, invstd,
                            relu ? out : Tensor()});
    ctx->saved_data["training"] = training;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["has_weight"] = weight.has_value() && weight->defined();
    ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
    ctx->mark_non_differentiable({mean, invstd});
    // The statistics get no gradient: no zeros made for them.
    ctx->set_materialize_grads(false);
    return {out, mean, invstd};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) {
      return variable_list(10);
    }
    const auto saved = ctx->get_saved_variables();
    const auto optional = [](const Tensor& t) {
      return t.defined() ? std::optional<Tensor>(t) : std::nullopt;
    };
    auto [grad_x, grad_weight, grad_bias] = batch_norm_backward_op().call(
        grads[0], saved[0], optional(saved[1]), optional(saved[2]), optional(saved[3]),
        saved[4], saved[5], ctx->saved_data["training"].toBool(),
        ctx->saved_data["eps"].toDouble(), optional(saved[6]));
    // needs_input_grad counts only the tensors given (x, then weight and bias
    // where given): the gradients of a weight and a bias that were given are
    // returned, and autograd drops those not required.
    return {ctx->needs_input_grad(0) ? grad_x : Tensor(),
            ctx->saved_data["has_weight"].toBool() ? grad_weight : Tensor(),
            ctx->saved_data["has_bias"].toBool() ? grad_bias : Tensor(),
            Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

#undef AUTOLA_MM_BELOW_AUTOGRAD

}  // namespace

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x) {
  const auto outputs = ChannelStats::apply(x);
  return {outputs[0], outputs[1]};
}

Tensor spatial_stats(const Tensor& x) { return SpatialStats::apply(x); }

Tensor sigmoid_gate(const Tensor& x, const Tensor& logits) {
  return SigmoidGate::apply(x, logits);
}

Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  return GatedSpatialStats::apply(x, channel_logits);
}

Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits) {
  return ChannelSpatialGate::apply(x, channel_logits, spatial_logits);
}

Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  return SameConv2d::apply(x, weight, dilation, groups);
}

Tensor pointwise_conv2d(const Tensor& x, const Tensor& weight) {
  return PointwiseConv2d::apply(x, weight);
}

Tensor channel_mlp(const Tensor& avg, const std::optional<Tensor>& max, const Tensor& weight1,
                   const std::optional<Tensor>& bias1, const Tensor& weight2,
                   const std::optional<Tensor>& bias2) {
  return ChannelMlp::apply(avg, max, weight1, bias1, weight2, bias2);
}

Tensor channel_mlp_attention(const Tensor& x, const Tensor& weight1,
                             const std::optional<Tensor>& bias1, const Tensor& weight2,
                             const std::optional<Tensor>& bias2, bool with_max_pool) {
  return ChannelMlpAttention::apply(x, weight1, bias1, weight2, bias2, with_max_pool);
}

Tensor cbam_mlp_attention(const Tensor& x, const Tensor& weight1,
                          const std::optional<Tensor>& bias1, const Tensor& weight2,
                          const std::optional<Tensor>& bias2, const Tensor& conv_weight,
                          const std::optional<Tensor>& bn_weight,
                          const std::optional<Tensor>& bn_bias, Tensor& running_mean,
                          Tensor& running_var, bool training, double momentum, double eps,
                          const std::optional<Tensor>& num_batches_tracked) {
  return CbamMlpAttention::apply(x, weight1, bias1, weight2, bias2, conv_weight, bn_weight,
                                 bn_bias, running_mean, running_var, training, momentum, eps,
                                 num_batches_tracked);
}

Tensor sep_conv_gate(const Tensor& x, const Tensor& depthwise1, const Tensor& pointwise1,
                     const std::optional<Tensor>& bn_weight1,
                     const std::optional<Tensor>& bn_bias1, Tensor& running_mean1,
                     Tensor& running_var1, bool training1, double momentum1, double eps1,
                     const std::optional<Tensor>& num_batches_tracked1, const Tensor& depthwise2,
                     const Tensor& pointwise2, const std::optional<Tensor>& bn_weight2,
                     const std::optional<Tensor>& bn_bias2, Tensor& running_mean2,
                     Tensor& running_var2, bool training2, double momentum2, double eps2,
                     const std::optional<Tensor>& num_batches_tracked2, bool spatial) {
  return SepConvGate::apply(x, depthwise1, pointwise1, bn_weight1, bn_bias1, running_mean1,
                            running_var1, training1, momentum1, eps1, num_batches_tracked1,
                            depthwise2, pointwise2, bn_weight2, bn_bias2, running_mean2,
                            running_var2, training2, momentum2, eps2, num_batches_tracked2,
                            spatial);
}

std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& x,
                                              const std::optional<Tensor>& weight,
                                              const std::optional<Tensor>& bias,
                                              Tensor& running_mean, Tensor& running_var,
                                              bool training, double momentum, double eps,
                                              bool relu,
                                              const std::optional<Tensor>& num_batches_tracked) {
  const auto outputs = BatchNorm::apply(x, weight, bias, running_mean, running_var, training,
                                        momentum, eps, relu, num_batches_tracked);
  return {outputs[0], outputs[1], outputs[2]};
}

}  // namespace autola_mm::autograd
