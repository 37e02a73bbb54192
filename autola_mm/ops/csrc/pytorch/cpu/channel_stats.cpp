// CPU kernels of channel_stats: the average and the maximum of every channel
// over its H x W positions in one pass (SE's squeeze, CBAM's channel pool),
// and their gradient.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <algorithm>
#include <limits>

#include "../../common/attention_math.h"
#include "../attention_core.h"
#include "cpu_loops.h"
#include "../new_output.h"

namespace autola_mm::cpu {
namespace {

// The sum chunk by chunk in scalar_t lanes (sum_of_chunks), the maximum in
// the same pass. A NaN anywhere makes the sum NaN, and only then is the row
// scanned for one, so that the maximum is NaN as torch.amax's is; the hot
// loop keeps no NaN flag.
template <typename scalar_t>
void channel_stats_rows(const scalar_t* x, scalar_t* avg, scalar_t* max, int64_t rows,
                        int64_t length) {
  using acc_t = at::acc_type<scalar_t, false>;
  parallel_for_vectorized(0, rows, rows_per_task(length), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const scalar_t* row = x + r * length;
      scalar_t row_max = row[0];
      const acc_t sum = sum_of_chunks<acc_t>(length, [&](int64_t begin, int64_t end) {
        scalar_t chunk = 0;
#pragma omp simd reduction(+ : chunk) reduction(max : row_max)
        for (int64_t i = begin; i < end; ++i) {
          chunk += row[i];
          row_max = row[i] > row_max ? row[i] : row_max;
        }
        return chunk;
      });
      if (sum != sum && std::any_of(row, row + length, [](scalar_t v) { return v != v; })) {
        row_max = std::numeric_limits<scalar_t>::quiet_NaN();
      }
      avg[r] = static_cast<scalar_t>(sum / length);
      max[r] = row_max;
    }
  });
}

template <typename scalar_t>
void channel_stats_backward_rows(const scalar_t* grad_avg, const scalar_t* grad_max,
                                 const scalar_t* x, const scalar_t* max, scalar_t* grad_x,
                                 int64_t rows, int64_t length) {
  parallel_for_vectorized(0, rows, rows_per_task(length), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const scalar_t* row = x + r * length;
      const scalar_t row_max = max[r];
      int64_t ties = 0;
#pragma omp simd reduction(+ : ties)
      for (int64_t i = 0; i < length; ++i) {
        ties += row[i] == row_max;
      }
      const scalar_t mean_share = grad_avg[r] / static_cast<scalar_t>(length);
      const scalar_t grad_over_ties = grad_max[r] / static_cast<scalar_t>(ties);
      scalar_t* out = grad_x + r * length;
      for (int64_t j = 0; j < length; ++j) {
        out[j] = mean_share + max_share(grad_over_ties, row[j], row_max);
      }
    }
  });
}

}  // namespace

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x) {
  const Tensor input = x.contiguous();
  const int64_t rows = input.size(0) * input.size(1);
  const int64_t length = input.size(2) * input.size(3);
  Tensor avg = at::empty({input.size(0), input.size(1), 1, 1}, input.options());
  Tensor max = at::empty_like(avg);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_stats_cpu", [&] {
    channel_stats_rows(input.const_data_ptr<scalar_t>(), avg.mutable_data_ptr<scalar_t>(),
                       max.mutable_data_ptr<scalar_t>(), rows, length);
  });
  return {avg, max};
}

Tensor channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max, const Tensor& x,
                              const Tensor& max) {
  const Tensor input = x.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  const Tensor row_max = max.contiguous();
  const int64_t rows = input.size(0) * input.size(1);
  const int64_t length = input.size(2) * input.size(3);
  Tensor grad_x = new_output(input.sizes(), input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_stats_backward_cpu", [&] {
    channel_stats_backward_rows(
        g_avg.const_data_ptr<scalar_t>(), g_max.const_data_ptr<scalar_t>(),
        input.const_data_ptr<scalar_t>(), row_max.const_data_ptr<scalar_t>(),
        grad_x.mutable_data_ptr<scalar_t>(), rows, length);
  });
  return grad_x;
}

}  // namespace autola_mm::cpu
