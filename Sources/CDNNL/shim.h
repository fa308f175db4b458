#ifndef TRACEMARK_CDNNL_SHIM_H
#define TRACEMARK_CDNNL_SHIM_H
// oneDNN 2.6 from Debian's libdnnl-dev (no pkg-config file; the header is in /usr/include).
// Nothing links libdnnl: the CDNNLLoader target defines the functions used and opens the library
// at run time, so a machine without it runs on the engine's own kernels. Its CPU runtime is
// OpenMP (libgomp), whose thread count is set per calling thread.
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int count);

// dnnl_dims_t is a C array Swift imports as a 12-tuple: these take the few sizes the engine uses.

static inline dnnl_status_t tm_dnnl_memory_desc_4d(dnnl_memory_desc_t *desc, int64_t n, int64_t c, int64_t h, int64_t w,
                                                  dnnl_data_type_t type, dnnl_format_tag_t tag) {
    dnnl_dims_t dims = {n, c, h, w};
    return dnnl_memory_desc_init_by_tag(desc, 4, dims, type, tag);
}

static inline dnnl_status_t tm_dnnl_memory_desc_1d(dnnl_memory_desc_t *desc, int64_t n, dnnl_data_type_t type) {
    dnnl_dims_t dims = {n};
    return dnnl_memory_desc_init_by_tag(desc, 1, dims, type, dnnl_a);
}

static inline dnnl_status_t tm_dnnl_convolution_forward(dnnl_convolution_desc_t *desc, const dnnl_memory_desc_t *src,
                                                        const dnnl_memory_desc_t *weights, const dnnl_memory_desc_t *bias,
                                                        const dnnl_memory_desc_t *dst, int64_t stride, int64_t padding) {
    dnnl_dims_t strides = {stride, stride}, pad = {padding, padding};
    return dnnl_convolution_forward_desc_init(desc, dnnl_forward_training, dnnl_convolution_direct, src, weights, bias, dst,
                                              strides, pad, pad);
}

static inline dnnl_status_t tm_dnnl_convolution_backward_data(dnnl_convolution_desc_t *desc, const dnnl_memory_desc_t *diff_src,
                                                              const dnnl_memory_desc_t *weights, const dnnl_memory_desc_t *diff_dst,
                                                              int64_t stride, int64_t padding) {
    dnnl_dims_t strides = {stride, stride}, pad = {padding, padding};
    return dnnl_convolution_backward_data_desc_init(desc, dnnl_convolution_direct, diff_src, weights, diff_dst, strides, pad, pad);
}

static inline dnnl_status_t tm_dnnl_convolution_backward_weights(dnnl_convolution_desc_t *desc, const dnnl_memory_desc_t *src,
                                                                 const dnnl_memory_desc_t *diff_weights,
                                                                 const dnnl_memory_desc_t *diff_bias,
                                                                 const dnnl_memory_desc_t *diff_dst, int64_t stride, int64_t padding) {
    dnnl_dims_t strides = {stride, stride}, pad = {padding, padding};
    return dnnl_convolution_backward_weights_desc_init(desc, dnnl_convolution_direct, src, diff_weights, diff_bias, diff_dst,
                                                       strides, pad, pad);
}

static inline dnnl_status_t tm_dnnl_max_pooling_forward(dnnl_pooling_v2_desc_t *desc, const dnnl_memory_desc_t *src,
                                                        const dnnl_memory_desc_t *dst, int64_t kernel, int64_t stride,
                                                        int64_t padding_bottom, int64_t padding_right) {
    dnnl_dims_t strides = {stride, stride}, kernels = {kernel, kernel}, dilation = {0, 0}, left = {0, 0};
    dnnl_dims_t right = {padding_bottom, padding_right};
    return dnnl_pooling_v2_forward_desc_init(desc, dnnl_forward_training, dnnl_pooling_max, src, dst, strides, kernels, dilation,
                                             left, right);
}

static inline dnnl_status_t tm_dnnl_max_pooling_backward(dnnl_pooling_v2_desc_t *desc, const dnnl_memory_desc_t *diff_src,
                                                         const dnnl_memory_desc_t *diff_dst, int64_t kernel, int64_t stride,
                                                         int64_t padding_bottom, int64_t padding_right) {
    dnnl_dims_t strides = {stride, stride}, kernels = {kernel, kernel}, dilation = {0, 0}, left = {0, 0};
    dnnl_dims_t right = {padding_bottom, padding_right};
    return dnnl_pooling_v2_backward_desc_init(desc, dnnl_pooling_max, diff_src, diff_dst, strides, kernels, dilation, left, right);
}

#endif
