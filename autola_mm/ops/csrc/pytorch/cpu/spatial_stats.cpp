// CPU kernels of spatial_stats and gated_spatial_stats: the maximum and the
// mean over channels at every position (CBAM's channel pool), optionally of
// x * sigmoid(channel_logits) without materialising that product, and their
// gradients.
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

// sigmoid(channel_logits) of image n, or nullptr for the ungated pool.
template <typename scalar_t>
void channel_gates(const scalar_t* logits, int64_t channels, scalar_t* gates) {
  for (int64_t c = 0; c < channels; ++c) {
    gates[c] = sigmoid(logits[c]);
  }
}

// stats[n, 0, p] = max_c y[n, c, p] and stats[n, 1, p] = mean_c y[n, c, p],
// with y = x * gate[n, c] when gates are given and y = x otherwise.
template <typename scalar_t, bool kGated>
void spatial_stats_tiles(const scalar_t* x, const scalar_t* channel_logits, scalar_t* stats,
                         int64_t images, int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t tile = tile_positions(channels, positions, false);
  for_each_tile(images, channels, positions, tile, [&](int64_t n, int64_t begin, int64_t end) {
    std::vector<scalar_t> gates(kGated ? channels : 0);
    if constexpr (kGated) {
      channel_gates(channel_logits + n * channels, channels, gates.data());
    }
    const int64_t width = end - begin;
    std::vector<acc_t> sum(width, acc_t(0));
    std::vector<scalar_t> max(width);
    const scalar_t* image = x + n * channels * positions + begin;
    for (int64_t c = 0; c < channels; ++c) {
      const scalar_t* row = image + c * positions;
      const scalar_t gate = kGated ? gates[c] : scalar_t(1);
      if (c == 0) {
        for (int64_t j = 0; j < width; ++j) {
          max[j] = kGated ? row[j] * gate : row[j];
        }
      }
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t y = kGated ? row[j] * gate : row[j];
        sum[j] += y;
        max[j] = nan_max(max[j], y);
      }
    }
    scalar_t* out_max = stats + n * 2 * positions + begin;
    scalar_t* out_mean = out_max + positions;
    for (int64_t j = 0; j < width; ++j) {
      out_max[j] = max[j];
      out_mean[j] = static_cast<scalar_t>(sum[j] / channels);
    }
  });
}

// grad_x of the pool above. With gates, also the gradient of the channel
// logits: sum_p grad_y * x per (n, c), then through the sigmoid; the per-tile
// sums go to `tile_sums` (N, tiles, C) and are added in tile order, so the
// result does not depend on the number of threads.
template <typename scalar_t, bool kGated>
void spatial_stats_backward_tiles(const scalar_t* grad, const scalar_t* x,
                                  const scalar_t* channel_logits, const scalar_t* stats,
                                  scalar_t* grad_x, scalar_t* grad_logits, int64_t images,
                                  int64_t channels, int64_t positions) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t tile = tile_positions(channels, positions, true);
  const int64_t tiles = tile_count(positions, tile);
  std::vector<acc_t> tile_sums(kGated ? images * tiles * channels : 0);
  for_each_tile(images, channels, positions, tile, [&](int64_t n, int64_t begin, int64_t end) {
    std::vector<scalar_t> gates(kGated ? channels : 0);
    if constexpr (kGated) {
      channel_gates(channel_logits + n * channels, channels, gates.data());
    }
    const int64_t width = end - begin;
    const scalar_t* max = stats + n * 2 * positions + begin;
    const scalar_t* grad_max = grad + n * 2 * positions + begin;
    const scalar_t* grad_mean = grad_max + positions;
    const int64_t offset = n * channels * positions + begin;
    std::vector<int64_t> ties(width, 0);
    for (int64_t c = 0; c < channels; ++c) {
      const scalar_t* row = x + offset + c * positions;
      const scalar_t gate = kGated ? gates[c] : scalar_t(1);
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t y = kGated ? row[j] * gate : row[j];
        ties[j] += y == max[j];
      }
    }
    std::vector<scalar_t> mean_share(width);
    std::vector<scalar_t> grad_over_ties(width);
    for (int64_t j = 0; j < width; ++j) {
      mean_share[j] = grad_mean[j] / static_cast<scalar_t>(channels);
      grad_over_ties[j] = grad_max[j] / static_cast<scalar_t>(ties[j]);
    }
    acc_t* sums = kGated ? tile_sums.data() + (n * tiles + begin / tile) * channels : nullptr;
    for (int64_t c = 0; c < channels; ++c) {
      const scalar_t* row = x + offset + c * positions;
      scalar_t* out = grad_x + offset + c * positions;
      if constexpr (kGated) {
        const scalar_t gate = gates[c];
        acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < width; ++j) {
          const scalar_t y = row[j] * gate;
          const scalar_t grad_y = mean_share[j] + max_share(grad_over_ties[j], y, max[j]);
          out[j] = grad_y * gate;
          sum += grad_y * row[j];
        }
        sums[c] = sum;
      } else {
        for (int64_t j = 0; j < width; ++j) {
          out[j] = mean_share[j] + max_share(grad_over_ties[j], row[j], max[j]);
        }
      }
    }
  });
  if constexpr (kGated) {
    parallel_for_vectorized(0, images * channels, tile_sum_rows_per_task(tiles),
                   [&](int64_t first, int64_t last) {
      for (int64_t nc = first; nc < last; ++nc) {
        const int64_t n = nc / channels;
        const int64_t c = nc % channels;
        acc_t sum = 0;
        for (int64_t t = 0; t < tiles; ++t) {
          sum += tile_sums[(n * tiles + t) * channels + c];
        }
        grad_logits[nc] =
            sigmoid_backward(static_cast<scalar_t>(sum), sigmoid(channel_logits[nc]));
      }
    });
  }
}

}  // namespace

Tensor spatial_stats(const Tensor& x) {
  const Tensor input = x.contiguous();
  Tensor stats = at::empty({input.size(0), 2, input.size(2), input.size(3)}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "spatial_stats_cpu", [&] {
    spatial_stats_tiles<scalar_t, false>(input.const_data_ptr<scalar_t>(), nullptr,
                                         stats.mutable_data_ptr<scalar_t>(), input.size(0),
                                         input.size(1), input.size(2) * input.size(3));
  });
  return stats;
}

Tensor spatial_stats_backward(const Tensor& grad, const Tensor& x, const Tensor& stats) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor s = stats.contiguous();
  Tensor grad_x = new_output(input.sizes(), input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "spatial_stats_backward_cpu", [&] {
    spatial_stats_backward_tiles<scalar_t, false>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), nullptr,
        s.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(), nullptr,
        input.size(0), input.size(1), input.size(2) * input.size(3));
  });
  return grad_x;
}

Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  const Tensor input = x.contiguous();
  const Tensor logits = channel_logits.contiguous();
  Tensor stats = at::empty({input.size(0), 2, input.size(2), input.size(3)}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "gated_spatial_stats_cpu", [&] {
    spatial_stats_tiles<scalar_t, true>(input.const_data_ptr<scalar_t>(),
                                        logits.const_data_ptr<scalar_t>(),
                                        stats.mutable_data_ptr<scalar_t>(), input.size(0),
                                        input.size(1), input.size(2) * input.size(3));
  });
  return stats;
}

std::tuple<Tensor, Tensor> gated_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                        const Tensor& channel_logits,
                                                        const Tensor& stats) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor logits = channel_logits.contiguous();
  const Tensor s = stats.contiguous();
  Tensor grad_x = new_output(input.sizes(), input.options());
  Tensor grad_logits = at::empty(logits.sizes(), logits.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "gated_spatial_stats_backward_cpu", [&] {
    spatial_stats_backward_tiles<scalar_t, true>(
        g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
        logits.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
        grad_x.mutable_data_ptr<scalar_t>(), grad_logits.mutable_data_ptr<scalar_t>(),
        input.size(0), input.size(1), input.size(2) * input.size(3));
  });
  return {grad_x, grad_logits};
}

}  // namespace autola_mm::cpu
