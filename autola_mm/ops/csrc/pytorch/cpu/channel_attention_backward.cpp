// CPU kernels of the fused channel attention backward
// (autola_mm.ops.channel_attention, SE and SE_A_M): per (n, c) row, the
// channel logits' gradient (with the ties of the row's maximum), then the
// gradient of x from both uses of x, the gate and the channel pool, written
// in one pass.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../../common/attention_math.h"
#include "../attention_core.h"
#include "cpu_loops.h"
#include "../new_output.h"

namespace autola_mm::cpu {
namespace {

template <typename scalar_t>
void logits_rows(const scalar_t* grad, const scalar_t* x, const scalar_t* logits,
                 const scalar_t* channel_max, scalar_t* grad_logits, int32_t* channel_ties,
                 int64_t rows, int64_t length) {
  using acc_t = at::acc_type<scalar_t, false>;
  parallel_for_vectorized(0, rows, rows_per_task(length), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const scalar_t* g = grad + r * length;
      const scalar_t* row = x + r * length;
      const scalar_t row_max = channel_max[r];
      int32_t ties;
      const acc_t sum = lane_sum_and_ties<acc_t>(
          length, row, row_max, [&](int64_t j) { return g[j] * row[j]; }, ties);
      grad_logits[r] = sigmoid_backward(static_cast<scalar_t>(sum), sigmoid(logits[r]));
      channel_ties[r] = ties;
    }
  });
}

// grad_x = grad * s + (grad_avg / (H W) + the maximum's share among its ties):
// the gate's term first, as the reference's autograd adds them. A row whose
// maximum has no gradient (SE pools only the average; autograd passes zeros)
// gets a zero share at every position: the pass then reads grad only, not x.
template <typename scalar_t>
void input_rows(const scalar_t* grad, const scalar_t* x, const scalar_t* logits,
                const scalar_t* channel_max, const int32_t* channel_ties,
                const scalar_t* grad_avg, const scalar_t* grad_max, scalar_t* grad_x,
                int64_t rows, int64_t length) {
  parallel_for_vectorized(0, rows, rows_per_task(length), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const scalar_t* g = grad + r * length;
      const scalar_t* row = x + r * length;
      scalar_t* out = grad_x + r * length;
      const scalar_t gate = sigmoid(logits[r]);
      const scalar_t row_max = channel_max[r];
      const scalar_t avg_share = grad_avg[r] / static_cast<scalar_t>(length);
      if (grad_max[r] == scalar_t(0) && channel_ties[r] > 0) {
        for (int64_t j = 0; j < length; ++j) {
          out[j] = g[j] * gate + avg_share;
        }
        continue;
      }
      const scalar_t grad_over_ties = grad_max[r] / static_cast<scalar_t>(channel_ties[r]);
      for (int64_t j = 0; j < length; ++j) {
        out[j] = g[j] * gate + (avg_share + max_share(grad_over_ties, row[j], row_max));
      }
    }
  });
}

}  // namespace

std::tuple<Tensor, Tensor> channel_attention_backward_logits(const Tensor& grad, const Tensor& x,
                                                             const Tensor& logits,
                                                             const Tensor& channel_max) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a = logits.contiguous();
  const Tensor row_max = channel_max.contiguous();
  Tensor grad_logits = at::empty(a.sizes(), a.options());
  Tensor channel_ties = at::empty(a.sizes(), a.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_attention_backward_logits_cpu", [&] {
    logits_rows(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                a.const_data_ptr<scalar_t>(), row_max.const_data_ptr<scalar_t>(),
                grad_logits.mutable_data_ptr<scalar_t>(), channel_ties.mutable_data_ptr<int32_t>(),
                input.size(0) * input.size(1), input.size(2) * input.size(3));
  });
  return {grad_logits, channel_ties};
}

Tensor channel_attention_backward_input(const Tensor& grad, const Tensor& x,
                                        const Tensor& logits, const Tensor& channel_max,
                                        const Tensor& channel_ties, const Tensor& grad_avg,
                                        const Tensor& grad_max) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor a = logits.contiguous();
  const Tensor row_max = channel_max.contiguous();
  const Tensor ties = channel_ties.contiguous();
  const Tensor g_avg = grad_avg.contiguous();
  const Tensor g_max = grad_max.contiguous();
  Tensor grad_x = new_output(input.sizes(), input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_attention_backward_input_cpu", [&] {
    input_rows(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
               a.const_data_ptr<scalar_t>(), row_max.const_data_ptr<scalar_t>(),
               ties.const_data_ptr<int32_t>(), g_avg.const_data_ptr<scalar_t>(),
               g_max.const_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(),
               input.size(0) * input.size(1), input.size(2) * input.size(3));
  });
  return grad_x;
}

}  // namespace autola_mm::cpu
