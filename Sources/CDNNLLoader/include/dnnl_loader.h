#ifndef TRACEMARK_DNNL_LOADER_H
#define TRACEMARK_DNNL_LOADER_H
// The oneDNN functions the engine calls are defined in loader.c, which opens libdnnl when the
// first one is called: a machine without it runs on the engine's own kernels instead of failing
// to start. This header only names the module; the functions' prototypes are oneDNN's own.
#endif
