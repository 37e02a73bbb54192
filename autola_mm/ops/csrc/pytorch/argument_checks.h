// Argument checks of the attention core operators (operators.cpp). Every
// operator runs its checks once, before it picks a device's kernel, so the
// CPU, CUDA and Meta kernels reject the same inputs with the same ValueError
// (TORCH_CHECK_VALUE), naming the operator, the argument, its shape and what
// is accepted. They read symbolic sizes, so they also run under torch.compile.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "message_text.h"

#include <vector>

namespace autola_mm::checks {

using at::Tensor;

inline void feature_map(const char* op, const Tensor& x) {
  TORCH_CHECK_VALUE(x.dim() == 4, op, ": x must be a 4-D (N, C, H, W) feature map, got shape ",
                    text(x.sym_sizes()));
  TORCH_CHECK_VALUE(at::isFloatingType(x.scalar_type()), op,
                    ": x must be a floating point tensor, got ", x.scalar_type());
}

// `t` has x's dtype and device.
inline void like(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  TORCH_CHECK_VALUE(t.scalar_type() == x.scalar_type(), op, ": ", name,
                    " must have x's dtype ", x.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " must be on x's device ",
                    x.device().str(), ", got ", t.device().str());
}

inline void shape(const char* op, const char* name, const Tensor& t,
                  c10::SymIntArrayRef expected) {
  TORCH_CHECK_VALUE(t.sym_sizes() == expected, op, ": ", name, " must have shape ",
                    text(expected), ", got ", text(t.sym_sizes()));
}

// `t` has x's dtype, device and the shape `expected`.
inline void like_with_shape(const char* op, const char* name, const Tensor& t, const Tensor& x,
                            c10::SymIntArrayRef expected) {
  like(op, name, t, x);
  shape(op, name, t, expected);
}

inline bool is_channel_shape(const Tensor& t, const Tensor& x) {
  return t.dim() == 4 && t.sym_size(0) == x.sym_size(0) && t.sym_size(1) == x.sym_size(1) &&
         t.sym_size(2) == 1 && t.sym_size(3) == 1;
}

inline bool is_spatial_shape(const Tensor& t, const Tensor& x) {
  return t.dim() == 4 && t.sym_size(0) == x.sym_size(0) && t.sym_size(1) == 1 &&
         t.sym_size(2) == x.sym_size(2) && t.sym_size(3) == x.sym_size(3);
}

inline void channel_logits(const char* op, const char* name, const Tensor& logits,
                           const Tensor& x) {
  like(op, name, logits, x);
  TORCH_CHECK_VALUE(is_channel_shape(logits, x), op, ": ", name,
                    " must have shape (N, C, 1, 1) for x of shape ", text(x.sym_sizes()), ", got ",
                    text(logits.sym_sizes()));
}

inline void spatial_logits(const char* op, const char* name, const Tensor& logits,
                           const Tensor& x) {
  like(op, name, logits, x);
  TORCH_CHECK_VALUE(is_spatial_shape(logits, x), op, ": ", name,
                    " must have shape (N, 1, H, W) for x of shape ", text(x.sym_sizes()), ", got ",
                    text(logits.sym_sizes()));
}

// x has positions to `purpose` ("pool over", "convolve").
inline void positions(const char* op, const Tensor& x, const char* purpose = "pool over") {
  TORCH_CHECK_VALUE(x.sym_size(2) * x.sym_size(3) > 0, op,
                    ": x must have at least one position (H * W > 0) to ", purpose,
                    ", got shape ", text(x.sym_sizes()));
}

inline void channels(const char* op, const Tensor& x) {
  TORCH_CHECK_VALUE(x.sym_size(1) > 0, op,
                    ": x must have at least one channel (C > 0) to pool over, got shape ",
                    text(x.sym_sizes()));
}

// The channel statistics' gradients and tie counts the fused backward passes take.
inline void stats_gradients(const char* op, const Tensor& x, const Tensor& channel_ties,
                            const Tensor& grad_avg, const Tensor& grad_max) {
  const std::vector<c10::SymInt> expected = {x.sym_size(0), x.sym_size(1), 1, 1};
  TORCH_CHECK_VALUE(channel_ties.scalar_type() == at::kInt && channel_ties.device() == x.device(),
                    op, ": channel_ties must be an int32 tensor on x's device, got ",
                    channel_ties.scalar_type(), " on ", channel_ties.device().str());
  shape(op, "channel_ties", channel_ties, expected);
  like_with_shape(op, "grad_avg", grad_avg, x, expected);
  like_with_shape(op, "grad_max", grad_max, x, expected);
}

// A (out_channels, in_channels / groups, kH, kW) kernel with odd sizes for x.
inline void same_conv_weight(const char* op, const Tensor& x, const Tensor& weight,
                             int64_t dilation, int64_t groups) {
  like(op, "weight", weight, x);
  TORCH_CHECK_VALUE(weight.dim() == 4, op,
                    ": weight must be 4-D (out_channels, in_channels / groups, kH, kW), got shape ",
                    text(weight.sym_sizes()));
  TORCH_CHECK_VALUE(groups >= 1, op, ": groups must be >= 1, got ", text(groups));
  TORCH_CHECK_VALUE(dilation >= 1, op, ": dilation must be >= 1, got ", text(dilation));
  TORCH_CHECK_VALUE(x.sym_size(1) % groups == 0 && weight.sym_size(0) % groups == 0, op,
                    ": the channels of x (", text(x.sym_size(1)), ") and of the output (",
                    text(weight.sym_size(0)), ") must be multiples of groups=", text(groups));
  TORCH_CHECK_VALUE(weight.sym_size(1) * groups == x.sym_size(1), op, ": weight of shape ",
                    text(weight.sym_sizes()), " reads ", text(weight.sym_size(1) * groups),
                    " channels with groups=", text(groups), ", but x of shape ",
                    text(x.sym_sizes()), " has ", text(x.sym_size(1)));
  TORCH_CHECK_VALUE(weight.sym_size(2) % 2 == 1 && weight.sym_size(3) % 2 == 1, op,
                    ": the kernel must have odd sizes to keep H x W, got ",
                    text(weight.sym_size(2)), " x ", text(weight.sym_size(3)));
}

// A per-channel vector of batch_norm (weight, bias, a running statistic):
// C values of x's device.
inline void channel_vector(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  TORCH_CHECK_VALUE(t.dim() == 1 && t.sym_size(0) == x.sym_size(1), op, ": ", name,
                    " must have shape (C,) = (", text(x.sym_size(1)), ",) for x of shape ",
                    text(x.sym_sizes()), ", got ", text(t.sym_sizes()));
  TORCH_CHECK_VALUE(t.device() == x.device(), op, ": ", name, " must be on x's device ",
                    x.device().str(), ", got ", t.device().str());
}

// An (out_channels, in_channels, 1, 1) kernel for x.
inline void pointwise_weight(const char* op, const Tensor& x, const Tensor& weight) {
  like(op, "weight", weight, x);
  TORCH_CHECK_VALUE(weight.dim() == 4 && weight.sym_size(2) == 1 && weight.sym_size(3) == 1, op,
                    ": weight must have shape (out_channels, in_channels, 1, 1), got ",
                    text(weight.sym_sizes()));
  TORCH_CHECK_VALUE(weight.sym_size(1) == x.sym_size(1), op, ": weight of shape ",
                    text(weight.sym_sizes()), " reads ", text(weight.sym_size(1)),
                    " channels, but x of shape ", text(x.sym_sizes()), " has ",
                    text(x.sym_size(1)));
}

}  // namespace autola_mm::checks
