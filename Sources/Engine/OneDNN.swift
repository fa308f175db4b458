import CDNNL
import Foundation

/// oneDNN, the library PyTorch's CPU convolutions run on. Its JIT kernels are chosen when the
/// program runs (AVX2, AVX-512, AVX-512 BF16, AMX), so one binary is fast on every machine here.
/// The engine hands it whole batches (its OpenMP threads split them; `Parallel` is idle meanwhile)
/// in the blocked layouts it prefers, reordering the engine's NCHW tensors in and out.
public enum OneDNN {
    /// The CPU engine every primitive is built for; nil when oneDNN does not start.
    static let runtime: Runtime? = Runtime()

    final class Runtime: @unchecked Sendable {
        let engine: dnnl_engine_t

        init?() {
            var engine: dnnl_engine_t?
            guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine else { return nil }
            self.engine = engine
        }
    }

    public static var isAvailable: Bool { runtime != nil }

    public static var version: String {
        guard let v = dnnl_version()?.pointee else { return "unknown" }
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN's kernels use on this CPU.
    public static var instructionSet: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "SSE4.1"
        case dnnl_cpu_isa_avx: return "AVX"
        case dnnl_cpu_isa_avx2: return "AVX2"
        case dnnl_cpu_isa_avx512_core: return "AVX-512"
        case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 VNNI"
        case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 BF16"
        case dnnl_cpu_isa_avx512_core_amx: return "AMX"
        default: return "other"
        }
    }
}

/// Which library runs convolutions, batch norm and max pooling: oneDNN, or the engine's own
/// kernels over OpenBLAS (the fallback, and the reference the gradient checks compare against).
/// A layer decides once, when it is built, so one implementation serves it for its whole life.
public enum KernelLibrary: String, CaseIterable, Sendable {
    case oneDNN = "onednn"
    case openBLAS = "openblas"

    /// oneDNN when it starts, unless `TRACEMARK_KERNELS=openblas` asks for the fallback.
    public static var selected: KernelLibrary = {
        if let asked = ProcessInfo.processInfo.environment["TRACEMARK_KERNELS"], let library = KernelLibrary(rawValue: asked) {
            return library == .oneDNN && !OneDNN.isAvailable ? .openBLAS : library
        }
        return OneDNN.isAvailable ? .oneDNN : .openBLAS
    }()
}

/// The arithmetic of the convolutions on oneDNN. BF16 is mixed precision: a convolution's
/// inputs, weights and output gradients are rounded to bfloat16 for its products, which oneDNN
/// accumulates in FP32 (AVX-512 BF16 or AMX instructions do twice the FP32 rate); outputs,
/// gradients, the master weights, batch norm and everything else stay FP32.
public enum Precision: String, CaseIterable, Sendable {
    case fp32, bf16

    public static var selected: Precision = .fp32

    /// Whether this CPU has the BF16 instructions (AVX-512 BF16 or AMX); without them oneDNN
    /// would run BF16 in slow reference code.
    public static var bf16IsNative: Bool {
        guard OneDNN.isAvailable else { return false }
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & bf16 == bf16
    }
}

/// A oneDNN memory layout a tensor's data is in (for example nChw16c: channels in blocks of 16,
/// padded with zeros). Consecutive layers on oneDNN pass activations and gradients this way
/// instead of reordering to NCHW and back between every pair.
final class OneDNNLayout {
    let descriptor: dnnl_memory_desc_t
    /// Floats the layout occupies, padding included (at least the tensor's element count).
    let storageCount: Int

    init(_ descriptor: dnnl_memory_desc_t) {
        var copy = descriptor
        self.descriptor = descriptor
        storageCount = dnnl_memory_desc_get_size(&copy) / MemoryLayout<Float>.size
    }
}

/// The descriptor of a tensor as it is: its oneDNN layout, or NCHW.
func descriptor(of tensor: Tensor) -> dnnl_memory_desc_t {
    tensor.layout?.descriptor ?? plainDescriptor(tensor.shape)
}

func plainDescriptor(_ shape: [Int]) -> dnnl_memory_desc_t { activationDescriptor(shape, dnnl_nchw, dnnl_f32) }

/// "Whichever layout the primitive prefers", in FP32 or another type.
func anyDescriptor(_ shape: [Int], type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    activationDescriptor(shape, dnnl_format_tag_any, type)
}

/// A (B, C, H, W) descriptor. The layers' own shapes are valid by construction, so a refusal
/// here is a programming error.
private func activationDescriptor(_ shape: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t) -> dnnl_memory_desc_t {
    precondition(shape.count == 4, "oneDNN layers take (B, C, H, W) tensors, got \(shape)")
    var descriptor = dnnl_memory_desc_t()
    let status = tm_dnnl_memory_desc_4d(&descriptor, Int64(shape[0]), Int64(shape[1]), Int64(shape[2]), Int64(shape[3]), type, tag)
    precondition(status == dnnl_success, "oneDNN refused the descriptor of \(shape)")
    return descriptor
}

/// The layout an output leaves in: the one it was computed in when the next layer takes oneDNN
/// layouts (nil when that is NCHW anyway), else NCHW.
func leavingLayout(_ computed: dnnl_memory_desc_t, shape: [Int], keeps: Bool) -> OneDNNLayout? {
    keeps && !sameLayout(computed, plainDescriptor(shape)) ? OneDNNLayout(computed) : nil
}

func sameLayout(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var a = a, b = b
    return dnnl_memory_desc_equal(&a, &b) != 0
}

struct OneDNNError: Error, CustomStringConvertible {
    let status: dnnl_status_t
    let call: String
    var description: String { "oneDNN \(call) failed with status \(status.rawValue)" }
}

@inline(__always) func dnnlCheck(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
    guard status == dnnl_success else { throw OneDNNError(status: status, call: call()) }
}

/// A memory descriptor built by one of the shim's initialisers.
func memoryDescriptor(_ initialise: (UnsafeMutablePointer<dnnl_memory_desc_t>) -> dnnl_status_t) throws -> dnnl_memory_desc_t {
    var descriptor = dnnl_memory_desc_t()
    try dnnlCheck(initialise(&descriptor), "memory descriptor")
    return descriptor
}

/// One oneDNN memory object. A borrowed one has no buffer of its own: it is pointed at an
/// engine tensor before each use. An owned one holds a buffer in a layout oneDNN chose.
final class DNNLMemory {
    let handle: dnnl_memory_t
    var descriptor: dnnl_memory_desc_t

    init(_ descriptor: dnnl_memory_desc_t, owned: Bool) throws {
        guard let runtime = OneDNN.runtime else { throw OneDNNError(status: dnnl_runtime_error, call: "engine") }
        var descriptor = descriptor
        var handle: dnnl_memory_t?
        // DNNL_MEMORY_ALLOCATE is ((void *)(size_t)-1), a macro Swift cannot import.
        let buffer = owned ? UnsafeMutableRawPointer(bitPattern: UInt.max) : nil
        try dnnlCheck(dnnl_memory_create(&handle, &descriptor, runtime.engine, buffer), "memory_create")
        self.handle = handle!
        self.descriptor = descriptor
    }

    deinit { dnnl_memory_destroy(handle) }

    func point(at data: UnsafeMutablePointer<Float>) {
        let status = dnnl_memory_set_data_handle(handle, data)
        precondition(status == dnnl_success, "oneDNN memory_set_data_handle failed with status \(status.rawValue)")
    }

    var data: UnsafeMutablePointer<Float> {
        var pointer: UnsafeMutableRawPointer?
        let status = dnnl_memory_get_data_handle(handle, &pointer)
        precondition(status == dnnl_success && pointer != nil, "oneDNN memory_get_data_handle failed")
        return pointer!.assumingMemoryBound(to: Float.self)
    }

    func hasLayout(of other: dnnl_memory_desc_t) -> Bool {
        var mine = descriptor, theirs = other
        return dnnl_memory_desc_equal(&mine, &theirs) != 0
    }
}

/// A primitive and the descriptor it was made from (which answers the layouts it wants).
final class DNNLPrimitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    /// Its own stream: a stream must not be used from two threads at once, and layers of
    /// different networks (the service's concurrent jobs) run on different threads.
    private let stream: dnnl_stream_t

    /// From an operation descriptor (`dnnl_convolution_desc_t` and the like); backward primitives
    /// name their forward one as the hint oneDNN requires.
    convenience init<Operation>(_ operation: inout Operation, hint: DNNLPrimitive? = nil) throws {
        guard let runtime = OneDNN.runtime else { throw OneDNNError(status: dnnl_runtime_error, call: "engine") }
        var descriptor: dnnl_primitive_desc_t?
        try dnnlCheck(withUnsafePointer(to: &operation) {
            dnnl_primitive_desc_create(&descriptor, UnsafeRawPointer($0), nil, runtime.engine, hint?.descriptor)
        }, "primitive_desc_create")
        try self.init(descriptor: descriptor!)
    }

    /// A reorder from one layout to another.
    convenience init(reorderFrom source: DNNLMemory, to destination: DNNLMemory) throws {
        guard let runtime = OneDNN.runtime else { throw OneDNNError(status: dnnl_runtime_error, call: "engine") }
        var descriptor: dnnl_primitive_desc_t?
        var from = source.descriptor, to = destination.descriptor
        try dnnlCheck(dnnl_reorder_primitive_desc_create(&descriptor, &from, runtime.engine, &to, runtime.engine, nil),
                      "reorder_primitive_desc_create")
        try self.init(descriptor: descriptor!)
    }

    private init(descriptor: dnnl_primitive_desc_t) throws {
        var primitive: dnnl_primitive_t?, stream: dnnl_stream_t?
        var status = dnnl_primitive_create(&primitive, descriptor)
        if status == dnnl_success, let engine = OneDNN.runtime?.engine {
            status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue)
        }
        guard status == dnnl_success, let primitive, let stream else {
            if let primitive { dnnl_primitive_destroy(primitive) }
            dnnl_primitive_desc_destroy(descriptor)
            throw OneDNNError(status: status, call: "primitive_create")
        }
        self.descriptor = descriptor
        self.primitive = primitive
        self.stream = stream
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// The layout the primitive wants for one of its arguments (`dnnl_query_src_md` and so on).
    func layout(_ query: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, query, 0).pointee
    }

    /// Which kernel oneDNN picked, e.g. "jit:avx512_core" (for `tracemark engine` and the benches).
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "?" }
        return String(cString: name)
    }

    /// Runs with as many OpenMP threads as the engine has workers (set per call: OpenMP keeps the
    /// count per calling thread).
    func execute(_ arguments: [(Int32, DNNLMemory)]) {
        omp_set_num_threads(Int32(Parallel.workers))
        let pairs = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
        var status = dnnl_primitive_execute(primitive, stream, Int32(pairs.count), pairs)
        if status == dnnl_success { status = dnnl_stream_wait(stream) }
        // Built primitives fail only on a programming error (a missing argument): stop with its name.
        if status != dnnl_success { fatalError("oneDNN primitive \(implementation) failed with status \(status.rawValue)") }
    }
}

/// A tensor in the layout it has outside a primitive (NCHW or a oneDNN layout) and the copy in
/// the layout the primitive wants, with the reorders between them; when the two agree the copy
/// is the tensor itself.
final class StagedMemory {
    let outside: DNNLMemory
    let inside: DNNLMemory
    private let reorderIn: DNNLPrimitive?
    private let reorderOut: DNNLPrimitive?

    init(outside layout: dnnl_memory_desc_t, inside wanted: dnnl_memory_desc_t) throws {
        outside = try DNNLMemory(layout, owned: false)
        if sameLayout(layout, wanted) {
            inside = outside
            reorderIn = nil
            reorderOut = nil
        } else {
            inside = try DNNLMemory(wanted, owned: true)
            reorderIn = try DNNLPrimitive(reorderFrom: outside, to: inside)
            reorderOut = try DNNLPrimitive(reorderFrom: inside, to: outside)
        }
    }

    /// Points at `data` and brings its contents into the wanted layout.
    func load(_ data: UnsafeMutablePointer<Float>) {
        outside.point(at: data)
        reorderIn?.execute([(DNNL_ARG_FROM, outside), (DNNL_ARG_TO, inside)])
    }

    /// Points at `data` as the destination `store` will fill.
    func target(_ data: UnsafeMutablePointer<Float>) { outside.point(at: data) }

    /// Copies what the primitive wrote back into the outside layout.
    func store() {
        reorderOut?.execute([(DNNL_ARG_FROM, inside), (DNNL_ARG_TO, outside)])
    }
}

/// For a layer on its OpenBLAS path that can still be handed a tensor in a oneDNN layout (its
/// oneDNN primitives failed to build after the network had planned its layouts): an NCHW copy of
/// the input going in, and the input gradient put back into the input's layout coming out.
final class LayoutFallback {
    private let plain = Tensor(shape: [0])
    private let gradient = Tensor(shape: [0])
    private var inputLayout: OneDNNLayout?

    func plainInput(_ input: Tensor) -> Tensor {
        inputLayout = input.layout
        guard let layout = input.layout else { return input }
        plain.reshape(input.shape)
        reorder(input.data, layout.descriptor, into: plain.data, plainDescriptor(input.shape))
        return plain
    }

    func gradientInInputLayout(_ plainGradient: Tensor) -> Tensor {
        guard let layout = inputLayout else { return plainGradient }
        gradient.reshape(plainGradient.shape, layout: layout)
        reorder(plainGradient.data, plainDescriptor(plainGradient.shape), into: gradient.data, layout.descriptor)
        return gradient
    }

    private func reorder(_ source: UnsafeMutablePointer<Float>, _ from: dnnl_memory_desc_t,
                         into destination: UnsafeMutablePointer<Float>, _ to: dnnl_memory_desc_t) {
        do {
            let input = try DNNLMemory(from, owned: false), output = try DNNLMemory(to, owned: false)
            input.point(at: source)
            output.point(at: destination)
            try DNNLPrimitive(reorderFrom: input, to: output).execute([(DNNL_ARG_FROM, input), (DNNL_ARG_TO, output)])
        } catch {
            fatalError("oneDNN cannot reorder between NCHW and its own layout: \(error)")
        }
    }
}

/// What a layer's oneDNN plan (its primitives and memories for one batch size) was built for.
protocol OneDNNPlan: AnyObject {
    /// The input's layout: NCHW, or the oneDNN layout the layer before left it in.
    var inputLayout: dnnl_memory_desc_t { get }
    /// Whether the output stays in oneDNN's layout.
    var keepsLayout: Bool { get }
}

/// The oneDNN side of a layer that has both paths: its plans for the last few batch sizes it
/// saw — training batches, the epoch's last partial batch, evaluation batches — so none is
/// rebuilt every step, and the move to the engine's own kernels for good when oneDNN cannot
/// build one (both paths compute the same function).
final class OneDNNPath<Plan: OneDNNPlan> {
    private(set) var isActive: Bool
    private var recent: [(batch: Int, plan: Plan)] = []
    private let layerName: String
    static var capacity: Int { 3 }

    init(library: KernelLibrary, layerName: String) {
        isActive = library == .oneDNN && OneDNN.isAvailable
        self.layerName = layerName
    }

    /// The plan for `input` (its batch size and layout) and where the output goes, built by
    /// `make` from the input's layout when there is none yet; nil on the engine's own kernels.
    func plan(for input: Tensor, keepsLayout: Bool, make: (_ inputLayout: dnnl_memory_desc_t) throws -> Plan) -> Plan? {
        guard isActive else { return nil }
        let layout = descriptor(of: input)
        if let index = recent.firstIndex(where: { $0.batch == input.batch }) {
            let found = recent.remove(at: index)
            if sameLayout(found.plan.inputLayout, layout) && found.plan.keepsLayout == keepsLayout {
                recent.append(found)
                return found.plan
            }
        }
        do {
            let made = try make(layout)
            if recent.count == Self.capacity { recent.removeFirst() }
            recent.append((input.batch, made))
            return made
        } catch {
            FileHandle.standardError.write(Data("warning: \(error) for \(layerName); it runs on the engine's own kernels\n".utf8))
            isActive = false
            recent = []
            return nil
        }
    }
}
