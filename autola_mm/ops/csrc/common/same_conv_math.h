// Index arithmetic of the stride-1 "same" convolution of the attention core
// (the depthwise convolutions of HOGA's gates and the convolutions over the
// 2-map channel pool of CBAM and HOGA's spatial gates, "Auto Learning
// Attention", NeurIPS 2020), shared by the CPU and CUDA back ends.
//
// Tap k (0 <= k < kernel) of an axis reads input index i + tap_offset(k) for
// output index i; indices outside [0, length) read zero padding. The padding,
// dilation * (kernel - 1) / 2 with an odd kernel, keeps the length.
#pragma once

#include <cstdint>

#include "attention_math.h"

namespace autola_mm {

HOST_DEVICE_INLINE int64_t same_padding(int64_t kernel, int64_t dilation) {
  return dilation * (kernel - 1) / 2;
}

HOST_DEVICE_INLINE int64_t tap_offset(int64_t k, int64_t kernel, int64_t dilation) {
  return k * dilation - same_padding(kernel, dilation);
}

// The output indices [first_valid, last_valid) whose input index
// i + offset lies inside [0, length); empty when first >= last.
HOST_DEVICE_INLINE int64_t first_valid(int64_t offset, int64_t length) {
  return offset < 0 ? (-offset < length ? -offset : length) : 0;
}

HOST_DEVICE_INLINE int64_t last_valid(int64_t offset, int64_t length) {
  return offset > 0 ? (length - offset > 0 ? length - offset : 0) : length;
}

}  // namespace autola_mm
