// CUDA kernels of sigmoid_gate, x * sigmoid(logits) with logits of shape
// (N, C, 1, 1), (N, 1, H, W) or (N, C, H, W): element-wise forward and
// gradient of x (recomputing the sigmoid), and the logits' gradient reduced
// over the broadcast dimensions: over each (n, c) row for channel logits
// (reduce_rows), over the channels at each (n, position) for spatial ones
// (reduce_columns), element-wise for full ones.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"
#include "reductions.cuh"

namespace autola_mm::cuda {
namespace {

enum class GateShape { kChannel, kSpatial, kFull };

GateShape gate_shape(const Tensor& x, const Tensor& logits) {
  if (logits.sizes() == x.sizes()) {
    return GateShape::kFull;
  }
  return logits.size(1) == x.size(1) && logits.size(2) == 1 && logits.size(3) == 1
             ? GateShape::kChannel
             : GateShape::kSpatial;
}

__device__ inline int64_t logit_index(GateShape shape, int64_t i, int64_t channels,
                                      int64_t positions) {
  switch (shape) {
    case GateShape::kChannel:
      return i / positions;
    case GateShape::kSpatial:
      return (i / (channels * positions)) * positions + i % positions;
    default:
      return i;
  }
}

template <typename scalar_t>
__global__ void gate_kernel(const scalar_t* x, const scalar_t* logits, scalar_t* out,
                            GateShape shape, int64_t total, int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const scalar_t gate = gate_of(logits[logit_index(shape, i, channels, positions)]);
    out[i] = static_cast<scalar_t>(static_cast<acc_t>(x[i]) * static_cast<acc_t>(gate));
  }
}

// grad_x = grad * s everywhere; for full logits also grad_logits element-wise.
template <typename scalar_t>
__global__ void gate_backward_kernel(const scalar_t* grad, const scalar_t* x,
                                     const scalar_t* logits, scalar_t* grad_x,
                                     scalar_t* grad_logits, GateShape shape, int64_t total,
                                     int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const acc_t gate =
        static_cast<acc_t>(gate_of(logits[logit_index(shape, i, channels, positions)]));
    const acc_t g = static_cast<acc_t>(grad[i]);
    grad_x[i] = static_cast<scalar_t>(g * gate);
    if (shape == GateShape::kFull) {
      grad_logits[i] = static_cast<scalar_t>(sigmoid_backward(g * static_cast<acc_t>(x[i]), gate));
    }
  }
}

// grad_logits[row] = sigmoid'(sum_p grad * x) over the row.
template <typename scalar_t>
struct ChannelLogitsGrad {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad;
  const scalar_t* x;
  const scalar_t* logits;
  scalar_t* grad_logits;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t row, int64_t first, int64_t end,
                                   int64_t stride) const {
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t p = first; p < end; p += stride) {
      const int64_t e = row * positions + p;
      partial.sum += static_cast<acc_t>(grad[e]) * static_cast<acc_t>(x[e]);
    }
    return partial;
  }

  __device__ void finish(int64_t row, const Partial<acc_t>& partial) const {
    grad_logits[row] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(logits[row]))));
  }
};

// grad_logits[column] = sigmoid'(sum_c grad * x) over the channels at the
// column n * positions + p.
template <typename scalar_t>
struct SpatialLogitsGrad {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad;
  const scalar_t* x;
  const scalar_t* logits;
  scalar_t* grad_logits;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t column, int64_t begin, int64_t end) const {
    const int64_t first = (column / positions) * channels * positions + column % positions;
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t c = begin; c < end; ++c) {
      const int64_t e = first + c * positions;
      partial.sum += static_cast<acc_t>(grad[e]) * static_cast<acc_t>(x[e]);
    }
    return partial;
  }

  __device__ void finish(int64_t column, const Partial<acc_t>& partial) const {
    grad_logits[column] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(logits[column]))));
  }
};

}  // namespace

Tensor sigmoid_gate(const Tensor& x, const Tensor& logits) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor a = logits.contiguous();
  Tensor out = at::empty(input.sizes(), input.options());
  if (input.numel() > 0) {
    AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "sigmoid_gate_cuda", [&] {
      gate_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
          input.const_data_ptr<scalar_t>(), a.const_data_ptr<scalar_t>(),
          out.mutable_data_ptr<scalar_t>(), gate_shape(input, a), input.numel(), input.size(1),
          input.size(2) * input.size(3));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return out;
}

std::tuple<Tensor, Tensor> sigmoid_gate_backward(const Tensor& grad, const Tensor& x,
                                                 const Tensor& logits) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a = logits.contiguous();
  Tensor grad_x = at::empty(input.sizes(), input.options());
  Tensor grad_logits = at::empty(a.sizes(), a.options());
  const GateShape shape = gate_shape(input, a);
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "sigmoid_gate_backward_cuda", [&] {
    if (input.numel() > 0) {
      gate_backward_kernel<<<blocks_for(input.numel()), kThreads, 0, current_stream()>>>(
          g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
          a.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(),
          grad_logits.mutable_data_ptr<scalar_t>(), shape, input.numel(), channels, positions);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    // A logit whose broadcast covers no element (H * W = 0 for channel
    // logits, C = 0 for spatial ones) gets sigmoid_backward(0, s) = 0, as on
    // the CPU.
    if (shape == GateShape::kChannel) {
      reduce_rows(ChannelLogitsGrad<scalar_t>{g.const_data_ptr<scalar_t>(),
                                              input.const_data_ptr<scalar_t>(),
                                              a.const_data_ptr<scalar_t>(),
                                              grad_logits.mutable_data_ptr<scalar_t>(),
                                              positions},
                  images * channels, positions);
    } else if (shape == GateShape::kSpatial) {
      reduce_columns(SpatialLogitsGrad<scalar_t>{g.const_data_ptr<scalar_t>(),
                                                 input.const_data_ptr<scalar_t>(),
                                                 a.const_data_ptr<scalar_t>(),
                                                 grad_logits.mutable_data_ptr<scalar_t>(),
                                                 channels, positions},
                     images * positions, channels);
    }
  });
  return {grad_x, grad_logits};
}

}  // namespace autola_mm::cuda
