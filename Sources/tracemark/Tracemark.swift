import ArgumentParser

struct Tracemark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracemark",
        abstract: "Ownership verification for machine-learning models: embed, register, probe, decide, report.",
        discussion: """
        Trains and evaluates classifiers on a CPU engine over OpenBLAS. Data sets: fashion-mnist \
        (Debian's dataset-fashion-mnist), mnist-5k (shared/data beside the repository), cifar10 \
        (binary batches, TRACEMARK_CIFAR10_DIR).
        """,
        version: TracemarkVersion.current,
        subcommands: [Demo.self, Train.self, Eval.self, Embed.self, FilterTriggers.self, WatermarkEval.self, Attack.self, Keys.self, Register.self, VaultCommand.self, Calibrate.self, FingerprintCommand.self, Serve.self, ProbeCommand.self, Report.self, ServiceCommand.self, EngineInfo.self]
    )
}

enum TracemarkVersion {
    static let current = "0.1.0"
}
