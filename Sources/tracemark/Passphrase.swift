import Foundation
import Vault

/// The owner's passphrase: from `TRACEMARK_PASSPHRASE`, else asked on the terminal with echo
/// off. It unlocks the private key and the vault's sealed records. Never printed or logged.
enum Passphrase {
    static let environmentVariable = "TRACEMARK_PASSPHRASE"

    static func read(prompt: String, confirm: Bool = false) throws -> String {
        if let value = ProcessInfo.processInfo.environment[environmentVariable] {
            guard !value.isEmpty else { throw CommandFailure("\(environmentVariable) is set but empty") }
            return value
        }
        let first = try ask(prompt)
        guard !first.isEmpty else { throw CommandFailure("an empty passphrase is not allowed") }
        if confirm, try ask("Repeat the passphrase: ") != first { throw CommandFailure("the passphrases differ") }
        return first
    }

    /// How records are unlocked: a key file when given, else the passphrase.
    static func unlocking(keyFile: String?) throws -> Unlocking {
        guard let keyFile else { return .passphrase(try read(prompt: "Vault passphrase: ")) }
        guard let contents = FileManager.default.contents(atPath: keyFile) else { throw CommandFailure("cannot read key file \(keyFile)") }
        return .keyFile(contents)
    }

    private static func ask(_ prompt: String) throws -> String {
        let terminal = open("/dev/tty", O_RDWR)
        guard terminal >= 0 else {
            throw CommandFailure("no passphrase: set \(environmentVariable) or run on a terminal")
        }
        defer { close(terminal) }
        _ = prompt.withCString { write(terminal, $0, strlen($0)) }
        var saved = termios(), silent = termios()
        tcgetattr(terminal, &saved)
        silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(terminal, TCSAFLUSH, &silent)
        defer {
            tcsetattr(terminal, TCSAFLUSH, &saved)
            _ = write(terminal, "\n", 1)
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while Foundation.read(terminal, &byte, 1) == 1, byte != 10, byte != 13 { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
