#ifndef TRACEMARK_COPENSSL_SHIM_H
#define TRACEMARK_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/kdf.h>

// EVP_MD_CTX_create / destroy and a few size queries are macros in OpenSSL 3.
static inline EVP_MD_CTX *tm_evp_md_ctx_new(void) { return EVP_MD_CTX_new(); }
static inline void tm_evp_md_ctx_free(EVP_MD_CTX *context) { EVP_MD_CTX_free(context); }
static inline int tm_evp_md_size(const EVP_MD *digest) { return EVP_MD_get_size(digest); }
#endif
