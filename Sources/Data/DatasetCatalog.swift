import Foundation

/// Data sets by name with named splits, read from where Debian and the project put them.
public enum DatasetCatalog {
    public static let names = ["fashion-mnist", "mnist-5k", "cifar10"]

    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Where each data set is looked for; an environment variable overrides the default.
    public static func directory(for name: String) -> String {
        let environment = ProcessInfo.processInfo.environment
        switch name {
        case "fashion-mnist":
            return environment["TRACEMARK_FASHION_MNIST_DIR"] ?? "/usr/share/datasets/fashion-mnist"
        case "mnist-5k":
            if let override = environment["TRACEMARK_MNIST5K_DIR"] { return override }
            return sharedDataDirectory() + "/mnist-5k"
        default:
            return environment["TRACEMARK_CIFAR10_DIR"] ?? "data/cifar-10-batches-bin"
        }
    }

    /// The (C, H, W) of one item of data set `name`, as its files hold it; nil for an unknown name.
    public static func itemShape(of name: String) -> [Int]? {
        switch name {
        case "fashion-mnist", "mnist-5k": return [1, 28, 28]
        case "cifar10": return [3, 32, 32]
        default: return nil
        }
    }

    public static func splits(of name: String) -> [String] {
        name == "fashion-mnist" || name == "cifar10" ? ["train", "test"] : ["all", "train", "test"]
    }

    /// Loads `split` of data set `name`. MNIST-5k ships as one file pair of 5,000 digits sorted by
    /// class; its `train` and `test` splits are a fixed, seeded 4,000 / 1,000 partition.
    public static func load(_ name: String, split: String, directory: String? = nil) throws -> Dataset {
        guard names.contains(name) else { throw DataError.unknownDataset(name) }
        guard splits(of: name).contains(split) else {
            throw DataError.unknownSplit(dataset: name, split: split, available: splits(of: name))
        }
        let folder = directory ?? self.directory(for: name)
        switch name {
        case "fashion-mnist":
            let prefix = split == "train" ? "train" : "t10k"
            return try loadIDX(name: "fashion-mnist/\(split)", folder: folder,
                               images: "\(prefix)-images-idx3-ubyte.gz", labels: "\(prefix)-labels-idx1-ubyte.gz",
                               classNames: fashionMNISTClasses, hint: "install it with: apt-get install dataset-fashion-mnist")
        case "mnist-5k":
            let all = try loadIDX(name: "mnist-5k/all", folder: folder, images: "images-idx3-ubyte.gz",
                                  labels: "labels-idx1-ubyte.gz", classNames: (0...9).map(String.init),
                                  hint: "expected in shared/data/mnist-5k beside the repository, or set TRACEMARK_MNIST5K_DIR")
            if split == "all" { return all }
            let order = BatchOrder.permutation(count: all.count, seed: 0x6D6E_6973_74)
            let cut = all.count * 4 / 5
            return all.subset(Array(split == "train" ? order[..<cut] : order[cut...]), name: "mnist-5k/\(split)")
        default:
            let files = split == "train" ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
            let paths = files.map { folder + "/" + $0 }
            if let missing = paths.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
                throw DataError.missingFile(missing, hint: "point TRACEMARK_CIFAR10_DIR at the extracted cifar-10-batches-bin folder")
            }
            return try CIFAR10.read(paths, name: "cifar10/\(split)")
        }
    }

    private static func loadIDX(name: String, folder: String, images: String, labels: String,
                                classNames: [String], hint: String) throws -> Dataset {
        let imagePath = folder + "/" + images, labelPath = folder + "/" + labels
        for path in [imagePath, labelPath] where !FileManager.default.fileExists(atPath: path) {
            throw DataError.missingFile(path, hint: hint)
        }
        let read = try IDX.readImages(imagePath)
        let labelValues = try IDX.readLabels(labelPath)
        guard labelValues.count == read.count else {
            throw DataError.badSize(labelPath, reason: "\(labelValues.count) labels for \(read.count) images in \(imagePath)")
        }
        if let bad = labelValues.first(where: { $0 < 0 || Int($0) >= classNames.count }) {
            throw DataError.badSize(labelPath, reason: "label \(bad) is outside 0..<\(classNames.count)")
        }
        return Dataset(name: name, itemShape: [1, read.height, read.width], images: read.pixels,
                       labels: labelValues, classNames: classNames)
    }

    /// `shared/data` beside the repository: found from the working directory or the executable.
    private static func sharedDataDirectory() -> String {
        let candidates = [FileManager.default.currentDirectoryPath,
                          URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent().path]
        for start in candidates {
            var folder = URL(fileURLWithPath: start).standardizedFileURL
            for _ in 0..<6 {
                let shared = folder.deletingLastPathComponent().appendingPathComponent("shared/data")
                if FileManager.default.fileExists(atPath: shared.path) { return shared.path }
                folder = folder.deletingLastPathComponent()
            }
        }
        return "../shared/data"
    }
}
