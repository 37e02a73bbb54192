// The kernel of same_conv2d's input gradient, shared by the CPU and CUDA
// back ends: the adjoint of a stride-1, size-keeping convolution is the same
// convolution of the gradient with the kernel transposed within each group
// and flipped in both axes, since the padding is symmetric.
#include "attention_core.h"

namespace autola_mm {

Tensor same_conv2d_adjoint_weight(const Tensor& weight, int64_t groups) {
  const int64_t out_per_group = weight.size(0) / groups;
  const int64_t in_per_group = weight.size(1);
  return weight.reshape({groups, out_per_group, in_per_group, weight.size(2), weight.size(3)})
      .transpose(1, 2)
      .flip({3, 4})
      .reshape({groups * in_per_group, out_per_group, weight.size(2), weight.size(3)})
      .contiguous();
}

}  // namespace autola_mm
