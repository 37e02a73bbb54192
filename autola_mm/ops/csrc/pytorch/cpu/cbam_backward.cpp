// CPU kernels of the fused CBAM backward (autola_mm.ops.cbam_attention): the
// gradient of the channel logits through the gated channel pool, and the
// gradient of x from all three uses of x in CBAM (the channel pool, the
// gated channel pool and the two gates) written in a single pass. Both first
// find, per image, what the gated pool's gradient gives every position (one
// pass over the image), then stream the rows of H * W positions. The first
// step, the gradients of both logits through the gates, is
// cbam_backward_gate_logits in channel_spatial_gate.cpp.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <vector>

#include "../../common/attention_math.h"
#include "../attention_core.h"
#include "cpu_loops.h"
#include "../new_output.h"

namespace autola_mm::cpu {
namespace {

template <typename scalar_t>
scalar_t* sigmoid_of(const scalar_t* logits, int64_t count, scalar_t* gates) {
  for (int64_t i = 0; i < count; ++i) {
    gates[i] = sigmoid(logits[i]);
  }
  return gates;
}

// What the gated channel pool's gradient gives each position p of each image:
// grad_y[c, p] = mean_share[p] + max_share(grad_over_ties[p], y[c, p], max[p])
// for the gated map y = x * s_c, with mean_share = grad_mean / C and
// grad_over_ties = grad_max / (the channels at which y attains max[p]).
// (N, H * W) each, from one pass over the channels of every image.
template <typename scalar_t>
struct PositionShares {
  std::vector<scalar_t> channel_gates;   // (N, C): s_c
  std::vector<scalar_t> mean_share;      // (N, H * W)
  std::vector<scalar_t> grad_over_ties;  // (N, H * W)

  PositionShares(const scalar_t* x, const scalar_t* channel_logits, const scalar_t* pooled,
                 const scalar_t* grad_pooled, int64_t images, int64_t channels, int64_t positions)
      : channel_gates(images * channels),
        mean_share(images * positions),
        grad_over_ties(images * positions) {
    parallel_for_vectorized(0, images, 1, [&](int64_t first, int64_t last) {
      std::vector<int32_t> ties(positions);
      for (int64_t n = first; n < last; ++n) {
        const scalar_t* gates = sigmoid_of(channel_logits + n * channels, channels,
                                           channel_gates.data() + n * channels);
        const scalar_t* max = pooled + n * 2 * positions;
        const scalar_t* grad_max = grad_pooled + n * 2 * positions;
        const scalar_t* grad_mean = grad_max + positions;
        std::fill(ties.begin(), ties.end(), 0);
        int32_t* position_ties = ties.data();
        for (int64_t c = 0; c < channels; ++c) {
          const scalar_t* row = x + (n * channels + c) * positions;
          const scalar_t gate = gates[c];
#pragma omp simd
          for (int64_t j = 0; j < positions; ++j) {
            position_ties[j] += row[j] * gate == max[j];
          }
        }
        for (int64_t j = 0; j < positions; ++j) {
          mean_share[n * positions + j] = grad_mean[j] / static_cast<scalar_t>(channels);
          grad_over_ties[n * positions + j] = grad_max[j] / static_cast<scalar_t>(ties[j]);
        }
      }
    });
  }
};

// grad_channel = sigmoid'(sum_p grad_y * x) with grad_y the gradient of the
// gated map y = x * s_c from the pool's gradient, and the number of
// positions at which each channel attains its maximum over H x W (for the
// input gradient): one streaming pass over each row.
template <typename scalar_t>
void pool_logits_rows(const scalar_t* grad_pooled, const scalar_t* x,
                      const scalar_t* channel_logits, const scalar_t* pooled,
                      const scalar_t* channel_max, scalar_t* grad_channel, int32_t* channel_ties,
                      int64_t images, int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, false>;
  const PositionShares<scalar_t> shares(x, channel_logits, pooled, grad_pooled, images, channels,
                                        positions);
  parallel_for_vectorized(0, images * channels, rows_per_task(positions),
                          [&](int64_t first, int64_t last) {
    for (int64_t nc = first; nc < last; ++nc) {
      const int64_t n = nc / channels;
      const scalar_t* row = x + nc * positions;
      const scalar_t* max = pooled + n * 2 * positions;
      const scalar_t* mean_share = shares.mean_share.data() + n * positions;
      const scalar_t* grad_over_ties = shares.grad_over_ties.data() + n * positions;
      const scalar_t gate = shares.channel_gates[nc];
      const scalar_t row_max = channel_max[nc];
      int32_t ties;
      const acc_t sum = lane_sum_and_ties<acc_t>(positions, row, row_max, [&](int64_t j) {
        const scalar_t grad_y =
            mean_share[j] + max_share(grad_over_ties[j], row[j] * gate, max[j]);
        return grad_y * row[j];
      }, ties);
      grad_channel[nc] = sigmoid_backward(static_cast<scalar_t>(sum), sigmoid(channel_logits[nc]));
      channel_ties[nc] = ties;
    }
  });
}

// grad_x = (grad * s_s * s_c + grad_y * s_c) + grad_x_of_channel_stats, the
// three terms in the order the reference's autograd adds them: the two
// gates, the gated channel pool (grad_y as in pool_logits_rows) and the
// channel pool (average share plus the maximum's share among its ties),
// written row by row.
template <typename scalar_t>
void input_grad_rows(const scalar_t* grad, const scalar_t* x, const scalar_t* channel_logits,
                     const scalar_t* spatial_logits, const scalar_t* pooled,
                     const scalar_t* grad_pooled, const scalar_t* channel_max,
                     const int32_t* channel_ties, const scalar_t* grad_avg,
                     const scalar_t* grad_max, scalar_t* grad_x, int64_t images, int64_t channels,
                     int64_t positions) {
  const PositionShares<scalar_t> shares(x, channel_logits, pooled, grad_pooled, images, channels,
                                        positions);
  std::vector<scalar_t> spatial_gates(images * positions);
  sigmoid_of(spatial_logits, images * positions, spatial_gates.data());
  parallel_for_vectorized(0, images * channels, rows_per_task(positions),
                          [&](int64_t first, int64_t last) {
    for (int64_t nc = first; nc < last; ++nc) {
      const int64_t n = nc / channels;
      const scalar_t* g = grad + nc * positions;
      const scalar_t* row = x + nc * positions;
      scalar_t* out = grad_x + nc * positions;
      const scalar_t* max = pooled + n * 2 * positions;
      const scalar_t* mean_share = shares.mean_share.data() + n * positions;
      const scalar_t* grad_over_ties = shares.grad_over_ties.data() + n * positions;
      const scalar_t* position_gates = spatial_gates.data() + n * positions;
      const scalar_t gate = shares.channel_gates[nc];
      const scalar_t avg_share = grad_avg[nc] / static_cast<scalar_t>(positions);
      const scalar_t row_grad_over_ties = grad_max[nc] / static_cast<scalar_t>(channel_ties[nc]);
      const scalar_t row_max = channel_max[nc];
#pragma omp simd
      for (int64_t j = 0; j < positions; ++j) {
        const scalar_t through_gates = (g[j] * position_gates[j]) * gate;
        const scalar_t grad_y =
            mean_share[j] + max_share(grad_over_ties[j], row[j] * gate, max[j]);
        const scalar_t through_stats = avg_share + max_share(row_grad_over_ties, row[j], row_max);
        out[j] = (through_gates + grad_y * gate) + through_stats;
      }
    }
  });
}

}  // namespace

std::tuple<Tensor, Tensor> cbam_backward_pool_logits(const Tensor& grad_pooled, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& pooled,
                                                     const Tensor& channel_max) {
  const Tensor input = x.contiguous();
  const Tensor g = grad_pooled.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor stats = pooled.contiguous();
  const Tensor row_max = channel_max.contiguous();
  Tensor grad_channel = at::empty(a_c.sizes(), a_c.options());
  Tensor channel_ties = at::empty(a_c.sizes(), a_c.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "cbam_backward_pool_logits_cpu", [&] {
    pool_logits_rows(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                      a_c.const_data_ptr<scalar_t>(), stats.const_data_ptr<scalar_t>(),
                      row_max.const_data_ptr<scalar_t>(), grad_channel.mutable_data_ptr<scalar_t>(),
                      channel_ties.mutable_data_ptr<int32_t>(), input.size(0), input.size(1),
                      input.size(2) * input.size(3));
  });
  return {grad_channel, channel_ties};
}

Tensor cbam_backward_input(const Tensor& grad, const Tensor& x, const Tensor& channel_logits,
                           const Tensor& spatial_logits, const Tensor& pooled,
                           const Tensor& grad_pooled, const Tensor& channel_max,
                           const Tensor& channel_ties, const Tensor& grad_avg,
                           const Tensor& grad_max) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a_c = channel_logits.contiguous();
  const Tensor a_s = spatial_logits.contiguous();
  const Tensor stats = pooled.contiguous();
  const Tensor g_stats = grad_pooled.contiguous();
  const Tensor row_max = channel_max.contiguous();
  const Tensor ties = channel_ties.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  Tensor grad_x = new_output(input.sizes(), input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "cbam_backward_input_cpu", [&] {
    input_grad_rows(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                     a_c.const_data_ptr<scalar_t>(), a_s.const_data_ptr<scalar_t>(),
                     stats.const_data_ptr<scalar_t>(), g_stats.const_data_ptr<scalar_t>(),
                     row_max.const_data_ptr<scalar_t>(), ties.const_data_ptr<int32_t>(),
                     g_avg.const_data_ptr<scalar_t>(), g_max.const_data_ptr<scalar_t>(),
                     grad_x.mutable_data_ptr<scalar_t>(), input.size(0), input.size(1),
                     input.size(2) * input.size(3));
  });
  return grad_x;
}

}  // namespace autola_mm::cpu
