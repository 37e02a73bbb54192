// Registers the attention core of autola_mm ("Auto Learning Attention",
// NeurIPS 2020) with the PyTorch dispatcher: the operator schemas, the CPU
// and CUDA kernels, and the Meta kernels that give torch.compile the output
// shapes. The autograd formulas are registered from Python
// (autola_mm/ops/<op>.py) with torch.library.register_autograd; every
// backward is itself an operator here.
#include <Python.h>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "attention_core.h"

namespace autola_mm::meta {

namespace {

Tensor empty_like_input(const Tensor& t) {
  return at::empty_symint(t.sym_sizes(), t.options());
}

Tensor empty_with_shape(const std::vector<c10::SymInt>& shape, const Tensor& like) {
  return at::empty_symint(shape, like.options());
}

}  // namespace

std::tuple<Tensor, Tensor> channel_stats(const Tensor& x) {
  check_channel_stats(x);
  return {empty_with_shape(channel_stats_shape(x), x),
          empty_with_shape(channel_stats_shape(x), x)};
}

Tensor channel_stats_backward(const Tensor& grad_avg, const Tensor& grad_max, const Tensor& x,
                              const Tensor& max) {
  check_channel_stats_backward(grad_avg, grad_max, x, max);
  return empty_like_input(x);
}

Tensor spatial_stats(const Tensor& x) {
  check_spatial_stats(x);
  return empty_with_shape(spatial_stats_shape(x), x);
}

Tensor spatial_stats_backward(const Tensor& grad, const Tensor& x, const Tensor& stats) {
  check_spatial_stats_backward(grad, x, stats);
  return empty_like_input(x);
}

Tensor sigmoid_gate(const Tensor& x, const Tensor& logits) {
  check_sigmoid_gate(x, logits);
  return empty_like_input(x);
}

std::tuple<Tensor, Tensor> sigmoid_gate_backward(const Tensor& grad, const Tensor& x,
                                                 const Tensor& logits) {
  check_sigmoid_gate_backward(grad, x, logits);
  return {empty_like_input(x), empty_like_input(logits)};
}

Tensor gated_spatial_stats(const Tensor& x, const Tensor& channel_logits) {
  check_gated_spatial_stats(x, channel_logits);
  return empty_with_shape(spatial_stats_shape(x), x);
}

std::tuple<Tensor, Tensor> gated_spatial_stats_backward(const Tensor& grad, const Tensor& x,
                                                        const Tensor& channel_logits,
                                                        const Tensor& stats) {
  check_gated_spatial_stats_backward(grad, x, channel_logits, stats);
  return {empty_like_input(x), empty_like_input(channel_logits)};
}

Tensor channel_spatial_gate(const Tensor& x, const Tensor& channel_logits,
                            const Tensor& spatial_logits) {
  check_channel_spatial_gate(x, channel_logits, spatial_logits);
  return empty_like_input(x);
}

std::tuple<Tensor, Tensor, Tensor> channel_spatial_gate_backward(const Tensor& grad,
                                                                 const Tensor& x,
                                                                 const Tensor& channel_logits,
                                                                 const Tensor& spatial_logits) {
  check_channel_spatial_gate_backward(grad, x, channel_logits, spatial_logits);
  return {empty_like_input(x), empty_like_input(channel_logits), empty_like_input(spatial_logits)};
}

std::tuple<Tensor, Tensor> channel_attention_backward_logits(const Tensor& grad, const Tensor& x,
                                                             const Tensor& logits,
                                                             const Tensor& channel_max) {
  check_channel_attention_backward_logits(grad, x, logits, channel_max);
  return {empty_like_input(logits),
          at::empty_symint(logits.sym_sizes(), logits.options().dtype(at::kInt))};
}

Tensor channel_attention_backward_input(const Tensor& grad, const Tensor& x,
                                        const Tensor& logits, const Tensor& channel_max,
                                        const Tensor& channel_ties, const Tensor& grad_avg,
                                        const Tensor& grad_max) {
  check_channel_attention_backward_input(grad, x, logits, channel_max, channel_ties, grad_avg,
                                         grad_max);
  return empty_like_input(x);
}

std::tuple<Tensor, Tensor> cbam_backward_gate_logits(const Tensor& grad, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& spatial_logits) {
  check_channel_spatial_gate_backward(grad, x, channel_logits, spatial_logits);
  return {empty_like_input(channel_logits), empty_like_input(spatial_logits)};
}

std::tuple<Tensor, Tensor> cbam_backward_pool_logits(const Tensor& grad_pooled, const Tensor& x,
                                                     const Tensor& channel_logits,
                                                     const Tensor& pooled,
                                                     const Tensor& channel_max) {
  check_cbam_backward_pool_logits(grad_pooled, x, channel_logits, pooled, channel_max);
  return {empty_like_input(channel_logits),
          at::empty_symint(channel_logits.sym_sizes(), channel_logits.options().dtype(at::kInt))};
}

Tensor cbam_backward_input(const Tensor& grad, const Tensor& x, const Tensor& channel_logits,
                           const Tensor& spatial_logits, const Tensor& pooled,
                           const Tensor& grad_pooled, const Tensor& channel_max,
                           const Tensor& channel_ties, const Tensor& grad_avg,
                           const Tensor& grad_max) {
  check_cbam_backward_input(grad, x, channel_logits, spatial_logits, pooled, grad_pooled,
                            channel_max, channel_ties, grad_avg, grad_max);
  return empty_like_input(x);
}

Tensor same_conv2d(const Tensor& x, const Tensor& weight, int64_t dilation, int64_t groups) {
  check_same_conv2d(x, weight, dilation, groups);
  return empty_with_shape(same_conv2d_shape(x, weight), x);
}

Tensor same_conv2d_backward_input(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                  int64_t dilation, int64_t groups) {
  check_same_conv2d_backward(grad, x, weight, dilation, groups);
  return empty_like_input(x);
}

Tensor same_conv2d_backward_weight(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                   int64_t dilation, int64_t groups) {
  check_same_conv2d_backward(grad, x, weight, dilation, groups);
  return empty_like_input(weight);
}

Tensor pointwise_conv2d(const Tensor& x, const Tensor& weight) {
  check_pointwise_conv2d(x, weight);
  return at::empty_symint({x.sym_size(0), weight.sym_size(0), x.sym_size(2), x.sym_size(3)},
                          x.options());
}

Tensor pointwise_conv2d_backward_input(const Tensor& grad, const Tensor& x,
                                       const Tensor& weight) {
  check_pointwise_conv2d_backward(grad, x, weight);
  return empty_like_input(x);
}

Tensor pointwise_conv2d_backward_weight(const Tensor& grad, const Tensor& x,
                                        const Tensor& weight) {
  check_pointwise_conv2d_backward(grad, x, weight);
  return empty_like_input(weight);
}

}  // namespace autola_mm::meta

TORCH_LIBRARY(autola_mm, m) {
  const std::vector<at::Tag> tags = {at::Tag::pt2_compliant_tag};
  m.def("channel_stats(Tensor x) -> (Tensor, Tensor)", tags);
  m.def("channel_stats_backward(Tensor grad_avg, Tensor grad_max, Tensor x, Tensor max) -> Tensor",
        tags);
  m.def("spatial_stats(Tensor x) -> Tensor", tags);
  m.def("spatial_stats_backward(Tensor grad, Tensor x, Tensor stats) -> Tensor", tags);
  m.def("sigmoid_gate(Tensor x, Tensor logits) -> Tensor", tags);
  m.def("sigmoid_gate_backward(Tensor grad, Tensor x, Tensor logits) -> (Tensor, Tensor)", tags);
  m.def("gated_spatial_stats(Tensor x, Tensor channel_logits) -> Tensor", tags);
  m.def(
      "gated_spatial_stats_backward(Tensor grad, Tensor x, Tensor channel_logits, Tensor stats) "
      "-> (Tensor, Tensor)",
      tags);
  m.def("channel_spatial_gate(Tensor x, Tensor channel_logits, Tensor spatial_logits) -> Tensor",
        tags);
  m.def(
      "channel_spatial_gate_backward(Tensor grad, Tensor x, Tensor channel_logits, "
      "Tensor spatial_logits) -> (Tensor, Tensor, Tensor)",
      tags);
  // The fused backward of autola_mm.ops.channel_attention (SE), in two steps.
  m.def(
      "channel_attention_backward_logits(Tensor grad, Tensor x, Tensor logits, "
      "Tensor channel_max) -> (Tensor, Tensor)",
      tags);
  m.def(
      "channel_attention_backward_input(Tensor grad, Tensor x, Tensor logits, "
      "Tensor channel_max, Tensor channel_ties, Tensor grad_avg, Tensor grad_max) -> Tensor",
      tags);
  // The fused CBAM backward of autola_mm.ops.cbam_attention, in three steps.
  m.def(
      "cbam_backward_gate_logits(Tensor grad, Tensor x, Tensor channel_logits, "
      "Tensor spatial_logits) -> (Tensor, Tensor)",
      tags);
  m.def(
      "cbam_backward_pool_logits(Tensor grad_pooled, Tensor x, Tensor channel_logits, "
      "Tensor pooled, Tensor channel_max) -> (Tensor, Tensor)",
      tags);
  m.def(
      "cbam_backward_input(Tensor grad, Tensor x, Tensor channel_logits, Tensor spatial_logits, "
      "Tensor pooled, Tensor grad_pooled, Tensor channel_max, Tensor channel_ties, "
      "Tensor grad_avg, Tensor grad_max) -> Tensor",
      tags);
  // The stride-1, size-keeping convolution of HOGA's depthwise and channel-pool convolutions.
  m.def("same_conv2d(Tensor x, Tensor weight, int dilation, int groups) -> Tensor", tags);
  m.def(
      "same_conv2d_backward_input(Tensor grad, Tensor x, Tensor weight, int dilation, "
      "int groups) -> Tensor",
      tags);
  m.def(
      "same_conv2d_backward_weight(Tensor grad, Tensor x, Tensor weight, int dilation, "
      "int groups) -> Tensor",
      tags);
  // The 1 x 1 convolution of HOGA's projection and pointwise convolutions.
  m.def("pointwise_conv2d(Tensor x, Tensor weight) -> Tensor", tags);
  m.def("pointwise_conv2d_backward_input(Tensor grad, Tensor x, Tensor weight) -> Tensor", tags);
  m.def("pointwise_conv2d_backward_weight(Tensor grad, Tensor x, Tensor weight) -> Tensor", tags);
}

#define AUTOLA_MM_IMPLEMENT_ALL(m, backend)                                              \
  m.impl("channel_stats", &autola_mm::backend::channel_stats);                           \
  m.impl("channel_stats_backward", &autola_mm::backend::channel_stats_backward);         \
  m.impl("spatial_stats", &autola_mm::backend::spatial_stats);                           \
  m.impl("spatial_stats_backward", &autola_mm::backend::spatial_stats_backward);         \
  m.impl("sigmoid_gate", &autola_mm::backend::sigmoid_gate);                             \
  m.impl("sigmoid_gate_backward", &autola_mm::backend::sigmoid_gate_backward);           \
  m.impl("gated_spatial_stats", &autola_mm::backend::gated_spatial_stats);               \
  m.impl("gated_spatial_stats_backward", &autola_mm::backend::gated_spatial_stats_backward); \
  m.impl("channel_spatial_gate", &autola_mm::backend::channel_spatial_gate);             \
  m.impl("channel_spatial_gate_backward", &autola_mm::backend::channel_spatial_gate_backward); \
  m.impl("channel_attention_backward_logits",                                           \
         &autola_mm::backend::channel_attention_backward_logits);                         \
  m.impl("channel_attention_backward_input",                                            \
         &autola_mm::backend::channel_attention_backward_input);                          \
  m.impl("cbam_backward_gate_logits", &autola_mm::backend::cbam_backward_gate_logits);   \
  m.impl("cbam_backward_pool_logits", &autola_mm::backend::cbam_backward_pool_logits);   \
  m.impl("cbam_backward_input", &autola_mm::backend::cbam_backward_input);               \
  m.impl("same_conv2d", &autola_mm::backend::same_conv2d);                               \
  m.impl("same_conv2d_backward_input", &autola_mm::backend::same_conv2d_backward_input); \
  m.impl("same_conv2d_backward_weight", &autola_mm::backend::same_conv2d_backward_weight)

#define AUTOLA_MM_IMPLEMENT_POINTWISE(m, backend)                                         \
  m.impl("pointwise_conv2d", &autola_mm::backend::pointwise_conv2d);                     \
  m.impl("pointwise_conv2d_backward_input",                                              \
         &autola_mm::backend::pointwise_conv2d_backward_input);                          \
  m.impl("pointwise_conv2d_backward_weight", &autola_mm::backend::pointwise_conv2d_backward_weight)

TORCH_LIBRARY_IMPL(autola_mm, CPU, m) {
  AUTOLA_MM_IMPLEMENT_ALL(m, cpu);
  AUTOLA_MM_IMPLEMENT_POINTWISE(m, gemm);
}

TORCH_LIBRARY_IMPL(autola_mm, Meta, m) {
  AUTOLA_MM_IMPLEMENT_ALL(m, meta);
  AUTOLA_MM_IMPLEMENT_POINTWISE(m, meta);
}

#ifdef AUTOLA_MM_WITH_CUDA
TORCH_LIBRARY_IMPL(autola_mm, CUDA, m) {
  AUTOLA_MM_IMPLEMENT_ALL(m, cuda);
  AUTOLA_MM_IMPLEMENT_POINTWISE(m, gemm);
}
#endif

// The extension is imported as the Python module autola_mm.ops._ext; importing
// it runs the registrations above. Its only attribute, with_cuda, says whether
// CUDA kernels were built; the operators are reached through torch.ops.autola_mm.
extern "C" PyObject* PyInit__ext(void) {
  static PyModuleDef definition = {PyModuleDef_HEAD_INIT, "_ext", nullptr, -1, nullptr};
  PyObject* module = PyModule_Create(&definition);
#ifdef AUTOLA_MM_WITH_CUDA
  const long with_cuda = 1;
#else
  const long with_cuda = 0;
#endif
  if (module != nullptr && PyModule_AddIntConstant(module, "with_cuda", with_cuda) != 0) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
