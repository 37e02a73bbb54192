// Per-element arithmetic of the attention core (SE, CBAM and HOGA gates and
// pools of "Auto Learning Attention", NeurIPS 2020), shared by the CPU and
// CUDA back ends. The formulas are those of autola_mm/ops/reference.py in the
// same order of operations, with one exception: the sigmoid of a float on
// the CPU uses polynomial_exp below (relative error below 1e-7 against
// std::exp), so CPU float32 results match torch.sigmoid's to about 1 ulp
// rather than bitwise. CUDA and float64 use the library exp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define HOST_DEVICE __host__ __device__
#else
#define HOST_DEVICE
#endif
#define HOST_DEVICE_INLINE HOST_DEVICE inline

namespace autola_mm {

// exp(a) for float without a library call, so that the CPU loops that use it
// vectorise: a = n * ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for
// exp(r) (relative error below 1e-7 on that interval, fitted for this file),
// then 2^n written into the exponent bits. Above the range in which 2^n is a
// normal float the result is +inf, below it 0 (as exp's are, up to the
// subnormals); NaN propagates.
HOST_DEVICE_INLINE float polynomial_exp(float a) {
  const float kMax = 88.3f;
  const float kMin = -87.3f;
  const float input = a;
  const float kLog2e = 1.44269502f;
  const float kLn2Hi = 0.693115234375f;
  const float kLn2Lo = 3.19461833e-05f;
  const float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  a = a > kMax ? kMax : a;
  a = a < kMin ? kMin : a;
  const float shifted = a * kLog2e + kRound;
  const float n = shifted - kRound;
  const float r = (a - n * kLn2Hi) - n * kLn2Lo;
  float p = 0.0013859291f;
  p = p * r + 0.0083747637f;
  p = p * r + 0.041667726f;
  p = p * r + 0.16666421f;
  p = p * r + 0.49999994f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t shifted_bits;
  int32_t round_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof(float));
  std::memcpy(&round_bits, &kRound, sizeof(float));
  const int32_t scale_bits = (shifted_bits - round_bits + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof(float));
  const float result = input < kMin ? 0.0f : p * scale;
  return input > kMax ? INFINITY : result;
}

// sigmoid(a) = 1 / (1 + exp(-a)): with the library exp on CUDA and for
// double, with polynomial_exp for float on the CPU (so that its loops vectorise).
template <typename T>
HOST_DEVICE_INLINE T sigmoid(T a) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return T(1) / (T(1) + exp(-a));
#else
  if constexpr (sizeof(T) == sizeof(float)) {
    return T(1) / (T(1) + polynomial_exp(-a));
  } else {
    return T(1) / (T(1) + std::exp(-a));
  }
#endif
}

// d sigmoid(a) / da from the gate value s = sigmoid(a), applied to the
// upstream gradient as torch's sigmoid_backward does: grad * (1 - s) * s.
template <typename T>
HOST_DEVICE_INLINE T sigmoid_backward(T grad, T s) {
  return grad * (T(1) - s) * s;
}

// One step of a NaN-propagating running maximum (torch.amax's semantics).
template <typename T>
HOST_DEVICE_INLINE T nan_max(T running, T value) {
  return (value > running || value != value) ? value : running;
}

// The gradient an element receives from a max pool whose upstream gradient
// is `grad`: torch.amax's backward splits it evenly among the `ties`
// elements equal to the maximum, as (grad / ties) * (value == max).
template <typename T>
HOST_DEVICE_INLINE T max_share(T grad_over_ties, T value, T max) {
  return grad_over_ties * T(value == max);
}

}  // namespace autola_mm
