extension Unicode.Scalar {
    /// A C0 or C1 control character or DEL (Unicode category Cc): what no name, header or path
    /// read from input may hold — a NUL cuts it short in C, a CR or LF starts a line of its own.
    public var isControlCharacter: Bool { properties.generalCategory == .control }
}
