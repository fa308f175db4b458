import Foundation
import XCTest

/// The `openssl` command, or nil where it is not installed.
let opensslPath: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
