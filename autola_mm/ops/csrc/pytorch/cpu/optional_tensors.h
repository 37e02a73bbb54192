// The optional tensors of the CPU kernels (a weight, a bias, a fused ReLU's
// output) as raw pointers: a contiguous tensor, or undefined and null where
// the operator got none.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace autola_mm::cpu {

using at::Tensor;

// A contiguous copy (or the tensor itself) of an optional tensor; undefined for none.
inline Tensor contiguous_or_undefined(const std::optional<Tensor>& t) {
  return t.has_value() && t->defined() ? t->contiguous() : Tensor();
}

template <typename scalar_t>
const scalar_t* data_or_null(const Tensor& t) {
  return t.defined() ? t.const_data_ptr<scalar_t>() : nullptr;
}

}  // namespace autola_mm::cpu
