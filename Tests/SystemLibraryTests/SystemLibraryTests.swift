import CBLAS
import CCurl
import COpenSSL
import CZlib
import XCTest

/// The module maps and shims link and call into the system libraries.
final class SystemLibraryTests: XCTestCase {
    func testOpenBLASMultipliesMatrices() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
    }

    func testCurlShimsSetOptionsOnAnEasyHandle() throws {
        let handle = try XCTUnwrap(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        XCTAssertEqual(tm_curl_easy_setopt_string(handle, CURLOPT_URL, "http://127.0.0.1:9/"), CURLE_OK)
        XCTAssertEqual(tm_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, 500), CURLE_OK)
        var code: Int = -1
        XCTAssertEqual(tm_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code), CURLE_OK)
        XCTAssertEqual(code, 0)
    }

    func testOpenSSLSHA256MatchesTheKnownVector() {
        var digest = [UInt8](repeating: 0, count: 32)
        let message = Array("abc".utf8)
        XCTAssertEqual(EVP_Digest(message, message.count, &digest, nil, EVP_sha256(), nil), 1)
        XCTAssertEqual(digest.map { String(format: "%02x", $0) }.joined(),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testZlibShimInitialisesAGzipInflater() {
        var stream = z_stream()
        XCTAssertEqual(tm_inflate_init2(&stream, 16 + MAX_WBITS), Z_OK)
        XCTAssertEqual(inflateEnd(&stream), Z_OK)
    }
}
