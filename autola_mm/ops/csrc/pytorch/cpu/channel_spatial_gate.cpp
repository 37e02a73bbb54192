// CPU kernels of channel_spatial_gate, CBAM's two gates in one pass:
// x * sigmoid(channel_logits) * sigmoid(spatial_logits), without
// materialising the channel-gated map, and its gradient in one pass over
// (grad, x).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include <vector>

#include "../../common/attention_math.h"
#include "../attention_core.h"
#include "cpu_loops.h"
#include "../new_output.h"

namespace autola_mm::cpu {
namespace {

template <typename scalar_t>
void sigmoid_of(const scalar_t* logits, int64_t count, scalar_t* gates) {
  for (int64_t i = 0; i < count; ++i) {
    gates[i] = sigmoid(logits[i]);
  }
}

template <typename scalar_t>
void channel_spatial_gate_tiles(const scalar_t* x, const scalar_t* channel_logits,
                                const scalar_t* spatial_logits, scalar_t* out, int64_t images,
                                int64_t channels, int64_t positions) {
  const int64_t tile = tile_positions(channels, positions, false);
  for_each_tile(images, channels, positions, tile, [&](int64_t n, int64_t begin, int64_t end) {
    const int64_t width = end - begin;
    std::vector<scalar_t> channel_gates(channels);
    std::vector<scalar_t> spatial_gates(width);
    sigmoid_of(channel_logits + n * channels, channels, channel_gates.data());
    sigmoid_of(spatial_logits + n * positions + begin, width, spatial_gates.data());
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t offset = (n * channels + c) * positions + begin;
      const scalar_t gate = channel_gates[c];
      for (int64_t j = 0; j < width; ++j) {
        out[offset + j] = (x[offset + j] * gate) * spatial_gates[j];
      }
    }
  });
}

// With y = x * s_c and out = y * s_s (the reference's two sigmoid_gate calls):
// grad_y = grad * s_s, grad_x = grad_y * s_c, grad_spatial = sum_c(grad * y)
// and grad_channel = sum_p(grad_y * x), each sum then through its sigmoid.
// Per-tile channel sums go to `tile_sums` (N, tiles, C) and are added in
// tile order, so the result does not depend on the number of threads.
// Without kWriteGradX only the two logit gradients are computed (the first
// step of the fused CBAM backward, see cbam_backward.cpp).
template <typename scalar_t, bool kWriteGradX>
void channel_spatial_gate_backward_tiles(const scalar_t* grad, const scalar_t* x,
                                         const scalar_t* channel_logits,
                                         const scalar_t* spatial_logits, scalar_t* grad_x,
                                         scalar_t* grad_channel, scalar_t* grad_spatial,
                                         int64_t images, int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t tile = tile_positions(channels, positions, false);
  const int64_t tiles = tile_count(positions, tile);
  std::vector<acc_t> tile_sums(images * tiles * channels);
  for_each_tile(images, channels, positions, tile, [&](int64_t n, int64_t begin, int64_t end) {
    const int64_t width = end - begin;
    std::vector<scalar_t> channel_gates(channels);
    std::vector<scalar_t> spatial_gates(width);
    std::vector<acc_t> spatial_sums(width, acc_t(0));
    sigmoid_of(channel_logits + n * channels, channels, channel_gates.data());
    sigmoid_of(spatial_logits + n * positions + begin, width, spatial_gates.data());
    acc_t* sums = tile_sums.data() + (n * tiles + begin / tile) * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t offset = (n * channels + c) * positions + begin;
      const scalar_t* g = grad + offset;
      const scalar_t* row = x + offset;
      scalar_t* out = kWriteGradX ? grad_x + offset : nullptr;
      const scalar_t gate = channel_gates[c];
      acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t grad_y = g[j] * spatial_gates[j];
        if constexpr (kWriteGradX) {
          out[j] = grad_y * gate;
        }
        spatial_sums[j] += g[j] * (row[j] * gate);
        sum += grad_y * row[j];
      }
      sums[c] = sum;
    }
    scalar_t* out_spatial = grad_spatial + n * positions + begin;
    for (int64_t j = 0; j < width; ++j) {
      out_spatial[j] = sigmoid_backward(static_cast<scalar_t>(spatial_sums[j]), spatial_gates[j]);
    }
  });
  parallel_for_vectorized(0, images * channels, tile_sum_rows_per_task(tiles),
                   [&](int64_t first, int64_t last) {
    for (int64_t nc = first; nc < last; ++nc) {
      const int64_t n = nc / channels;
      const int64_t c = nc % channels;
      acc_t sum = 0;
      for (int64_t t = 0; t < tiles; ++t) {
        sum += tile_sums[(n * tiles + t) * channels + c];
      }
      grad_channel[nc] = sigmoid_backward(static_cast<scalar_t>(sum), sigmoid(channel_logits[nc]));
    }
  });
}

}  // namespace

Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits) {
  const Tensor input = x.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  Tensor out = new_output(input.sizes(), input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_spatial_gate_cpu", [&] {
    channel_spatial_gate_tiles(input.const_data_ptr<scalar_t>(), a_c.const_data_ptr<scalar_t>(),
                               a_s.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
                               input.size(0), input.size(1), input.size(2) * input.size(3));
  });
  return out;
}

std::tuple<Tensor, Tensor, Tensor> channel_spatial_gate_backward(const Tensor& grad,
                                                                 const Tensor& x,
                                                                 const Tensor& channel_logits,
                                                                 const Tensor& spatial_logits) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  Tensor grad_x = new_output(input.sizes(), input.options());
  Tensor grad_channel = at::empty(a_c.sizes(), a_c.options());
  Tensor grad_spatial = at::empty(a_s.sizes(), a_s.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_spatial_gate_backward_cpu", [&] {
    channel_spatial_gate_backward_tiles<scalar_t, true>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
        grad_x.mutable_data_ptr<scalar_t>(), grad_channel.mutable_data_ptr<scalar_t>(),
        grad_spatial.mutable_data_ptr<scalar_t>(), input.size(0), input.size(1),
        input.size(2) * input.size(3));
  });
  return {grad_x, grad_channel, grad_spatial};
}

std::tuple<Tensor, Tensor> cbam_backward_gate_logits(const Tensor& grad, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& spatial_logits) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  Tensor grad_channel = at::empty(a_c.sizes(), a_c.options());
  Tensor grad_spatial = at::empty(a_s.sizes(), a_s.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "cbam_backward_gate_logits_cpu", [&] {
    channel_spatial_gate_backward_tiles<scalar_t, false>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(), nullptr,
        grad_channel.mutable_data_ptr<scalar_t>(), grad_spatial.mutable_data_ptr<scalar_t>(),
        input.size(0), input.size(1), input.size(2) * input.size(3));
  });
  return {grad_channel, grad_spatial};
}

}  // namespace autola_mm::cpu
