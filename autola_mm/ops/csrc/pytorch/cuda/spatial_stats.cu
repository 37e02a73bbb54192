// CUDA kernels of spatial_stats and gated_spatial_stats: the maximum and the
// mean over channels at each (n, position) of x, or of
// x * sigmoid(channel_logits) when gated (reduce_columns); the backward
// counts the ties of each maximum the same way, writes the gradient of x
// element-wise and, when gated, reduces the channel logits' gradient over
// each (n, c) row (reduce_rows).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attention_core.h"
#include "cuda_helpers.cuh"
#include "reductions.cuh"

namespace autola_mm::cuda {
namespace {

// The value the pool sees at element (n, c, p) = nc * positions + p: x, or
// x * sigmoid(channel_logits[nc]) rounded to x's dtype when gated.
template <typename scalar_t>
__device__ at::acc_type<scalar_t, true> pooled_value(scalar_t x, const scalar_t* channel_logits,
                                                     int64_t nc) {
  using acc_t = at::acc_type<scalar_t, true>;
  return channel_logits == nullptr ? static_cast<acc_t>(x)
                                   : gated(x, gate_of(channel_logits[nc]));
}

// stats[n, 0, p] = max_c y[n, c, p] and stats[n, 1, p] = mean_c y[n, c, p]
// for the column n * positions + p.
template <typename scalar_t>
struct ChannelPool {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* x;
  const scalar_t* channel_logits;
  scalar_t* stats;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t column, int64_t begin, int64_t end) const {
    const int64_t n = column / positions;
    const int64_t p = column % positions;
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t c = begin; c < end; ++c) {
      const int64_t nc = n * channels + c;
      const acc_t y = pooled_value(x[nc * positions + p], channel_logits, nc);
      partial.sum += y;
      partial.max = nan_max(partial.max, y);
    }
    return partial;
  }

  __device__ void finish(int64_t column, const Partial<acc_t>& partial) const {
    const int64_t n = column / positions;
    const int64_t p = column % positions;
    stats[n * 2 * positions + p] = static_cast<scalar_t>(partial.max);
    stats[(n * 2 + 1) * positions + p] =
        static_cast<scalar_t>(partial.sum / static_cast<acc_t>(channels));
  }
};

// ties[column] = the number of channels whose pooled value equals the
// column's maximum in stats.
template <typename scalar_t>
struct PositionTies {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* x;
  const scalar_t* channel_logits;
  const scalar_t* stats;
  int32_t* ties;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t column, int64_t begin, int64_t end) const {
    const int64_t n = column / positions;
    const int64_t p = column % positions;
    const acc_t max = static_cast<acc_t>(stats[n * 2 * positions + p]);
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t c = begin; c < end; ++c) {
      const int64_t nc = n * channels + c;
      partial.count += pooled_value(x[nc * positions + p], channel_logits, nc) == max;
    }
    return partial;
  }

  __device__ void finish(int64_t column, const Partial<acc_t>& partial) const {
    ties[column] = static_cast<int32_t>(partial.count);
  }
};

template <typename scalar_t>
__global__ void spatial_stats_backward_kernel(const scalar_t* grad, const scalar_t* x,
                                              const scalar_t* channel_logits,
                                              const scalar_t* stats, const int32_t* ties,
                                              scalar_t* grad_x, int64_t total, int64_t channels,
                                              int64_t positions) {
  using acc_t = at::acc_type<scalar_t, true>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t p = i % positions;
    const int64_t nc = i / positions;
    const int64_t n = nc / channels;
    if (channel_logits == nullptr) {
      grad_x[i] = static_cast<scalar_t>(
          pool_grad(grad, stats, ties, static_cast<acc_t>(x[i]), n, p, channels, positions));
    } else {
      const scalar_t gate = gate_of(channel_logits[nc]);
      const acc_t grad_y =
          pool_grad(grad, stats, ties, gated(x[i], gate), n, p, channels, positions);
      grad_x[i] = static_cast<scalar_t>(grad_y * static_cast<acc_t>(gate));
    }
  }
}

// grad_logits[n, c] = sigmoid'(sum_p grad_y * x) over the row nc.
template <typename scalar_t>
struct GatedLogitsGrad {
  using acc_t = at::acc_type<scalar_t, true>;
  const scalar_t* grad;
  const scalar_t* x;
  const scalar_t* channel_logits;
  const scalar_t* stats;
  const int32_t* ties;
  scalar_t* grad_logits;
  int64_t channels;
  int64_t positions;

  __device__ Partial<acc_t> reduce(int64_t nc, int64_t first, int64_t end,
                                   int64_t stride) const {
    const int64_t n = nc / channels;
    const scalar_t gate = gate_of(channel_logits[nc]);
    Partial<acc_t> partial = Partial<acc_t>::identity();
#pragma unroll 4
    for (int64_t p = first; p < end; p += stride) {
      const scalar_t value = x[nc * positions + p];
      partial.sum +=
          pool_grad(grad, stats, ties, gated(value, gate), n, p, channels, positions) *
          static_cast<acc_t>(value);
    }
    return partial;
  }

  __device__ void finish(int64_t nc, const Partial<acc_t>& partial) const {
    grad_logits[nc] = static_cast<scalar_t>(
        sigmoid_backward(partial.sum, static_cast<acc_t>(gate_of(channel_logits[nc]))));
  }
};

Tensor launch_spatial_stats(const Tensor& x, const Tensor* channel_logits) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor logits = channel_logits ? channel_logits->contiguous() : Tensor();
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  Tensor stats = at::empty({images, 2, input.size(2), input.size(3)}, input.options());
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "spatial_stats_cuda", [&] {
    reduce_columns(
        ChannelPool<scalar_t>{input.const_data_ptr<scalar_t>(),
                              channel_logits ? logits.const_data_ptr<scalar_t>() : nullptr,
                              stats.mutable_data_ptr<scalar_t>(), channels, positions},
        images * positions, channels);
  });
  return stats;
}

// grad_x, and grad_logits when channel_logits is given.
std::tuple<Tensor, Tensor> launch_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                         const Tensor* channel_logits,
                                                         const Tensor& stats) {
  const c10::cuda::CUDAGuard guard(x.device());
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor s = stats.contiguous();
  const Tensor logits = channel_logits ? channel_logits->contiguous() : Tensor();
  const int64_t images = input.size(0), channels = input.size(1);
  const int64_t positions = input.size(2) * input.size(3);
  Tensor grad_x = at::empty(input.sizes(), input.options());
  Tensor grad_logits = channel_logits ? at::empty(logits.sizes(), logits.options()) : Tensor();
  const Tensor ties = position_ties(input, channel_logits ? &logits : nullptr, s);
  AUTOLA_MM_DISPATCH_CUDA_TYPES(input.scalar_type(), "spatial_stats_backward_cuda", [&] {
    const scalar_t* logits_ptr = channel_logits ? logits.const_data_ptr<scalar_t>() : nullptr;
    if (input.numel() > 0) {
      spatial_stats_backward_kernel<<<blocks_for(input.numel()), kThreads, 0,
                                      current_stream()>>>(
          g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), logits_ptr,
          s.const_data_ptr<scalar_t>(), ties.const_data_ptr<int32_t>(),
          grad_x.mutable_data_ptr<scalar_t>(), input.numel(), channels, positions);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    // With H * W = 0 every row sums nothing: grad_logits = sigmoid_backward(0, s) = 0,
    // as on the CPU.
    if (channel_logits) {
      reduce_rows(GatedLogitsGrad<scalar_t>{g.const_data_ptr<scalar_t>(),
                                            input.const_data_ptr<scalar_t>(), logits_ptr,
                                            s.const_data_ptr<scalar_t>(),
                                            ties.const_data_ptr<int32_t>(),
                                            grad_logits.mutable_data_ptr<scalar_t>(), channels,
                                            positions},
                  images * channels, positions);
    }
  });
  return {grad_x, grad_logits};
}

}  // namespace

Tensor position_ties(const Tensor& x, const Tensor* channel_logits, const Tensor& stats) {
  const int64_t images = x.size(0), channels = x.size(1);
  const int64_t positions = x.size(2) * x.size(3);
  Tensor ties = at::empty({images, positions}, x.options().dtype(at::kInt));
  AUTOLA_MM_DISPATCH_CUDA_TYPES(x.scalar_type(), "position_ties_cuda", [&] {
    reduce_columns(
        PositionTies<scalar_t>{x.const_data_ptr<scalar_t>(),
                               channel_logits ? channel_logits->const_data_ptr<scalar_t>()
                                              : nullptr,
                               stats.const_data_ptr<scalar_t>(),
                               ties.mutable_data_ptr<int32_t>(), channels, positions},
        images * positions, channels);
  });
  return ties;
}

Tensor spatial_stats(const Tensor& x) {
  return launch_spatial_stats(x, nullptr);
}

Tensor spatial_stats_backward(const Tensor& grad, const Tensor& x, const Tensor& stats) {
  return std::get<0>(launch_spatial_stats_backward(grad, x, nullptr, stats));
}

Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  return launch_spatial_stats(x, &channel_logits);
}

std::tuple<Tensor, Tensor> gated_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                        const Tensor& channel_logits,
                                                        const Tensor& stats) {
  return launch_spatial_stats_backward(grad, x, &channel_logits, stats);
}

}  // namespace autola_mm::cuda
