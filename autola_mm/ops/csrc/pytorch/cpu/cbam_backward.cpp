// CPU kernels of the fused CBAM backward (autola_mm.ops.cbam_attention): the
// gradient of the channel logits through the gated channel pool, and the
// gradient of x from all three uses of x in CBAM (the channel pool, the
// gated channel pool and the two gates) written in a single pass. The first
// step, the gradients of both logits through the gates, is
// cbam_backward_gate_logits in channel_spatial_gate.cpp.
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
std::vector<scalar_t> sigmoid_of(const scalar_t* logits, int64_t count) {
  std::vector<scalar_t> gates(count);
  for (int64_t i = 0; i < count; ++i) {
    gates[i] = sigmoid(logits[i]);
  }
  return gates;
}

// How many channels c of image n attain the gated maximum at each position
// of [begin, begin + width): y[c, p] = x[c, p] * gates[c] == max[p].
template <typename scalar_t>
std::vector<int64_t> position_ties(const scalar_t* image, const scalar_t* gates,
                                   const scalar_t* max, int64_t channels, int64_t positions,
                                   int64_t width) {
  std::vector<int64_t> ties(width, 0);
  for (int64_t c = 0; c < channels; ++c) {
    const scalar_t* row = image + c * positions;
    for (int64_t j = 0; j < width; ++j) {
      ties[j] += row[j] * gates[c] == max[j];
    }
  }
  return ties;
}

// grad_channel = sigmoid'(sum_p grad_y * x) with grad_y the gradient of the
// gated map y = x * s_c from the pool's gradient, and the number of
// positions at which each channel attains its maximum over H x W (for the
// input gradient). Sums per tile go to (N, tiles, C) buffers and are added
// in tile order.
template <typename scalar_t>
void pool_logits_tiles(const scalar_t* grad_pooled, const scalar_t* x,
                       const scalar_t* channel_logits, const scalar_t* pooled,
                       const scalar_t* channel_max, scalar_t* grad_channel, int32_t* channel_ties,
                       int64_t images, int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t tile = tile_positions(channels, positions, true);
  const int64_t tiles = tile_count(positions, tile);
  std::vector<acc_t> tile_sums(images * tiles * channels);
  std::vector<int64_t> tile_ties(images * tiles * channels);
  for_each_tile(images, channels, positions, tile, [&](int64_t n, int64_t begin, int64_t end) {
    const int64_t width = end - begin;
    const std::vector<scalar_t> gates = sigmoid_of(channel_logits + n * channels, channels);
    const scalar_t* image = x + n * channels * positions + begin;
    const scalar_t* max = pooled + n * 2 * positions + begin;
    const scalar_t* grad_max = grad_pooled + n * 2 * positions + begin;
    const scalar_t* grad_mean = grad_max + positions;
    const std::vector<int64_t> ties =
        position_ties(image, gates.data(), max, channels, positions, width);
    std::vector<scalar_t> mean_share(width);
    std::vector<scalar_t> grad_over_ties(width);
    for (int64_t j = 0; j < width; ++j) {
      mean_share[j] = grad_mean[j] / static_cast<scalar_t>(channels);
      grad_over_ties[j] = grad_max[j] / static_cast<scalar_t>(ties[j]);
    }
    const int64_t slot = (n * tiles + begin / tile) * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const scalar_t* row = image + c * positions;
      const scalar_t gate = gates[c];
      const scalar_t row_max = channel_max[n * channels + c];
      acc_t sum = 0;
      int64_t row_ties = 0;
#pragma omp simd reduction(+ : sum, row_ties)
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t grad_y =
            mean_share[j] + max_share(grad_over_ties[j], row[j] * gate, max[j]);
        sum += grad_y * row[j];
        row_ties += row[j] == row_max;
      }
      tile_sums[slot + c] = sum;
      tile_ties[slot + c] = row_ties;
    }
  });
  parallel_for_vectorized(0, images * channels, tile_sum_rows_per_task(tiles),
                   [&](int64_t first, int64_t last) {
    for (int64_t nc = first; nc < last; ++nc) {
      const int64_t n = nc / channels;
      const int64_t c = nc % channels;
      acc_t sum = 0;
      int64_t ties = 0;
      for (int64_t t = 0; t < tiles; ++t) {
        sum += tile_sums[(n * tiles + t) * channels + c];
        ties += tile_ties[(n * tiles + t) * channels + c];
      }
      grad_channel[nc] = sigmoid_backward(static_cast<scalar_t>(sum), sigmoid(channel_logits[nc]));
      channel_ties[nc] = static_cast<int32_t>(ties);
    }
  });
}

// grad_x = (grad * s_s * s_c + grad_y * s_c) + grad_x_of_channel_stats, the
// three terms in the order the reference's autograd adds them: the two
// gates, the gated channel pool (grad_y as in pool_logits_tiles) and the
// channel pool (average share plus the maximum's share among its ties).
template <typename scalar_t>
void input_grad_tiles(const scalar_t* grad, const scalar_t* x, const scalar_t* channel_logits,
                      const scalar_t* spatial_logits, const scalar_t* pooled,
                      const scalar_t* grad_pooled, const scalar_t* channel_max,
                      const int32_t* channel_ties, const scalar_t* grad_avg,
                      const scalar_t* grad_max, scalar_t* grad_x, int64_t images, int64_t channels,
                      int64_t positions) {
  const int64_t tile = tile_positions(channels, positions, true);
  for_each_tile(images, channels, positions, tile, [&](int64_t n, int64_t begin, int64_t end) {
    const int64_t width = end - begin;
    const std::vector<scalar_t> gates = sigmoid_of(channel_logits + n * channels, channels);
    const std::vector<scalar_t> spatial_gates =
        sigmoid_of(spatial_logits + n * positions + begin, width);
    const int64_t offset = n * channels * positions + begin;
    const scalar_t* max = pooled + n * 2 * positions + begin;
    const scalar_t* pool_grad_max = grad_pooled + n * 2 * positions + begin;
    const scalar_t* pool_grad_mean = pool_grad_max + positions;
    const std::vector<int64_t> ties =
        position_ties(x + offset, gates.data(), max, channels, positions, width);
    std::vector<scalar_t> mean_share(width);
    std::vector<scalar_t> grad_over_ties(width);
    for (int64_t j = 0; j < width; ++j) {
      mean_share[j] = pool_grad_mean[j] / static_cast<scalar_t>(channels);
      grad_over_ties[j] = pool_grad_max[j] / static_cast<scalar_t>(ties[j]);
    }
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t nc = n * channels + c;
      const scalar_t* g = grad + offset + c * positions;
      const scalar_t* row = x + offset + c * positions;
      scalar_t* out = grad_x + offset + c * positions;
      const scalar_t gate = gates[c];
      const scalar_t avg_share = grad_avg[nc] / static_cast<scalar_t>(positions);
      const scalar_t row_grad_over_ties = grad_max[nc] / static_cast<scalar_t>(channel_ties[nc]);
      const scalar_t row_max = channel_max[nc];
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t through_gates = (g[j] * spatial_gates[j]) * gate;
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
    pool_logits_tiles(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
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
    input_grad_tiles(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
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
