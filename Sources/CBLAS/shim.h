#ifndef TRACEMARK_CBLAS_SHIM_H
#define TRACEMARK_CBLAS_SHIM_H
// Debian's libopenblas-dev puts cblas.h (with openblas_set_num_threads) under the
// openblas-pthread include directory that pkg-config names.
#include <cblas.h>
#endif
