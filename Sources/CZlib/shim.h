#ifndef TRACEMARK_CZLIB_SHIM_H
#define TRACEMARK_CZLIB_SHIM_H
#include <zlib.h>

// inflateInit2 is a macro (it passes the library version and struct size); Swift needs a function.
static inline int tm_inflate_init2(z_streamp stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}
#endif
