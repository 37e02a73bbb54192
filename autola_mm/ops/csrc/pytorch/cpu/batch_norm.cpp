// CPU kernels of batch_norm, the BN of the attention modules' gates and
// projections: per channel, the mean and biased variance over (N, H, W) in
// two passes (training) or the running statistics (evaluation), then
// y = (x - mean) * invstd * weight + bias, then max(y, 0) where `relu` (the
// ReLU after the gates' first BN and HOGA's first projection BN); the
// running statistics move by `momentum` towards the batch's mean and
// unbiased variance, as torch's BatchNorm2d does. The backward of a fused
// ReLU reads the output it wrote: the gradient passes where it is not at
// most 0. A task owns whole channels, so the pass that writes a channel
// reads what the pass before it left in the core's cache (ATen's kernel
// splits these passes over the whole map).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include <cmath>

#include "../attention_core.h"
#include "../new_output.h"
#include "cpu_loops.h"
#include "optional_tensors.h"

namespace autola_mm::cpu {
namespace {

struct NormDims {
  int64_t images;
  int64_t channels;
  int64_t positions;

  explicit NormDims(const Tensor& x)
      : images(x.size(0)), channels(x.size(1)), positions(x.size(2) * x.size(3)) {}

  // Values each channel normalises over.
  int64_t count() const { return images * positions; }

  // The row of image n, channel c.
  int64_t row(int64_t n, int64_t c) const { return (n * channels + c) * positions; }

  // Channels per parallel task: at least kMinTaskElements values.
  int64_t channels_per_task() const {
    return std::max<int64_t>(1, kMinTaskElements / std::max<int64_t>(1, count()));
  }
};

// The sum of term(value) over the values of channel c (its row in every
// image): each row as lane_sum adds it, the rows in acc_t.
template <typename acc_t, typename scalar_t, typename Term>
acc_t channel_sum(const scalar_t* x, const NormDims& d, int64_t c, const Term& term) {
  acc_t sum = 0;
  for (int64_t n = 0; n < d.images; ++n) {
    const scalar_t* row = x + d.row(n, c);
    sum += lane_sum<acc_t, scalar_t>(d.positions, [&](int64_t j) { return term(row[j]); });
  }
  return sum;
}

// Mean and biased variance of channel c (two passes over its rows).
template <typename scalar_t, typename acc_t>
void channel_moments(const scalar_t* x, const NormDims& d, int64_t c, acc_t& mean, acc_t& var) {
  const acc_t count = static_cast<acc_t>(d.count());
  mean = channel_sum<acc_t>(x, d, c, [](scalar_t value) { return value; }) / count;
  var = channel_sum<acc_t>(x, d, c, [m = static_cast<scalar_t>(mean)](scalar_t value) {
          const scalar_t centred = value - m;
          return centred * centred;
        }) / count;
}

template <typename scalar_t>
void forward_channels(const scalar_t* x, const scalar_t* weight, const scalar_t* bias,
                      scalar_t* running_mean, scalar_t* running_var, bool training,
                      double momentum, double eps, bool relu, const NormDims& d,
                      scalar_t* out, scalar_t* save_mean, scalar_t* save_invstd) {
  using acc_t = at::acc_type<scalar_t, false>;
  const acc_t unbiased =
      training ? static_cast<acc_t>(d.count()) / static_cast<acc_t>(d.count() - 1) : acc_t(1);
  parallel_for_vectorized(0, d.channels, d.channels_per_task(), [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      acc_t mean, var;
      if (training) {
        channel_moments(x, d, c, mean, var);
        running_mean[c] = static_cast<scalar_t>((1 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] =
            static_cast<scalar_t>((1 - momentum) * running_var[c] + momentum * var * unbiased);
      } else {
        mean = running_mean[c];
        var = running_var[c];
      }
      const acc_t invstd = 1 / std::sqrt(var + static_cast<acc_t>(eps));
      save_mean[c] = static_cast<scalar_t>(mean);
      save_invstd[c] = static_cast<scalar_t>(invstd);
      const acc_t scale = weight == nullptr ? invstd : weight[c] * invstd;
      const acc_t shift = (bias == nullptr ? acc_t(0) : acc_t(bias[c])) - mean * scale;
      const scalar_t s = static_cast<scalar_t>(scale);
      const scalar_t t = static_cast<scalar_t>(shift);
      for (int64_t n = 0; n < d.images; ++n) {
        const scalar_t* row = x + d.row(n, c);
        scalar_t* out_row = out + d.row(n, c);
        if (relu) {
#pragma omp simd
          for (int64_t j = 0; j < d.positions; ++j) {
            out_row[j] = std::max(row[j] * s + t, scalar_t(0));
          }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < d.positions; ++j) {
            out_row[j] = row[j] * s + t;
          }
        }
      }
    }
  });
}

// The upstream gradient at position j of a row: grad itself, or with a fused
// ReLU (kRelu) 0 where the ReLU's output is at most 0 and grad elsewhere
// (a NaN output passes it, as torch's threshold_backward does).
template <bool kRelu, typename scalar_t>
inline scalar_t passed_gradient(const scalar_t* g, const scalar_t* relu_out, int64_t j) {
  if constexpr (kRelu) {
    return relu_out[j] <= scalar_t(0) ? scalar_t(0) : g[j];
  } else {
    return g[j];
  }
}

// grad_bias = sum(grad), grad_weight = sum(grad * x_hat) and, in training,
// grad_x = weight * invstd * (grad - mean(grad) - x_hat * mean(grad * x_hat));
// in evaluation the statistics are constants and grad_x = weight * invstd * grad.
// With a fused ReLU (kRelu), grad is the passed_gradient of `relu_out`.
template <bool kRelu, typename scalar_t>
void backward_channels(const scalar_t* grad, const scalar_t* x, const scalar_t* weight,
                       const scalar_t* save_mean, const scalar_t* save_invstd, bool training,
                       const scalar_t* relu_out, const NormDims& d, scalar_t* grad_x,
                       scalar_t* grad_weight, scalar_t* grad_bias) {
  using acc_t = at::acc_type<scalar_t, false>;
  parallel_for_vectorized(0, d.channels, d.channels_per_task(), [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      const scalar_t mean = save_mean[c];
      const acc_t invstd = save_invstd[c];
      acc_t sum_grad = 0;
      acc_t sum_grad_centred = 0;
      for (int64_t n = 0; n < d.images; ++n) {
        const scalar_t* g = grad + d.row(n, c);
        const scalar_t* o = kRelu ? relu_out + d.row(n, c) : nullptr;
        const scalar_t* row = x + d.row(n, c);
        scalar_t row_grad = 0;
        scalar_t row_grad_centred = 0;
#pragma omp simd reduction(+ : row_grad, row_grad_centred)
        for (int64_t j = 0; j < d.positions; ++j) {
          const scalar_t passed = passed_gradient<kRelu>(g, o, j);
          row_grad += passed;
          row_grad_centred += passed * (row[j] - mean);
        }
        sum_grad += row_grad;
        sum_grad_centred += row_grad_centred;
      }
      grad_bias[c] = static_cast<scalar_t>(sum_grad);
      grad_weight[c] = static_cast<scalar_t>(sum_grad_centred * invstd);
      const acc_t scale = weight == nullptr ? invstd : weight[c] * invstd;
      const acc_t count = static_cast<acc_t>(d.count());
      const scalar_t k = static_cast<scalar_t>(scale);
      const scalar_t grad_mean = static_cast<scalar_t>(sum_grad / count);
      const scalar_t centred_share =
          static_cast<scalar_t>(sum_grad_centred / count * invstd * invstd);
      for (int64_t n = 0; n < d.images; ++n) {
        const scalar_t* g = grad + d.row(n, c);
        const scalar_t* o = kRelu ? relu_out + d.row(n, c) : nullptr;
        const scalar_t* row = x + d.row(n, c);
        scalar_t* out = grad_x + d.row(n, c);
        if (training) {
#pragma omp simd
          for (int64_t j = 0; j < d.positions; ++j) {
            out[j] = k * (passed_gradient<kRelu>(g, o, j) - grad_mean -
                          (row[j] - mean) * centred_share);
          }
        } else {
          // The running statistics are constants: x does not enter (an infinite
          // x would make (x - mean) * 0 a NaN).
#pragma omp simd
          for (int64_t j = 0; j < d.positions; ++j) {
            out[j] = k * passed_gradient<kRelu>(g, o, j);
          }
        }
      }
    }
  });
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> batch_norm(const Tensor& x,
                                              const std::optional<Tensor>& weight,
                                              const std::optional<Tensor>& bias,
                                              Tensor& running_mean, Tensor& running_var,
                                              bool training, double momentum, double eps,
                                              bool relu) {
  const Tensor input = x.contiguous();
  const Tensor w = contiguous_or_undefined(weight);
  const Tensor b = contiguous_or_undefined(bias);
  // The running statistics are updated in place: through a contiguous copy
  // written back where they are strided.
  Tensor mean_buffer = running_mean.contiguous();
  Tensor var_buffer = running_var.contiguous();
  const NormDims d(input);
  Tensor out = new_output(input.sizes(), input.options());
  Tensor save_mean = at::empty({d.channels}, input.options());
  Tensor save_invstd = at::empty({d.channels}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "batch_norm_cpu", [&] {
    forward_channels(input.const_data_ptr<scalar_t>(), data_or_null<scalar_t>(w),
                     data_or_null<scalar_t>(b), mean_buffer.mutable_data_ptr<scalar_t>(),
                     var_buffer.mutable_data_ptr<scalar_t>(), training, momentum, eps, relu, d,
                     out.mutable_data_ptr<scalar_t>(), save_mean.mutable_data_ptr<scalar_t>(),
                     save_invstd.mutable_data_ptr<scalar_t>());
  });
  if (!mean_buffer.is_same(running_mean)) {
    running_mean.copy_(mean_buffer);
  }
  if (!var_buffer.is_same(running_var)) {
    running_var.copy_(var_buffer);
  }
  return {out, save_mean, save_invstd};
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(
    const Tensor& grad, const Tensor& x, const std::optional<Tensor>& weight,
    const Tensor& save_mean, const Tensor& save_invstd, bool training,
    const std::optional<Tensor>& relu_out) {
  const Tensor input = x.contiguous();
  const Tensor g = grad.contiguous();
  const Tensor activated = contiguous_or_undefined(relu_out);
  const Tensor w = contiguous_or_undefined(weight);
  const Tensor mean = save_mean.contiguous();
  const Tensor invstd = save_invstd.contiguous();
  const NormDims d(input);
  Tensor grad_x = new_output(input.sizes(), input.options());
  Tensor grad_weight = at::empty({d.channels}, input.options());
  Tensor grad_bias = at::empty({d.channels}, input.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "batch_norm_backward_cpu", [&] {
    const auto backward = activated.defined() ? backward_channels<true, scalar_t>
                                              : backward_channels<false, scalar_t>;
    backward(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
             data_or_null<scalar_t>(w), mean.const_data_ptr<scalar_t>(),
             invstd.const_data_ptr<scalar_t>(), training, data_or_null<scalar_t>(activated), d,
             grad_x.mutable_data_ptr<scalar_t>(), grad_weight.mutable_data_ptr<scalar_t>(),
             grad_bias.mutable_data_ptr<scalar_t>());
  });
  return {grad_x, grad_weight, grad_bias};
}

}  // namespace autola_mm::cpu
