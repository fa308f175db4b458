// oneDNN, opened at run time. Every oneDNN function the engine calls is defined here with
// oneDNN's own prototype and forwards to the library's, so tracemark does not link libdnnl: where
// it is missing (or TRACEMARK_DNNL_LIBRARY names a file that is not there) each call answers
// dnnl_runtime_error, the engine's oneDNN runtime does not start, and the engine's own kernels
// run. omp_set_num_threads comes from libgomp, which libdnnl loads.
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>

static void *library;
static pthread_once_t opened = PTHREAD_ONCE_INIT;

static void open_library(void) {
    const char *path = getenv("TRACEMARK_DNNL_LIBRARY");
    library = dlopen(path && *path ? path : "libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);
}

static void *symbol(const char *name) {
    pthread_once(&opened, open_library);
    return library ? dlsym(library, name) : NULL;
}

// Defines `name` with oneDNN's prototype: the library's function when it opened, else `missing`.
#define FORWARD(type, name, missing, parameters, arguments) \
    type name parameters { \
        static type (*function) parameters; \
        if (!function) function = (type (*) parameters)symbol(#name); \
        return function ? function arguments : missing; \
    }

FORWARD(dnnl_status_t, dnnl_engine_create, dnnl_runtime_error,
        (dnnl_engine_t *engine, dnnl_engine_kind_t kind, size_t index), (engine, kind, index))
FORWARD(dnnl_status_t, dnnl_stream_create, dnnl_runtime_error,
        (dnnl_stream_t *stream, dnnl_engine_t engine, unsigned flags), (stream, engine, flags))
FORWARD(dnnl_status_t, dnnl_stream_destroy, dnnl_runtime_error, (dnnl_stream_t stream), (stream))
FORWARD(dnnl_status_t, dnnl_stream_wait, dnnl_runtime_error, (dnnl_stream_t stream), (stream))
FORWARD(const dnnl_version_t *, dnnl_version, NULL, (void), ())
FORWARD(dnnl_cpu_isa_t, dnnl_get_effective_cpu_isa, dnnl_cpu_isa_all, (void), ())

FORWARD(dnnl_status_t, dnnl_memory_desc_init_by_tag, dnnl_runtime_error,
        (dnnl_memory_desc_t *memory_desc, int ndims, const dnnl_dims_t dims, dnnl_data_type_t data_type, dnnl_format_tag_t tag),
        (memory_desc, ndims, dims, data_type, tag))
FORWARD(int, dnnl_memory_desc_equal, 0, (const dnnl_memory_desc_t *lhs, const dnnl_memory_desc_t *rhs), (lhs, rhs))
FORWARD(size_t, dnnl_memory_desc_get_size, 0, (const dnnl_memory_desc_t *memory_desc), (memory_desc))
FORWARD(dnnl_status_t, dnnl_memory_create, dnnl_runtime_error,
        (dnnl_memory_t *memory, const dnnl_memory_desc_t *memory_desc, dnnl_engine_t engine, void *handle),
        (memory, memory_desc, engine, handle))
FORWARD(dnnl_status_t, dnnl_memory_destroy, dnnl_runtime_error, (dnnl_memory_t memory), (memory))
FORWARD(dnnl_status_t, dnnl_memory_get_data_handle, dnnl_runtime_error, (const_dnnl_memory_t memory, void **handle), (memory, handle))
FORWARD(dnnl_status_t, dnnl_memory_set_data_handle, dnnl_runtime_error, (dnnl_memory_t memory, void *handle), (memory, handle))

FORWARD(dnnl_status_t, dnnl_primitive_desc_create, dnnl_runtime_error,
        (dnnl_primitive_desc_t *primitive_desc, const_dnnl_op_desc_t op_desc, const_dnnl_primitive_attr_t attr, dnnl_engine_t engine,
         const_dnnl_primitive_desc_t hint_forward_primitive_desc),
        (primitive_desc, op_desc, attr, engine, hint_forward_primitive_desc))
FORWARD(dnnl_status_t, dnnl_reorder_primitive_desc_create, dnnl_runtime_error,
        (dnnl_primitive_desc_t *reorder_primitive_desc, const dnnl_memory_desc_t *src_desc, dnnl_engine_t src_engine,
         const dnnl_memory_desc_t *dst_desc, dnnl_engine_t dst_engine, const_dnnl_primitive_attr_t attr),
        (reorder_primitive_desc, src_desc, src_engine, dst_desc, dst_engine, attr))
FORWARD(dnnl_status_t, dnnl_primitive_desc_destroy, dnnl_runtime_error, (dnnl_primitive_desc_t primitive_desc), (primitive_desc))
FORWARD(dnnl_status_t, dnnl_primitive_desc_query, dnnl_runtime_error,
        (const_dnnl_primitive_desc_t primitive_desc, dnnl_query_t what, int index, void *result), (primitive_desc, what, index, result))
FORWARD(const dnnl_memory_desc_t *, dnnl_primitive_desc_query_md, NULL,
        (const_dnnl_primitive_desc_t primitive_desc, dnnl_query_t what, int index), (primitive_desc, what, index))
FORWARD(dnnl_status_t, dnnl_primitive_create, dnnl_runtime_error,
        (dnnl_primitive_t *primitive, const_dnnl_primitive_desc_t primitive_desc), (primitive, primitive_desc))
FORWARD(dnnl_status_t, dnnl_primitive_destroy, dnnl_runtime_error, (dnnl_primitive_t primitive), (primitive))
FORWARD(dnnl_status_t, dnnl_primitive_execute, dnnl_runtime_error,
        (const_dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs, const dnnl_exec_arg_t *args), (primitive, stream, nargs, args))

FORWARD(dnnl_status_t, dnnl_convolution_forward_desc_init, dnnl_runtime_error,
        (dnnl_convolution_desc_t *conv_desc, dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind, const dnnl_memory_desc_t *src_desc,
         const dnnl_memory_desc_t *weights_desc, const dnnl_memory_desc_t *bias_desc, const dnnl_memory_desc_t *dst_desc,
         const dnnl_dims_t strides, const dnnl_dims_t padding_l, const dnnl_dims_t padding_r),
        (conv_desc, prop_kind, alg_kind, src_desc, weights_desc, bias_desc, dst_desc, strides, padding_l, padding_r))
FORWARD(dnnl_status_t, dnnl_convolution_backward_data_desc_init, dnnl_runtime_error,
        (dnnl_convolution_desc_t *conv_desc, dnnl_alg_kind_t alg_kind, const dnnl_memory_desc_t *diff_src_desc,
         const dnnl_memory_desc_t *weights_desc, const dnnl_memory_desc_t *diff_dst_desc, const dnnl_dims_t strides,
         const dnnl_dims_t padding_l, const dnnl_dims_t padding_r),
        (conv_desc, alg_kind, diff_src_desc, weights_desc, diff_dst_desc, strides, padding_l, padding_r))
FORWARD(dnnl_status_t, dnnl_convolution_backward_weights_desc_init, dnnl_runtime_error,
        (dnnl_convolution_desc_t *conv_desc, dnnl_alg_kind_t alg_kind, const dnnl_memory_desc_t *src_desc,
         const dnnl_memory_desc_t *diff_weights_desc, const dnnl_memory_desc_t *diff_bias_desc, const dnnl_memory_desc_t *diff_dst_desc,
         const dnnl_dims_t strides, const dnnl_dims_t padding_l, const dnnl_dims_t padding_r),
        (conv_desc, alg_kind, src_desc, diff_weights_desc, diff_bias_desc, diff_dst_desc, strides, padding_l, padding_r))
FORWARD(dnnl_status_t, dnnl_batch_normalization_forward_desc_init, dnnl_runtime_error,
        (dnnl_batch_normalization_desc_t *bnrm_desc, dnnl_prop_kind_t prop_kind, const dnnl_memory_desc_t *data_desc, float epsilon,
         unsigned flags),
        (bnrm_desc, prop_kind, data_desc, epsilon, flags))
FORWARD(dnnl_status_t, dnnl_batch_normalization_backward_desc_init, dnnl_runtime_error,
        (dnnl_batch_normalization_desc_t *bnrm_desc, dnnl_prop_kind_t prop_kind, const dnnl_memory_desc_t *diff_data_desc,
         const dnnl_memory_desc_t *data_desc, float epsilon, unsigned flags),
        (bnrm_desc, prop_kind, diff_data_desc, data_desc, epsilon, flags))
FORWARD(dnnl_status_t, dnnl_pooling_v2_forward_desc_init, dnnl_runtime_error,
        (dnnl_pooling_v2_desc_t *pool_desc, dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind, const dnnl_memory_desc_t *src_desc,
         const dnnl_memory_desc_t *dst_desc, const dnnl_dims_t strides, const dnnl_dims_t kernel, const dnnl_dims_t dilation,
         const dnnl_dims_t padding_l, const dnnl_dims_t padding_r),
        (pool_desc, prop_kind, alg_kind, src_desc, dst_desc, strides, kernel, dilation, padding_l, padding_r))
FORWARD(dnnl_status_t, dnnl_pooling_v2_backward_desc_init, dnnl_runtime_error,
        (dnnl_pooling_v2_desc_t *pool_desc, dnnl_alg_kind_t alg_kind, const dnnl_memory_desc_t *diff_src_desc,
         const dnnl_memory_desc_t *diff_dst_desc, const dnnl_dims_t strides, const dnnl_dims_t kernel, const dnnl_dims_t dilation,
         const dnnl_dims_t padding_l, const dnnl_dims_t padding_r),
        (pool_desc, alg_kind, diff_src_desc, diff_dst_desc, strides, kernel, dilation, padding_l, padding_r))

// OpenMP keeps its thread count per calling thread; without libdnnl there is no OpenMP to tell.
void omp_set_num_threads(int count) {
    static void (*function)(int);
    if (!function) function = (void (*)(int))symbol("omp_set_num_threads");
    if (function) function(count);
}
