// CPU kernels of channel_mlp: the channel MLP of SE and CBAM,
// fc2(relu(fc1(p))), on one pooled descriptor or the sum over two (avg and
// max through the same weights), and its gradient, each one operator call.
// Autograd through torch's linear layers makes about seven calls each way
// per descriptor (matrix products, bias sums, ReLU, the copies inside addmm),
// on matrices of a few hundred elements at most in HOGA.
//
// Sums over images run in image order on one thread per output element, so
// the results do not depend on the number of threads.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <vector>

#include "../attention_core.h"
#include "cpu_loops.h"
#include "optional_tensors.h"

namespace autola_mm::cpu {
namespace {

// The MLP's weights as raw rows, each bias null where the layer has none.
template <typename scalar_t>
struct MlpWeights {
  const scalar_t* weight1;  // (hidden, channels)
  const scalar_t* bias1;    // (hidden) or null
  const scalar_t* weight2;  // (channels, hidden)
  const scalar_t* bias2;    // (channels) or null
  int64_t channels;
  int64_t hidden;
};

// sum_k row[k] * values[k] over `length` values: the products in the
// lanes of value_t, chunk by chunk as lane_sum adds (a float dot in double
// lanes took twice as long: SE's MLP at C = 1024, 0.09 ms).
template <typename acc_t, typename scalar_t, typename value_t>
acc_t dot(const scalar_t* row, const value_t* values, int64_t length) {
  return lane_sum<acc_t, value_t>(
      length, [&](int64_t k) { return static_cast<value_t>(row[k]) * values[k]; });
}

// pre[j] = bias1[j] + sum_c weight1[j, c] * p[c], the hidden layer before its ReLU.
template <typename scalar_t, typename acc_t>
void hidden_layer(const MlpWeights<scalar_t>& mlp, const scalar_t* p, acc_t* pre) {
  for (int64_t j = 0; j < mlp.hidden; ++j) {
    const acc_t sum = dot<acc_t>(mlp.weight1 + j * mlp.channels, p, mlp.channels);
    pre[j] = sum + (mlp.bias1 != nullptr ? static_cast<acc_t>(mlp.bias1[j]) : acc_t(0));
  }
}

// max(value, 0), NaN kept as torch.relu keeps it.
template <typename acc_t>
acc_t relu(acc_t value) {
  return value <= 0 ? acc_t(0) : value;
}

// logits[n] = sum over the descriptors d of fc2(relu(fc1(d[n]))).
template <typename scalar_t>
void channel_mlp_images(const MlpWeights<scalar_t>& mlp,
                        const std::vector<const scalar_t*>& pooled, scalar_t* logits,
                        int64_t images) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t work = static_cast<int64_t>(pooled.size()) * mlp.hidden * mlp.channels * 2;
  parallel_for_vectorized(0, images, rows_per_task(work), [&](int64_t first, int64_t last) {
    std::vector<acc_t> pre(mlp.hidden), hidden_sum(mlp.hidden);
    std::vector<scalar_t> hidden(mlp.hidden);
    for (int64_t n = first; n < last; ++n) {
      std::fill(hidden_sum.begin(), hidden_sum.end(), acc_t(0));
      for (const scalar_t* p : pooled) {
        hidden_layer(mlp, p + n * mlp.channels, pre.data());
        for (int64_t j = 0; j < mlp.hidden; ++j) {
          hidden_sum[j] += relu(pre[j]);
        }
      }
      // The hidden activations in the descriptors' dtype, as torch's fc2 reads them.
      std::copy(hidden_sum.begin(), hidden_sum.end(), hidden.begin());
      const acc_t descriptors = static_cast<acc_t>(pooled.size());
      for (int64_t c = 0; c < mlp.channels; ++c) {
        const acc_t sum = dot<acc_t>(mlp.weight2 + c * mlp.hidden, hidden.data(), mlp.hidden);
        const acc_t bias = mlp.bias2 != nullptr ? descriptors * mlp.bias2[c] : acc_t(0);
        logits[n * mlp.channels + c] = static_cast<scalar_t>(sum + bias);
      }
    }
  });
}

// Terms of weighted_rows summed in the lanes of the descriptors' dtype
// before their sum joins the row in acc_t.
constexpr int64_t kTermsPerChunk = 32;

// row = sum_i coefficient(i) * input(i), each input(i) a row of row.size()
// values, over `terms` terms in order; returns sum_i coefficient(i). Every
// product of the backward pass has this form: the hidden layer's gradient
// (grad times the rows of fc2's weight), a descriptor's (grad_pre times the
// rows of fc1's weight), and a row of a weight gradient with its bias
// gradient (one term per image and descriptor). Each kTermsPerChunk terms
// are summed in scalar_t in `chunk` (a scratch row), then added to `row`:
// a float row in double lanes loads, converts and stores twice the vectors.
template <typename scalar_t, typename acc_t, typename Coefficient, typename Input>
acc_t weighted_rows(int64_t terms, const Coefficient& coefficient, const Input& input,
                    std::vector<scalar_t>& chunk, std::vector<acc_t>& row) {
  const int64_t length = static_cast<int64_t>(row.size());
  std::fill(row.begin(), row.end(), acc_t(0));
  acc_t total = 0;
  for (int64_t begin = 0; begin < terms; begin += kTermsPerChunk) {
    chunk.assign(length, scalar_t(0));
    scalar_t* sums = chunk.data();
    for (int64_t i = begin; i < std::min(begin + kTermsPerChunk, terms); ++i) {
      const acc_t g = coefficient(i);
      const scalar_t weight = static_cast<scalar_t>(g);
      const auto* values = input(i);
      total += g;
#pragma omp simd
      for (int64_t k = 0; k < length; ++k) {
        sums[k] += weight * static_cast<scalar_t>(values[k]);
      }
    }
#pragma omp simd
    for (int64_t k = 0; k < length; ++k) {
      row[k] += sums[k];
    }
  }
  return total;
}

template <typename acc_t, typename scalar_t>
void store(const std::vector<acc_t>& row, scalar_t* out) {
  for (size_t k = 0; k < row.size(); ++k) {
    out[k] = static_cast<scalar_t>(row[k]);
  }
}

// The gradients of channel_mlp_images. Per image (in parallel): the hidden
// layer of each descriptor again, the gradient at its pre-activation
// (grad_pre, kept for the weight gradients) and the descriptor's gradient.
// Then per weight row (in parallel): the sums over images.
template <typename scalar_t>
void channel_mlp_backward_images(const MlpWeights<scalar_t>& mlp, const scalar_t* grad,
                                 const std::vector<const scalar_t*>& pooled,
                                 const std::vector<scalar_t*>& grad_pooled, scalar_t* grad_weight1,
                                 scalar_t* grad_bias1, scalar_t* grad_weight2,
                                 scalar_t* grad_bias2, int64_t images) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t descriptors = static_cast<int64_t>(pooled.size());
  const int64_t channels = mlp.channels;
  const int64_t hidden = mlp.hidden;
  // (descriptor, image, hidden unit): the pre-activations' gradients, and
  // the hidden activations summed over the descriptors.
  std::vector<acc_t> grad_pre(descriptors * images * hidden);
  std::vector<acc_t> hidden_sum(images * hidden);
  const int64_t work = descriptors * hidden * channels * 3;
  parallel_for_vectorized(0, images, rows_per_task(work), [&](int64_t first, int64_t last) {
    std::vector<acc_t> pre(hidden), grad_hidden(hidden), row_sum(channels);
    std::vector<scalar_t> chunk;
    for (int64_t n = first; n < last; ++n) {
      const scalar_t* g = grad + n * channels;
      weighted_rows(
          channels, [&](int64_t c) { return acc_t(g[c]); },
          [&](int64_t c) { return mlp.weight2 + c * hidden; }, chunk,
          grad_hidden);
      acc_t* sum = hidden_sum.data() + n * hidden;
      std::fill(sum, sum + hidden, acc_t(0));
      for (int64_t d = 0; d < descriptors; ++d) {
        hidden_layer(mlp, pooled[d] + n * channels, pre.data());
        acc_t* grad_pre_row = grad_pre.data() + (d * images + n) * hidden;
        for (int64_t j = 0; j < hidden; ++j) {
          sum[j] += relu(pre[j]);
          // As threshold_backward: stopped where pre <= 0, passed elsewhere (NaN too).
          grad_pre_row[j] = pre[j] <= 0 ? acc_t(0) : grad_hidden[j];
        }
        weighted_rows(
            hidden, [&](int64_t j) { return grad_pre_row[j]; },
            [&](int64_t j) { return mlp.weight1 + j * channels; }, chunk,
            row_sum);
        store(row_sum, grad_pooled[d] + n * channels);
      }
    }
  });
  // fc2: grad_weight2[c, j] = sum_n grad[n, c] * hidden_sum[n, j];
  // grad_bias2[c] = descriptors * sum_n grad[n, c].
  parallel_for_vectorized(0, channels, rows_per_task(images * (hidden + 1)),
                          [&](int64_t first, int64_t last) {
    std::vector<acc_t> row(hidden);
    std::vector<scalar_t> chunk;
    for (int64_t c = first; c < last; ++c) {
      const acc_t bias = weighted_rows(
          images, [&](int64_t n) { return acc_t(grad[n * channels + c]); },
          [&](int64_t n) { return hidden_sum.data() + n * hidden; }, chunk,
          row);
      store(row, grad_weight2 + c * hidden);
      grad_bias2[c] = static_cast<scalar_t>(static_cast<acc_t>(descriptors) * bias);
    }
  });
  // fc1: grad_weight1[j, c] = sum_d sum_n grad_pre[d, n, j] * pooled[d][n, c];
  // grad_bias1[j] = sum_d sum_n grad_pre[d, n, j]. Term i is image i % images
  // of descriptor i / images.
  parallel_for_vectorized(0, hidden, rows_per_task(descriptors * images * (channels + 1)),
                          [&](int64_t first, int64_t last) {
    std::vector<acc_t> row(channels);
    std::vector<scalar_t> chunk;
    for (int64_t j = first; j < last; ++j) {
      const acc_t bias = weighted_rows(
          descriptors * images, [&](int64_t i) { return grad_pre[i * hidden + j]; },
          [&](int64_t i) { return pooled[i / images] + (i % images) * channels; }, chunk,
          row);
      store(row, grad_weight1 + j * channels);
      grad_bias1[j] = static_cast<scalar_t>(bias);
    }
  });
}

// The weights of contiguous tensors; a bias undefined where the layer has none.
template <typename scalar_t>
MlpWeights<scalar_t> mlp_weights(const Tensor& weight1, const Tensor& bias1,
                                 const Tensor& weight2, const Tensor& bias2) {
  return {weight1.const_data_ptr<scalar_t>(), data_or_null<scalar_t>(bias1),
          weight2.const_data_ptr<scalar_t>(), data_or_null<scalar_t>(bias2), weight1.size(1),
          weight1.size(0)};
}

// The descriptors as contiguous tensors: avg, then max where given.
std::vector<Tensor> descriptors_of(const Tensor& avg, const std::optional<Tensor>& max) {
  std::vector<Tensor> pooled = {avg.contiguous()};
  if (max.has_value() && max->defined()) {
    pooled.push_back(max->contiguous());
  }
  return pooled;
}

template <typename scalar_t>
std::vector<const scalar_t*> data_of(const std::vector<Tensor>& tensors) {
  std::vector<const scalar_t*> data;
  for (const Tensor& t : tensors) {
    data.push_back(t.const_data_ptr<scalar_t>());
  }
  return data;
}

}  // namespace

Tensor channel_mlp(const Tensor& avg, const std::optional<Tensor>& max, const Tensor& weight1,
                   const std::optional<Tensor>& bias1, const Tensor& weight2,
                   const std::optional<Tensor>& bias2) {
  const std::vector<Tensor> pooled = descriptors_of(avg, max);
  const Tensor w1 = weight1.contiguous();
  const Tensor w2 = weight2.contiguous();
  const auto b1 = contiguous_or_undefined(bias1);
  const auto b2 = contiguous_or_undefined(bias2);
  Tensor logits = at::empty(avg.sizes(), avg.options());
  AT_DISPATCH_FLOATING_TYPES(avg.scalar_type(), "channel_mlp_cpu", [&] {
    channel_mlp_images(mlp_weights<scalar_t>(w1, b1, w2, b2), data_of<scalar_t>(pooled),
                       logits.mutable_data_ptr<scalar_t>(), avg.size(0));
  });
  return logits;
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> channel_mlp_backward(
    const Tensor& grad, const Tensor& avg, const std::optional<Tensor>& max,
    const Tensor& weight1, const std::optional<Tensor>& bias1, const Tensor& weight2) {
  const std::vector<Tensor> pooled = descriptors_of(avg, max);
  const Tensor g = grad.contiguous();
  const Tensor w1 = weight1.contiguous();
  const Tensor w2 = weight2.contiguous();
  const auto b1 = contiguous_or_undefined(bias1);
  std::vector<Tensor> grad_pooled;
  for (const Tensor& p : pooled) {
    grad_pooled.push_back(at::empty(p.sizes(), p.options()));
  }
  Tensor grad_weight1 = at::empty(w1.sizes(), w1.options());
  Tensor grad_bias1 = at::empty({w1.size(0)}, w1.options());
  Tensor grad_weight2 = at::empty(w2.sizes(), w2.options());
  Tensor grad_bias2 = at::empty({w2.size(0)}, w2.options());
  AT_DISPATCH_FLOATING_TYPES(avg.scalar_type(), "channel_mlp_backward_cpu", [&] {
    std::vector<scalar_t*> grad_pooled_data;
    for (Tensor& t : grad_pooled) {
      grad_pooled_data.push_back(t.mutable_data_ptr<scalar_t>());
    }
    channel_mlp_backward_images(
        mlp_weights<scalar_t>(w1, b1, w2, Tensor()), g.const_data_ptr<scalar_t>(),
        data_of<scalar_t>(pooled), grad_pooled_data, grad_weight1.mutable_data_ptr<scalar_t>(),
        grad_bias1.mutable_data_ptr<scalar_t>(), grad_weight2.mutable_data_ptr<scalar_t>(),
        grad_bias2.mutable_data_ptr<scalar_t>(), avg.size(0));
  });
  Tensor grad_max = grad_pooled.size() > 1 ? grad_pooled[1] : at::empty({0}, avg.options());
  return {grad_pooled[0], grad_max, grad_weight1, grad_bias1, grad_weight2, grad_bias2};
}

}  // namespace autola_mm::cpu
