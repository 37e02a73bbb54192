// CPU kernels of sigmoid_gate: x * sigmoid(logits) with logits of shape
// (N, C, 1, 1) (SE's channel gate), (N, 1, H, W) (a spatial gate) or
// (N, C, H, W) (HOGA's full gates), and its gradient, which recomputes the
// sigmoid from the logits instead of keeping it from the forward pass.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <vector>

#include "../../common/attention_math.h"
#include "../attention_core.h"
#include "cpu_loops.h"
#include "../new_output.h"

namespace autola_mm::cpu {
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

struct Dims {
  int64_t images, channels, positions;
};

Dims dims_of(const Tensor& x) {
  return {x.size(0), x.size(1), x.size(2) * x.size(3)};
}

template <typename scalar_t>
void gate_forward(const scalar_t* x, const scalar_t* logits, scalar_t* out, Dims d,
                  GateShape shape) {
  const int64_t rows = d.images * d.channels;
  const int64_t length = d.positions;
  switch (shape) {
    case GateShape::kChannel:
      parallel_for_vectorized(0, rows, rows_per_task(length), [&](int64_t first, int64_t last) {
        for (int64_t r = first; r < last; ++r) {
          const scalar_t gate = sigmoid(logits[r]);
          for (int64_t j = 0; j < length; ++j) {
            out[r * length + j] = x[r * length + j] * gate;
          }
        }
      });
      break;
    case GateShape::kSpatial: {
      const int64_t tile = tile_positions(d.channels, length, false);
      for_each_tile(d.images, d.channels, length, tile, [&](int64_t n, int64_t begin, int64_t end) {
        const int64_t width = end - begin;
        std::vector<scalar_t> gates(width);
        const scalar_t* image_logits = logits + n * length + begin;
        for (int64_t j = 0; j < width; ++j) {
          gates[j] = sigmoid(image_logits[j]);
        }
        for (int64_t c = 0; c < d.channels; ++c) {
          const int64_t offset = (n * d.channels + c) * length + begin;
          for (int64_t j = 0; j < width; ++j) {
            out[offset + j] = x[offset + j] * gates[j];
          }
        }
      });
      break;
    }
    case GateShape::kFull:
      parallel_for_vectorized(0, rows * length, kMinTaskElements, [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i) {
          out[i] = x[i] * sigmoid(logits[i]);
        }
      });
      break;
  }
}

// grad_x = grad * s and grad_logits = sum(grad * x) * (1 - s) * s, the sum
// running over the dimensions the logits are broadcast along, as in the
// reference's autograd (mul's backward, sum_to_size, sigmoid's backward).
template <typename scalar_t>
void gate_backward(const scalar_t* grad, const scalar_t* x, const scalar_t* logits,
                   scalar_t* grad_x, scalar_t* grad_logits, Dims d, GateShape shape) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t rows = d.images * d.channels;
  const int64_t length = d.positions;
  switch (shape) {
    case GateShape::kChannel:
      parallel_for_vectorized(0, rows, rows_per_task(length), [&](int64_t first, int64_t last) {
        for (int64_t r = first; r < last; ++r) {
          const scalar_t gate = sigmoid(logits[r]);
          const scalar_t* g = grad + r * length;
          const scalar_t* row = x + r * length;
          scalar_t* out = grad_x + r * length;
          acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < length; ++j) {
            out[j] = g[j] * gate;
            sum += g[j] * row[j];
          }
          grad_logits[r] = sigmoid_backward(static_cast<scalar_t>(sum), gate);
        }
      });
      break;
    case GateShape::kSpatial: {
      const int64_t tile = tile_positions(d.channels, length, false);
      for_each_tile(d.images, d.channels, length, tile, [&](int64_t n, int64_t begin, int64_t end) {
        const int64_t width = end - begin;
        std::vector<scalar_t> gates(width);
        std::vector<acc_t> sums(width, acc_t(0));
        const scalar_t* image_logits = logits + n * length + begin;
        for (int64_t j = 0; j < width; ++j) {
          gates[j] = sigmoid(image_logits[j]);
        }
        for (int64_t c = 0; c < d.channels; ++c) {
          const int64_t offset = (n * d.channels + c) * length + begin;
          for (int64_t j = 0; j < width; ++j) {
            grad_x[offset + j] = grad[offset + j] * gates[j];
            sums[j] += grad[offset + j] * x[offset + j];
          }
        }
        scalar_t* out = grad_logits + n * length + begin;
        for (int64_t j = 0; j < width; ++j) {
          out[j] = sigmoid_backward(static_cast<scalar_t>(sums[j]), gates[j]);
        }
      });
      break;
    }
    case GateShape::kFull:
      parallel_for_vectorized(0, rows * length, kMinTaskElements, [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i) {
          const scalar_t gate = sigmoid(logits[i]);
          grad_x[i] = grad[i] * gate;
          grad_logits[i] = sigmoid_backward(grad[i] * x[i], gate);
        }
      });
      break;
  }
}

}  // namespace

Tensor sigmoid_gate(const Tensor& x, const Tensor& logits) {
  const Tensor input = x.contiguous();
  const Tensor a = logits.contiguous();
  Tensor out = new_output(input.sizes(), input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "sigmoid_gate_cpu", [&] {
    gate_forward(input.const_data_ptr<scalar_t>(), a.const_data_ptr<scalar_t>(),
                 out.mutable_data_ptr<scalar_t>(), dims_of(input), gate_shape(input, a));
  });
  return out;
}

std::tuple<Tensor, Tensor> sigmoid_gate_backward(const Tensor& grad, const Tensor& x,
                                                 const Tensor& logits) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a = logits.contiguous();
  Tensor grad_x = new_output(input.sizes(), input.options());
  Tensor grad_logits = new_output(a.sizes(), a.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "sigmoid_gate_backward_cpu", [&] {
    gate_backward(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                  a.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(),
                  grad_logits.mutable_data_ptr<scalar_t>(), dims_of(input),
                  gate_shape(input, a));
  });
  return {grad_x, grad_logits};
}

}  // namespace autola_mm::cpu
