#ifndef TRACEMARK_CCURL_SHIM_H
#define TRACEMARK_CCURL_SHIM_H
#include <curl/curl.h>
#include <netinet/in.h>
#include <string.h>

// curl_easy_setopt and curl_easy_getinfo are C variadic functions, which Swift cannot call.
// One typed wrapper per argument type the options take.
static inline CURLcode tm_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tm_curl_easy_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tm_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tm_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode tm_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*tm_curl_data_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode tm_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, tm_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
typedef curl_socket_t (*tm_curl_opensocket_callback)(void *context, curlsocktype purpose, struct curl_sockaddr *address);
static inline CURLcode tm_curl_easy_setopt_opensocket_callback(CURL *handle, tm_curl_opensocket_callback value) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, value);
}
// The IP address libcurl is about to connect to, copied into `bytes`: returns 4 (IPv4), 16 (IPv6),
// or 0 for any other family. `address->addr` is declared as a 16-byte sockaddr but libcurl stores
// a whole sockaddr_in6 there, so it is read through the family's own type, here and not in Swift.
static inline int tm_curl_sockaddr_ip(const struct curl_sockaddr *address, unsigned char bytes[16]) {
    if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
        memcpy(bytes, &((const struct sockaddr_in *)&address->addr)->sin_addr, 4);
        return 4;
    }
    if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
        memcpy(bytes, &((const struct sockaddr_in6 *)&address->addr)->sin6_addr, 16);
        return 16;
    }
    return 0;
}
typedef int (*tm_curl_xferinfo_callback)(void *context, curl_off_t download_total, curl_off_t downloaded,
                                         curl_off_t upload_total, curl_off_t uploaded);
static inline CURLcode tm_curl_easy_setopt_xferinfo_callback(CURL *handle, tm_curl_xferinfo_callback value) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, value);
}
static inline CURLcode tm_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode tm_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode tm_curl_easy_getinfo_offset(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLMcode tm_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}
#endif
