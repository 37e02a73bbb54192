// Argument checks of the attention core operators, shared by the CPU, CUDA
// and Meta kernels so that every back end rejects the same inputs with the
// same message.
#include <c10/util/Exception.h>

#include "attention_core.h"

namespace autola_mm {
namespace {

void check_feature_map(const char* op, const Tensor& x) {
  TORCH_CHECK_VALUE(x.dim() == 4, op, ": x must be a 4-D (N, C, H, W) feature map, got shape ",
                    x.sym_sizes());
  TORCH_CHECK_VALUE(at::isFloatingType(x.scalar_type()), op,
                    ": x must be a floating point tensor, got ", x.scalar_type());
}

void check_like(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  TORCH_CHECK_VALUE(t.scalar_type() == x.scalar_type(), op, ": ", name,
                    " must have x's dtype ", x.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " must be on x's device ",
                    x.device(), ", got ", t.device());
}

void check_shape(const char* op, const char* name, const Tensor& t,
                 c10::SymIntArrayRef expected) {
  TORCH_CHECK_VALUE(t.sym_sizes() == expected, op, ": ", name, " must have shape ",
                    expected, ", got ", t.sym_sizes());
}

bool is_channel_shape(const Tensor& t, const Tensor& x) {
  return t.dim() == 4 && t.sym_size(0) == x.sym_size(0) && t.sym_size(1) == x.sym_size(1) &&
         t.sym_size(2) == 1 && t.sym_size(3) == 1;
}

bool is_spatial_shape(const Tensor& t, const Tensor& x) {
  return t.dim() == 4 && t.sym_size(0) == x.sym_size(0) && t.sym_size(1) == 1 &&
         t.sym_size(2) == x.sym_size(2) && t.sym_size(3) == x.sym_size(3);
}

void check_channel_logits(const char* op, const char* name, const Tensor& logits,
                          const Tensor& x) {
  check_like(op, name, logits, x);
  TORCH_CHECK_VALUE(is_channel_shape(logits, x), op, ": ", name,
                    " must have shape (N, C, 1, 1) for x of shape ", x.sym_sizes(),
                    ", got ", logits.sym_sizes());
}

void check_spatial_logits(const char* op, const char* name, const Tensor& logits,
                          const Tensor& x) {
  check_like(op, name, logits, x);
  TORCH_CHECK_VALUE(is_spatial_shape(logits, x), op, ": ", name,
                    " must have shape (N, 1, H, W) for x of shape ", x.sym_sizes(),
                    ", got ", logits.sym_sizes());
}

void check_positions(const char* op, const Tensor& x) {
  TORCH_CHECK_VALUE(x.sym_size(2) * x.sym_size(3) > 0, op,
                    ": x must have at least one position (H * W > 0) to pool over, got shape ",
                    x.sym_sizes());
}

void check_channels(const char* op, const Tensor& x) {
  TORCH_CHECK_VALUE(x.sym_size(1) > 0, op,
                    ": x must have at least one channel (C > 0) to pool over, got shape ",
                    x.sym_sizes());
}

// The channel statistics' gradients and tie counts the fused backward passes take.
void check_stats_gradients(const char* op, const Tensor& x, const Tensor& channel_ties,
                           const Tensor& grad_avg, const Tensor& grad_max) {
  const std::vector<c10::SymInt> shape = {x.sym_size(0), x.sym_size(1), 1, 1};
  TORCH_CHECK_VALUE(channel_ties.scalar_type() == at::kInt && channel_ties.device() == x.device(),
                    op, ": channel_ties must be an int32 tensor on x's device, got ",
                    channel_ties.scalar_type(), " on ", channel_ties.device());
  check_shape(op, "channel_ties", channel_ties, shape);
  for (const auto& [name, t] : {std::pair<const char*, const Tensor&>{"grad_avg", grad_avg},
                                {"grad_max", grad_max}}) {
    check_like(op, name, t, x);
    check_shape(op, name, t, shape);
  }
}

}  // namespace

std::vector<c10::SymInt> channel_stats_shape(const Tensor& x) {
  return {x.sym_size(0), x.sym_size(1), 1, 1};
}

std::vector<c10::SymInt> spatial_stats_shape(const Tensor& x) {
  return {x.sym_size(0), 2, x.sym_size(2), x.sym_size(3)};
}

void check_channel_stats(const Tensor& x) {
  const char* op = "autola_mm::channel_stats";
  check_feature_map(op, x);
  check_positions(op, x);
}

void check_channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max,
                                  const Tensor& x, const Tensor& max) {
  const char* op = "autola_mm::channel_stats_backward";
  check_feature_map(op, x);
  check_positions(op, x);
  const auto shape = channel_stats_shape(x);
  for (const auto& [name, t] : {std::pair<const char*, const Tensor&>{"grad_avg", grad_avg},
                                {"grad_max", grad_max},
                                {"max", max}}) {
    check_like(op, name, t, x);
    check_shape(op, name, t, shape);
  }
}

void check_spatial_stats(const Tensor& x) {
  const char* op = "autola_mm::spatial_stats";
  check_feature_map(op, x);
  check_channels(op, x);
}

void check_spatial_stats_backward(const Tensor& grad, const Tensor& x, const Tensor& stats) {
  const char* op = "autola_mm::spatial_stats_backward";
  check_feature_map(op, x);
  check_channels(op, x);
  const auto shape = spatial_stats_shape(x);
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad, shape);
  check_like(op, "stats", stats, x);
  check_shape(op, "stats", stats, shape);
}

void check_sigmoid_gate(const Tensor& x, const Tensor& logits) {
  const char* op = "autola_mm::sigmoid_gate";
  check_feature_map(op, x);
  check_like(op, "logits", logits, x);
  TORCH_CHECK_VALUE(is_channel_shape(logits, x) || is_spatial_shape(logits, x) ||
                        logits.sym_sizes() == x.sym_sizes(),
                    op, ": logits must have shape (N, C, 1, 1), (N, 1, H, W) or (N, C, H, W) ",
                    "for x of shape ", x.sym_sizes(), ", got ", logits.sym_sizes());
}

void check_sigmoid_gate_backward(const Tensor& grad, const Tensor& x, const Tensor& logits) {
  check_sigmoid_gate(x, logits);
  const char* op = "autola_mm::sigmoid_gate_backward";
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad, x.sym_sizes());
}

void check_gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  const char* op = "autola_mm::gated_spatial_stats";
  check_feature_map(op, x);
  check_channels(op, x);
  check_channel_logits(op, "channel_logits", channel_logits, x);
}

void check_gated_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                        const Tensor& channel_logits, const Tensor& stats) {
  check_gated_spatial_stats(x, channel_logits);
  const char* op = "autola_mm::gated_spatial_stats_backward";
  const auto shape = spatial_stats_shape(x);
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad, shape);
  check_like(op, "stats", stats, x);
  check_shape(op, "stats", stats, shape);
}

void check_channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                                const Tensor& spatial_logits) {
  const char* op = "autola_mm::channel_spatial_gate";
  check_feature_map(op, x);
  check_channel_logits(op, "channel_logits", channel_logits, x);
  check_spatial_logits(op, "spatial_logits", spatial_logits, x);
}

void check_channel_spatial_gate_backward(const Tensor& grad, const Tensor& x,
                                         const Tensor& channel_logits,
                                         const Tensor& spatial_logits) {
  check_channel_spatial_gate(x, channel_logits, spatial_logits);
  const char* op = "autola_mm::channel_spatial_gate_backward";
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad, x.sym_sizes());
}

void check_channel_attention_backward_logits(const Tensor& grad, const Tensor& x,
                                             const Tensor& logits, const Tensor& channel_max) {
  const char* op = "autola_mm::channel_attention_backward_logits";
  check_feature_map(op, x);
  check_positions(op, x);
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad, x.sym_sizes());
  check_channel_logits(op, "logits", logits, x);
  check_like(op, "channel_max", channel_max, x);
  check_shape(op, "channel_max", channel_max, channel_stats_shape(x));
}

void check_channel_attention_backward_input(const Tensor& grad, const Tensor& x,
                                            const Tensor& logits, const Tensor& channel_max,
                                            const Tensor& channel_ties, const Tensor& grad_avg,
                                            const Tensor& grad_max) {
  check_channel_attention_backward_logits(grad, x, logits, channel_max);
  check_stats_gradients("autola_mm::channel_attention_backward_input", x, channel_ties,
                        grad_avg, grad_max);
}

void check_cbam_backward_pool_logits(const Tensor& grad_pooled, const Tensor& x,
                                     const Tensor& channel_logits, const Tensor& pooled,
                                     const Tensor& channel_max) {
  check_gated_spatial_stats_backward(grad_pooled, x, channel_logits, pooled);
  const char* op = "autola_mm::cbam_backward_pool_logits";
  check_like(op, "channel_max", channel_max, x);
  check_shape(op, "channel_max", channel_max, channel_stats_shape(x));
}

void check_cbam_backward_input(const Tensor& grad, const Tensor& x, const Tensor& channel_logits,
                               const Tensor& spatial_logits, const Tensor& pooled,
                               const Tensor& grad_pooled, const Tensor& channel_max,
                               const Tensor& channel_ties, const Tensor& grad_avg,
                               const Tensor& grad_max) {
  check_channel_spatial_gate_backward(grad, x, channel_logits, spatial_logits);
  check_cbam_backward_pool_logits(grad_pooled, x, channel_logits, pooled, channel_max);
  check_stats_gradients("autola_mm::cbam_backward_input", x, channel_ties, grad_avg, grad_max);
}

void check_same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  const char* op = "autola_mm::same_conv2d";
  check_feature_map(op, x);
  check_like(op, "weight", weight, x);
  TORCH_CHECK_VALUE(weight.dim() == 4, op,
                    ": weight must be 4-D (out_channels, in_channels / groups, kH, kW), got shape ",
                    weight.sym_sizes());
  TORCH_CHECK_VALUE(groups >= 1, op, ": groups must be >= 1, got ", groups);
  TORCH_CHECK_VALUE(dilation >= 1, op, ": dilation must be >= 1, got ", dilation);
  TORCH_CHECK_VALUE(x.sym_size(1) % groups == 0 && weight.sym_size(0) % groups == 0, op,
                    ": the channels of x (", x.sym_size(1), ") and of the output (",
                    weight.sym_size(0), ") must be multiples of groups=", groups);
  TORCH_CHECK_VALUE(weight.sym_size(1) * groups == x.sym_size(1), op, ": weight of shape ",
                    weight.sym_sizes(), " reads ", weight.sym_size(1) * groups,
                    " channels with groups=", groups, ", but x of shape ", x.sym_sizes(),
                    " has ", x.sym_size(1));
  TORCH_CHECK_VALUE(weight.sym_size(2) % 2 == 1 && weight.sym_size(3) % 2 == 1, op,
                    ": the kernel must have odd sizes to keep H x W, got ",
                    weight.sym_size(2), " x ", weight.sym_size(3));
}

std::vector<c10::SymInt> same_conv2d_shape(const Tensor& x, const Tensor& weight) {
  return {x.sym_size(0), weight.sym_size(0), x.sym_size(2), x.sym_size(3)};
}

void check_same_conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                int64_t dilation, int64_t groups) {
  check_same_conv2d(x, weight, dilation, groups);
  const char* op = "autola_mm::same_conv2d_backward";
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad, same_conv2d_shape(x, weight));
}

void check_pointwise_conv2d(const Tensor& x, const Tensor& weight) {
  const char* op = "autola_mm::pointwise_conv2d";
  check_feature_map(op, x);
  check_like(op, "weight", weight, x);
  TORCH_CHECK_VALUE(weight.dim() == 4 && weight.sym_size(2) == 1 && weight.sym_size(3) == 1, op,
                    ": weight must have shape (out_channels, in_channels, 1, 1), got ",
                    weight.sym_sizes());
  TORCH_CHECK_VALUE(weight.sym_size(1) == x.sym_size(1), op, ": weight of shape ",
                    weight.sym_sizes(), " reads ", weight.sym_size(1),
                    " channels, but x of shape ", x.sym_sizes(), " has ", x.sym_size(1));
}

void check_pointwise_conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight) {
  check_pointwise_conv2d(x, weight);
  const char* op = "autola_mm::pointwise_conv2d_backward";
  check_like(op, "grad", grad, x);
  check_shape(op, "grad", grad,
              {x.sym_size(0), weight.sym_size(0), x.sym_size(2), x.sym_size(3)});
}

}  // namespace autola_mm
