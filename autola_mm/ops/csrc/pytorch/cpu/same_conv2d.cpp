// CPU kernels of same_conv2d: a stride-1, size-keeping, grouped convolution
// computed directly, for convolutions with few input channels per group
// (HOGA's depthwise convolutions and the convolutions over the 2-map channel
// pool). The planes of one channel in a run of images are copied into a
// zero-bordered scratch, stacked: each plane's rows follow the previous
// plane's after a border of zero rows that both share. On that layout every
// kernel tap is one long element-wise loop over the whole stack (a shifted
// multiply-add, or a dot product for the weight gradient), which the
// compiler vectorises (see cpu_loops.h for the instruction sets); a stack
// of small planes makes loops long where a single 8 x 8 plane would leave
// them mostly remainder. Outputs that fall into the borders are computed
// and dropped.
//   forward:      out[n, o] = sum over i, taps of w[o, i, t] * shift_t(x[n, i])
//   input grad:   the forward of the gradient with the adjoint kernel
//                 (adjoint_weight below)
//   weight grad:  gw[o, i, t] = sum over n of dot(g[n, o], shift_t(x[n, i]))
// The weight gradient sums fixed chunks of images, so the result does not
// depend on the number of threads.
// A 1 x 1 kernel has no border: its loops read the planes in place, and the
// weight gradient sums every (output, input) pair of a chunk of images in
// one task, while the chunk's maps are in cache (SameConv2d sends the 1 x 1
// convolutions of HOGA's 4-channel groups here).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <vector>

#include "../../common/same_conv_math.h"
#include "../attention_core.h"
#include "cpu_loops.h"
#include "../new_output.h"

namespace autola_mm::cpu {
namespace {

// Multiply-adds one parallel task should do at least.
constexpr int64_t kMinTaskWork = 65536;

// Independent partial sums of a dot product: two AVX-512 registers of
// floats, so that the multiply-adds of one dot do not wait on each other
// (one register: about 15% slower weight gradients); the stacked rows are
// long enough that few fall into the remainder.
constexpr int64_t kDotLanes = 32;

// Weight-gradient tasks to aim for: (output, input channel) pairs times
// chunks of images.
constexpr int64_t kWeightTasks = 64;

// Chunks of images of the weight gradient of a 1 x 1 kernel (each a task).
constexpr int64_t kWeightChunks = 16;

// Elements of a stacked scratch to aim for (a core's L1 and L2 hold it).
constexpr int64_t kStackElements = 4096;

struct ConvDims {
  int64_t images, in_channels, out_channels, height, width, kernel_h, kernel_w, dilation,
      groups;

  int64_t in_per_group() const { return in_channels / groups; }
  int64_t out_per_group() const { return out_channels / groups; }
  int64_t plane() const { return height * width; }
  int64_t taps() const { return kernel_h * kernel_w; }
  int64_t pad_h() const { return same_padding(kernel_h, dilation); }
  int64_t pad_w() const { return same_padding(kernel_w, dilation); }
  int64_t padded_width() const { return width + 2 * pad_w(); }
  // Scratch rows from one plane's first row to the next plane's.
  int64_t stacked_rows() const { return height + pad_h(); }
  // Planes (of consecutive images) per stacked scratch.
  int64_t stack() const {
    return std::clamp<int64_t>(kStackElements / (stacked_rows() * padded_width()), 1, images);
  }
  // The scratch of `count` planes: a border of pad_h zero rows, then each
  // plane's rows followed by pad_h zero rows.
  int64_t scratch_size(int64_t count) const {
    return (pad_h() + count * stacked_rows()) * padded_width();
  }
  // Where plane k's first element lies in the scratch.
  int64_t interior(int64_t k) const {
    return (pad_h() + k * stacked_rows()) * padded_width() + pad_w();
  }
  // Where plane k's first output lies in the stack of outputs (the outputs
  // at the scratch pitch, the first at the scratch's top-left corner).
  int64_t output_start(int64_t k) const { return k * stacked_rows() * padded_width(); }
  // The flat span of the outputs of `count` stacked planes, from the first
  // to the last (the border columns of the last row excluded, so that every
  // tap's reads stay inside the scratch).
  int64_t span(int64_t count) const {
    return ((count - 1) * stacked_rows() + height - 1) * padded_width() + width;
  }
  // Where tap t starts reading in the scratch.
  int64_t tap_start(int64_t t) const {
    return (t / kernel_w) * dilation * padded_width() + (t % kernel_w) * dilation;
  }
  std::vector<int64_t> tap_starts() const {
    std::vector<int64_t> starts(taps());
    for (int64_t t = 0; t < taps(); ++t) {
      starts[t] = tap_start(t);
    }
    return starts;
  }
  // No padding (a 1 x 1 kernel): the scratch plane would be a copy of the plane.
  bool unpadded() const { return pad_h() == 0 && pad_w() == 0; }
};

ConvDims dims_of(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  return {x.size(0),      x.size(1),      weight.size(0), x.size(2), x.size(3),
          weight.size(2), weight.size(3), dilation,       groups};
}

// x itself when each of its images is a contiguous (C, H, W) block (a
// contiguous map, or a channel slice of one), so the kernels read it
// through its image stride without a copy; a contiguous copy otherwise.
Tensor with_contiguous_images(const Tensor& x) {
  const bool planes = (x.size(3) == 1 || x.stride(3) == 1) &&
                      (x.size(2) == 1 || x.stride(2) == x.size(3)) &&
                      (x.size(1) == 1 || x.stride(1) == x.size(2) * x.size(3));
  return planes ? x : x.contiguous();
}

int64_t image_stride(const Tensor& x) {
  return x.size(0) == 1 ? x.size(1) * x.size(2) * x.size(3) : x.stride(0);
}

// dst[q] = src[q] for q < count: the rows copied here are short (8 to 56
// elements), and a loop inlined into the ISA copy of its kernel costs less
// than a call to memmove per row.
template <typename scalar_t>
inline void copy_row(scalar_t* dst, const scalar_t* src, int64_t count) {
#pragma omp simd
  for (int64_t q = 0; q < count; ++q) {
    dst[q] = src[q];
  }
}

// acc[q] += weight * src[q] for q < count.
template <typename scalar_t>
inline void multiply_add(scalar_t* acc, const scalar_t* src, scalar_t weight, int64_t count) {
  for (int64_t q = 0; q < count; ++q) {
    acc[q] += weight * src[q];
  }
}

// acc[q] += sum over taps t of weight[t] * src[q + starts[t]] for q < count:
// the taps of one output summed in registers, in the order of t (the order
// of multiply_add tap by tap), its accumulator read and written once.
template <int64_t kTaps, typename scalar_t>
inline void multiply_add_taps(scalar_t* acc, const scalar_t* src, const scalar_t* weight,
                              const int64_t* starts, int64_t count) {
  for (int64_t q = 0; q < count; ++q) {
    scalar_t sum = acc[q];
    for (int64_t t = 0; t < kTaps; ++t) {
      sum += weight[t] * src[q + starts[t]];
    }
    acc[q] = sum;
  }
}

// sum_q a[q] * b[q] for q < count, in kDotLanes independent partial sums.
template <typename scalar_t>
inline scalar_t dot(const scalar_t* a, const scalar_t* b, int64_t count) {
  scalar_t lanes[kDotLanes] = {};
  int64_t q = 0;
  for (; q + kDotLanes <= count; q += kDotLanes) {
    for (int64_t l = 0; l < kDotLanes; ++l) {
      lanes[l] += a[q + l] * b[q + l];
    }
  }
  for (int64_t l = 0; q + l < count; ++l) {
    lanes[l] += a[q + l] * b[q + l];
  }
  scalar_t sum = 0;
  for (int64_t l = 0; l < kDotLanes; ++l) {
    sum += lanes[l];
  }
  return sum;
}

// sums[t] += dot(a, b + starts[t], count) for every tap t in one pass over
// `a`: each tap's dot in the kDotLanes partial sums and the order of dot().
template <int64_t kTaps, typename scalar_t, typename acc_t>
inline void dot_taps(const scalar_t* a, const scalar_t* b, const int64_t* starts, int64_t count,
                     acc_t* sums) {
  scalar_t lanes[kTaps][kDotLanes] = {};
  int64_t q = 0;
  for (; q + kDotLanes <= count; q += kDotLanes) {
    for (int64_t t = 0; t < kTaps; ++t) {
      for (int64_t l = 0; l < kDotLanes; ++l) {
        lanes[t][l] += a[q + l] * b[q + l + starts[t]];
      }
    }
  }
  for (int64_t t = 0; t < kTaps; ++t) {
    for (int64_t l = 0; q + l < count; ++l) {
      lanes[t][l] += a[q + l] * b[q + l + starts[t]];
    }
    scalar_t sum = 0;
    for (int64_t l = 0; l < kDotLanes; ++l) {
      sum += lanes[t][l];
    }
    sums[t] += static_cast<acc_t>(sum);
  }
}

// Copies the (H, W) planes of channel `channel` of images n0 .. n0 + count - 1
// into the stacked scratch, whose borders (zero) are never written.
template <typename scalar_t>
void fill_stack(scalar_t* scratch, const scalar_t* x, int64_t x_image_stride, int64_t channel,
                int64_t n0, int64_t count, const ConvDims& d) {
  const int64_t pitch = d.padded_width();
  for (int64_t k = 0; k < count; ++k) {
    const scalar_t* plane = x + (n0 + k) * x_image_stride + channel * d.plane();
    scalar_t* interior = scratch + d.interior(k);
    for (int64_t h = 0; h < d.height; ++h) {
      copy_row(interior + h * pitch, plane + h * d.width, d.width);
    }
  }
}

int64_t planes_per_task(int64_t work_per_plane) {
  return std::max<int64_t>(1, kMinTaskWork / std::max<int64_t>(1, work_per_plane));
}

// dst[q] = sum over i < kInputs of weight[i] * src[i * pitch + q] for q < count:
// the inputs of one output summed in registers, in the order of i (the order
// of multiply_add input by input into zeros), the output written once.
template <int64_t kInputs, typename scalar_t>
inline void weighted_planes(scalar_t* dst, const scalar_t* src, int64_t pitch,
                            const scalar_t* weight, int64_t count) {
  for (int64_t q = 0; q < count; ++q) {
    scalar_t sum = 0;
    for (int64_t i = 0; i < kInputs; ++i) {
      sum += weight[i] * src[i * pitch + q];
    }
    dst[q] = sum;
  }
}

// out[n, o] for every image and output channel, planes read in place (1 x 1
// kernels); `weight` is (out_channels, in_per_group, 1, 1) contiguous. The
// 1, 2 and 4 inputs per group of HOGA's gates (their 1 x 1 convolutions of
// the channel pool and of 4-channel groups) write each output once; other
// widths add an input at a time.
template <typename scalar_t>
void convolve_unpadded(const scalar_t* x, int64_t x_image_stride, const scalar_t* weight,
                       scalar_t* out, const ConvDims& d) {
  parallel_for_vectorized(0, d.images * d.out_channels,
                          planes_per_task(d.plane() * d.in_per_group()),
                          [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t n = task / d.out_channels;
      const int64_t o = task % d.out_channels;
      scalar_t* dst = out + task * d.plane();
      const scalar_t* planes =
          x + n * x_image_stride + o / d.out_per_group() * d.in_per_group() * d.plane();
      const scalar_t* w = weight + o * d.in_per_group();
      switch (d.in_per_group()) {
        case 1:
          weighted_planes<1>(dst, planes, d.plane(), w, d.plane());
          break;
        case 2:
          weighted_planes<2>(dst, planes, d.plane(), w, d.plane());
          break;
        case 4:
          weighted_planes<4>(dst, planes, d.plane(), w, d.plane());
          break;
        default:
          std::fill(dst, dst + d.plane(), scalar_t(0));
          for (int64_t i = 0; i < d.in_per_group(); ++i) {
            multiply_add(dst, planes + i * d.plane(), w[i], d.plane());
          }
      }
    }
  });
}

// out[n, o] for every image and output channel, through stacked scratches;
// `weight` is (out_channels, in_per_group, kH, kW) contiguous.
template <typename scalar_t>
void convolve_stacked(const scalar_t* x, int64_t x_image_stride, const scalar_t* weight,
                      scalar_t* out, const ConvDims& d) {
  const int64_t stack = d.stack();
  const int64_t stacks = (d.images + stack - 1) / stack;
  const int64_t work = d.span(stack) * d.in_per_group() * d.taps();
  const std::vector<int64_t> tap_starts = d.tap_starts();
  parallel_for_vectorized(0, d.out_channels * stacks, planes_per_task(work),
                          [&](int64_t first, int64_t last) {
    std::vector<scalar_t> scratch(d.scratch_size(stack), scalar_t(0));
    std::vector<scalar_t> acc(d.span(stack));
    for (int64_t task = first; task < last; ++task) {
      const int64_t o = task / stacks;
      const int64_t n0 = task % stacks * stack;
      const int64_t count = std::min(stack, d.images - n0);
      const int64_t span = d.span(count);
      std::fill(acc.begin(), acc.begin() + span, scalar_t(0));
      for (int64_t i = 0; i < d.in_per_group(); ++i) {
        const int64_t channel = o / d.out_per_group() * d.in_per_group() + i;
        fill_stack(scratch.data(), x, x_image_stride, channel, n0, count, d);
        const scalar_t* w = weight + (o * d.in_per_group() + i) * d.taps();
        if (d.taps() == 9) {
          multiply_add_taps<9>(acc.data(), scratch.data(), w, tap_starts.data(), span);
        } else if (d.kernel_w == 7) {
          // CBAM's 7 x 7 a kernel row at a time: the outputs are read and
          // written once per row rather than once per tap (7 x 7 2 -> 1 of
          // 64 x 2 x 32 x 32: 266 -> 150 us; one loop over all 49 taps was
          // not vectorised and took 10 times longer).
          for (int64_t t = 0; t < d.taps(); t += 7) {
            multiply_add_taps<7>(acc.data(), scratch.data(), w + t, tap_starts.data() + t, span);
          }
        } else {
          for (int64_t t = 0; t < d.taps(); ++t) {
            multiply_add(acc.data(), scratch.data() + tap_starts[t], w[t], span);
          }
        }
      }
      for (int64_t k = 0; k < count; ++k) {
        scalar_t* dst = out + ((n0 + k) * d.out_channels + o) * d.plane();
        for (int64_t h = 0; h < d.height; ++h) {
          const scalar_t* row = acc.data() + d.output_start(k) + h * d.padded_width();
          copy_row(dst + h * d.width, row, d.width);
        }
      }
    }
  });
}

// Images per chunk of the weight gradient: a fixed split of the batch, so
// that the sum does not depend on the number of threads.
struct ImageChunks {
  int64_t per_chunk, count;
};

ImageChunks image_chunks(int64_t images, int64_t wanted) {
  const int64_t per_chunk = (images + std::clamp<int64_t>(wanted, 1, images) - 1) /
                            std::clamp<int64_t>(wanted, 1, images);
  return {per_chunk, (images + per_chunk - 1) / per_chunk};
}

// The weight gradient of a 1 x 1 kernel, gw[o, i] = sum over n of
// dot(g[n, o], x[n, channel(o, i)]): one task per chunk of images, all pairs.
template <typename scalar_t, typename acc_t>
void unpadded_weight_grad(const scalar_t* grad, const scalar_t* x, int64_t x_image_stride,
                          acc_t* partial, const ConvDims& d, const ImageChunks& chunks) {
  const int64_t pairs = d.out_channels * d.in_per_group();
  parallel_for_vectorized(0, chunks.count, 1, [&](int64_t first, int64_t last) {
    for (int64_t chunk = first; chunk < last; ++chunk) {
      acc_t* sums = partial + chunk * pairs;
      std::fill(sums, sums + pairs, acc_t(0));
      const int64_t n_end = std::min(d.images, (chunk + 1) * chunks.per_chunk);
      for (int64_t n = chunk * chunks.per_chunk; n < n_end; ++n) {
        for (int64_t pair = 0; pair < pairs; ++pair) {
          const int64_t o = pair / d.in_per_group();
          const int64_t channel = o / d.out_per_group() * d.in_per_group() + pair % d.in_per_group();
          sums[pair] += static_cast<acc_t>(dot(grad + (n * d.out_channels + o) * d.plane(),
                                               x + n * x_image_stride + channel * d.plane(),
                                               d.plane()));
        }
      }
    }
  });
}

template <typename scalar_t>
void weight_grad(const scalar_t* grad, const scalar_t* x, int64_t x_image_stride,
                 scalar_t* grad_weight, const ConvDims& d) {
  using acc_t = at::acc_type<scalar_t, false>;
  const int64_t pairs = d.out_channels * d.in_per_group();
  const int64_t taps = d.taps();
  const ImageChunks chunks =
      image_chunks(d.images, d.unpadded() ? kWeightChunks : kWeightTasks / pairs);
  std::vector<acc_t> partial(chunks.count * pairs * taps);
  if (d.unpadded()) {
    unpadded_weight_grad(grad, x, x_image_stride, partial.data(), d, chunks);
  } else {
    const int64_t stack = std::min(d.stack(), chunks.per_chunk);
    const int64_t work = chunks.per_chunk * d.plane() * taps;
    const std::vector<int64_t> tap_starts = d.tap_starts();
    parallel_for_vectorized(0, chunks.count * pairs, planes_per_task(work),
                            [&](int64_t first, int64_t last) {
      std::vector<scalar_t> scratch(d.scratch_size(stack), scalar_t(0));
      // The gradient planes at the scratch pitch and stacking, zero in the
      // dropped rows and columns.
      std::vector<scalar_t> grad_rows(d.span(stack), scalar_t(0));
      for (int64_t task = first; task < last; ++task) {
        const int64_t chunk = task / pairs;
        const int64_t pair = task % pairs;
        const int64_t o = pair / d.in_per_group();
        const int64_t channel = o / d.out_per_group() * d.in_per_group() + pair % d.in_per_group();
        acc_t* sums = partial.data() + task * taps;
        std::fill(sums, sums + taps, acc_t(0));
        const int64_t n_end = std::min(d.images, (chunk + 1) * chunks.per_chunk);
        for (int64_t n0 = chunk * chunks.per_chunk; n0 < n_end; n0 += stack) {
          const int64_t count = std::min(stack, n_end - n0);
          fill_stack(scratch.data(), x, x_image_stride, channel, n0, count, d);
          for (int64_t k = 0; k < count; ++k) {
            const scalar_t* g = grad + ((n0 + k) * d.out_channels + o) * d.plane();
            for (int64_t h = 0; h < d.height; ++h) {
              copy_row(grad_rows.data() + d.output_start(k) + h * d.padded_width(), g + h * d.width,
                       d.width);
            }
          }
          if (taps == 9) {
            dot_taps<9>(grad_rows.data(), scratch.data(), tap_starts.data(), d.span(count), sums);
          } else {
            for (int64_t t = 0; t < taps; ++t) {
              sums[t] += static_cast<acc_t>(
                  dot(grad_rows.data(), scratch.data() + tap_starts[t], d.span(count)));
            }
          }
        }
      }
    });
  }
  for (int64_t k = 0; k < pairs * taps; ++k) {
    acc_t sum = 0;
    for (int64_t chunk = 0; chunk < chunks.count; ++chunk) {
      sum += partial[chunk * pairs * taps + k];
    }
    grad_weight[k] = static_cast<scalar_t>(sum);
  }
}

// The (in_channels, out_channels / groups, kH, kW) kernel whose convolution
// of the output gradient is the input gradient: the adjoint of a stride-1,
// size-keeping convolution is the same convolution with the kernel
// transposed within each group and flipped in both axes (tap t becomes tap
// taps - 1 - t), since the padding is symmetric. Written by one loop over
// the few weights, not by tensor operators (a GPU would launch each).
template <typename scalar_t>
void adjoint_weight(const scalar_t* weight, scalar_t* adjoint, int64_t groups,
                    int64_t out_per_group, int64_t in_per_group, int64_t taps) {
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t o = 0; o < out_per_group; ++o) {
      for (int64_t i = 0; i < in_per_group; ++i) {
        const scalar_t* from = weight + ((g * out_per_group + o) * in_per_group + i) * taps;
        scalar_t* to = adjoint + ((g * in_per_group + i) * out_per_group + o) * taps;
        for (int64_t t = 0; t < taps; ++t) {
          to[taps - 1 - t] = from[t];
        }
      }
    }
  }
}

}  // namespace

Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  const Tensor input = with_contiguous_images(x);
  const Tensor w = weight.contiguous();
  const ConvDims d = dims_of(input, w, dilation, groups);
  Tensor out = new_output({d.images, d.out_channels, d.height, d.width}, input.options());
  if (out.numel() == 0) {
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "same_conv2d_cpu", [&] {
    const auto convolve = d.unpadded() ? convolve_unpadded<scalar_t> : convolve_stacked<scalar_t>;
    convolve(input.const_data_ptr<scalar_t>(), image_stride(input), w.const_data_ptr<scalar_t>(),
             out.mutable_data_ptr<scalar_t>(), d);
  });
  return out;
}

namespace {

Tensor input_gradient(const Tensor& grad, const Tensor& weight, int64_t dilation,
                      int64_t groups) {
  const Tensor w = weight.contiguous();
  const int64_t out_per_group = w.size(0) / groups;
  const int64_t in_per_group = w.size(1);
  Tensor adjoint =
      at::empty({groups * in_per_group, out_per_group, w.size(2), w.size(3)}, w.options());
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "same_conv2d_adjoint_weight_cpu", [&] {
    adjoint_weight(w.const_data_ptr<scalar_t>(), adjoint.mutable_data_ptr<scalar_t>(), groups,
                   out_per_group, in_per_group, w.size(2) * w.size(3));
  });
  return same_conv2d(grad, adjoint, dilation, groups);
}

Tensor weight_gradient(const Tensor& grad, const Tensor& x, const Tensor& weight,
                       int64_t dilation, int64_t groups) {
  const Tensor g = grad.contiguous();
  const Tensor input = with_contiguous_images(x);
  const ConvDims d = dims_of(input, weight, dilation, groups);
  Tensor grad_weight = at::empty(weight.sizes(), weight.options());
  if (d.images * d.plane() == 0) {
    return grad_weight.zero_();
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "same_conv2d_backward_weight_cpu", [&] {
    weight_grad(g.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                image_stride(input), grad_weight.mutable_data_ptr<scalar_t>(), d);
  });
  return grad_weight;
}

}  // namespace

std::tuple<Tensor, Tensor> same_conv2d_backward(const Tensor& grad, const Tensor& x,
                                                const Tensor& weight, int64_t dilation,
                                                int64_t groups, std::array<bool, 2> output_mask) {
  return {output_mask[0] ? input_gradient(grad, weight, dilation, groups) : Tensor(),
          output_mask[1] ? weight_gradient(grad, x, weight, dilation, groups) : Tensor()};
}

}  // namespace autola_mm::cpu
