import Foundation
import XCTest
@testable import Data

/// Writes small IDX and CIFAR files into a temporary folder.
private final class Scratch {
    let folder = NSTemporaryDirectory() + "tracemark-data-\(UUID().uuidString)/"
    init() { try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) -> String {
        let path = folder + name
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write fixture \(path)")
        if gzip {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/gzip")
            process.arguments = ["-f", "-n", path]
            try! process.run()
            process.waitUntilExit()
            return path + ".gz"
        }
        return path
    }

    static func bigEndian(_ values: [UInt32]) -> [UInt8] {
        values.flatMap { v in [24, 16, 8, 0].map { UInt8((v >> $0) & 0xFF) } }
    }

    static func idxImages(count: Int, height: Int, width: Int) -> [UInt8] {
        bigEndian([0x0803, UInt32(count), UInt32(height), UInt32(width)]) + (0..<count * height * width).map { UInt8($0 % 256) }
    }
}

final class IDXTests: XCTestCase {
    func testReadsGzippedAndPlainImagesAndLabels() throws {
        let scratch = Scratch()
        let bytes = Scratch.idxImages(count: 3, height: 2, width: 2)
        for gzip in [false, true] {
            let images = try IDX.readImages(scratch.write("images\(gzip)", bytes, gzip: gzip))
            XCTAssertEqual(images.count, 3)
            XCTAssertEqual(images.height, 2)
            XCTAssertEqual(images.pixels[5], 5 / 255, accuracy: 1e-7)
        }
        let labels = try IDX.readLabels(scratch.write("labels", Scratch.bigEndian([0x0801, 3]) + [7, 0, 9], gzip: true))
        XCTAssertEqual(labels, [7, 0, 9])
    }

    func testWrongMagicWrongSizeAndMissingFilesNameTheFile() {
        let scratch = Scratch()
        let labelsAsImages = scratch.write("labels-as-images", Scratch.bigEndian([0x0801, 3]) + [1, 2, 3])
        XCTAssertThrowsError(try IDX.readImages(labelsAsImages)) { error in
            guard case DataError.badMagic(let path, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, labelsAsImages)
        }
        let short = scratch.write("short", Array(Scratch.idxImages(count: 3, height: 2, width: 2).dropLast()))
        XCTAssertThrowsError(try IDX.readImages(short)) { XCTAssertTrue("\($0)".contains(short) && "\($0)".contains("bytes")) }
        XCTAssertThrowsError(try IDX.readLabels(scratch.folder + "absent.gz")) {
            XCTAssertEqual($0 as? DataError, .missingFile(scratch.folder + "absent.gz", hint: ""))
        }
        let gzipped = scratch.write("cut", Scratch.idxImages(count: 50, height: 28, width: 28), gzip: true)
        let data = try! Data(contentsOf: URL(fileURLWithPath: gzipped))
        let cut = scratch.write("cut-truncated.gz", Array(data.prefix(data.count / 2)))
        XCTAssertThrowsError(try IDX.readImages(cut)) { XCTAssertTrue("\($0)".contains("cut-truncated.gz")) }
    }

    /// Issue 18: a 16-byte file claiming 65,536 images of 16,777,216² pixels was accepted (the
    /// byte count wrapped around to 0).
    func testAHeaderWhoseSizeOverflowsIsRefused() {
        let scratch = Scratch()
        let forged = scratch.write("forged", Scratch.bigEndian([0x0803, 65_536, 16_777_216, 16_777_216]))
        XCTAssertThrowsError(try IDX.readImages(forged)) { XCTAssertTrue("\($0)".contains("forged") && "\($0)".contains("bytes"), "\($0)") }
        let large = scratch.write("large", Scratch.bigEndian([0x0803, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF]) + [1, 2, 3])
        XCTAssertThrowsError(try IDX.readImages(large)) { XCTAssertTrue("\($0)".contains("large"), "\($0)") }
        let labels = scratch.write("labels", Scratch.bigEndian([0x0801, 0xFFFF_FFFF]))
        XCTAssertThrowsError(try IDX.readLabels(labels)) { XCTAssertTrue("\($0)".contains("labels"), "\($0)") }
    }

    /// A gzip bomb: a few hundred kilobytes that inflate without end are cut off at the cap
    /// instead of filling memory.
    func testAGzipBombIsCutOffAtTheInflatedSizeCap() throws {
        let scratch = Scratch()
        let path = scratch.folder + "bomb.gz"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "head -c \(largestDataFileBytes + 1) /dev/zero | gzip -9 > '\(path)'"]
        try shell.run()
        shell.waitUntilExit()
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int, 1 << 20)
        XCTAssertThrowsError(try IDX.readImages(path)) { XCTAssertTrue("\($0)".contains("bomb.gz") && "\($0)".contains("inflates"), "\($0)") }
    }

    func testFashionMNISTFromDebianHasTheExpectedShape() throws {
        let folder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/t10k-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        let test = try DatasetCatalog.load("fashion-mnist", split: "test")
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.itemShape, [1, 28, 28])
        XCTAssertEqual(Set(test.labels), Set(0..<10))
        XCTAssertEqual(test.classNames[2], "Pullover")
    }

    func testMNIST5kSplitsPartitionTheShippedDigits() throws {
        let folder = DatasetCatalog.directory(for: "mnist-5k")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/images-idx3-ubyte.gz"),
                          "shared/data/mnist-5k is not beside the repository")
        let train = try DatasetCatalog.load("mnist-5k", split: "train"), test = try DatasetCatalog.load("mnist-5k", split: "test")
        XCTAssertEqual(train.count + test.count, 5_000)
        XCTAssertEqual(test.count, 1_000)
        XCTAssertThrowsError(try DatasetCatalog.load("mnist-5k", split: "validation")) { XCTAssertTrue("\($0)".contains("validation")) }
        XCTAssertThrowsError(try DatasetCatalog.load("imagenet", split: "train"))
    }
}

final class CIFARTests: XCTestCase {
    func testReadsATinyBinaryBatch() throws {
        let scratch = Scratch()
        var record = [UInt8](repeating: 0, count: 3073)
        record[0] = 3
        record[1] = 255                // red channel, first pixel
        record[1 + 1024] = 51          // green channel, first pixel
        let second = [UInt8(9)] + [UInt8](repeating: 128, count: 3072)
        let path = scratch.write("data_batch_1.bin", record + second)
        let dataset = try CIFAR10.read([path], name: "tiny")
        XCTAssertEqual(dataset.count, 2)
        XCTAssertEqual(dataset.itemShape, [3, 32, 32])
        XCTAssertEqual(dataset.labels, [3, 9])
        XCTAssertEqual(dataset.images[0], 1)
        XCTAssertEqual(dataset.images[1024], 0.2, accuracy: 1e-6)
        XCTAssertEqual(dataset.classNames[Int(dataset.labels[1])], "truck")
    }

    func testPartialRecordsAndBadLabelsAreRejected() {
        let scratch = Scratch()
        let partial = scratch.write("partial.bin", [UInt8](repeating: 1, count: 3073 + 10))
        XCTAssertThrowsError(try CIFAR10.read([partial], name: "x")) { XCTAssertTrue("\($0)".contains("partial.bin")) }
        let badLabel = scratch.write("label.bin", [42] + [UInt8](repeating: 0, count: 3072))
        XCTAssertThrowsError(try CIFAR10.read([badLabel], name: "x")) { XCTAssertTrue("\($0)".contains("label 42")) }
    }
}

final class BatchingTests: XCTestCase {
    func testSameSeedAndEpochGiveTheSameOrder() {
        let a = BatchOrder(count: 100, batchSize: 32, seed: 5, epoch: 2)
        XCTAssertEqual(a.indices, BatchOrder(count: 100, batchSize: 32, seed: 5, epoch: 2).indices)
        XCTAssertNotEqual(a.indices, BatchOrder(count: 100, batchSize: 32, seed: 5, epoch: 3).indices)
        XCTAssertEqual(a.indices.sorted(), Array(0..<100))
        XCTAssertEqual(a.map(\.count), [32, 32, 32, 4])
    }

    func testSubsetPrefixAndChannelStatistics() {
        let dataset = Dataset(name: "d", itemShape: [1, 1, 2], images: [0, 1, 2, 3, 4, 5], labels: [0, 1, 2], classNames: ["a", "b", "c"])
        XCTAssertEqual(dataset.subset([2, 0]).images, [4, 5, 0, 1])
        XCTAssertEqual(dataset.subset([2, 0]).labels, [2, 0])
        XCTAssertEqual(dataset.prefix(2).count, 2)
        XCTAssertEqual(dataset.prefix(nil).count, 3)
        let statistics = dataset.channelStatistics()
        XCTAssertEqual(statistics.mean[0], 2.5, accuracy: 1e-6)
        XCTAssertEqual(statistics.std[0], Float(35.0 / 12).squareRoot(), accuracy: 1e-5)
    }

    func testAugmentationShiftsAndMirrorsDeterministically() {
        var image: [Float] = (0..<16).map(Float.init)
        let original = image
        Augmentation(padding: 0, horizontalFlip: true).apply(to: &image, count: 1, shape: [1, 4, 4], seed: 1)
        let mirrored: [Float] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12]
        XCTAssertTrue(image == original || image == mirrored)
        var batch = [Float](repeating: 1, count: 2 * 25)
        var again = batch
        let augmentation = Augmentation(padding: 2, horizontalFlip: false)
        augmentation.apply(to: &batch, count: 2, shape: [1, 5, 5], seed: 9)
        augmentation.apply(to: &again, count: 2, shape: [1, 5, 5], seed: 9)
        XCTAssertEqual(batch, again)
        XCTAssertTrue(batch.allSatisfy { $0 == 0 || $0 == 1 })
    }

    func testOffsetAndLimitSelectDisjointSlices() {
        let dataset = Dataset(name: "d", itemShape: [1, 1, 1], images: [0, 1, 2, 3, 4], labels: [0, 1, 2, 0, 1], classNames: ["a", "b", "c"])
        XCTAssertEqual(dataset.slice(offset: 0, limit: 2).images, [0, 1])
        XCTAssertEqual(dataset.slice(offset: 2, limit: 2).images, [2, 3])
        XCTAssertEqual(dataset.slice(offset: 2, limit: 2).labels, [2, 0])
        XCTAssertEqual(dataset.slice(offset: 4, limit: 2).images, [4])
        XCTAssertEqual(dataset.slice(offset: 3, limit: nil).images, [3, 4])
        XCTAssertEqual(dataset.slice(offset: 0, limit: nil).images, dataset.images)
        XCTAssertEqual(dataset.slice(offset: 5, limit: 1).count, 0)
    }

    /// Strong augmentation erases: with erasing certain and no shift or mirror, every image gets
    /// one noise rectangle of 2–33 % of its pixels, the same for the same seed.
    func testRandomErasingReplacesOneRectangle() {
        let erasing = Augmentation(padding: 0, horizontalFlip: false, erasing: 1)
        var batch = [Float](repeating: 2, count: 4 * 100)
        var again = batch
        erasing.apply(to: &batch, count: 4, shape: [1, 10, 10], seed: 5)
        erasing.apply(to: &again, count: 4, shape: [1, 10, 10], seed: 5)
        XCTAssertEqual(batch, again)
        for n in 0..<4 {
            let erased = (0..<100).filter { batch[n * 100 + $0] != 2 }
            // 2–33 of the 100 pixels, give or take the rounding of each side.
            XCTAssertTrue((1...40).contains(erased.count), "\(erased.count) pixels erased")
            let rows = erased.map { $0 / 10 }, columns = erased.map { $0 % 10 }
            let boundingBox = (rows.max()! - rows.min()! + 1) * (columns.max()! - columns.min()! + 1)
            XCTAssertEqual(boundingBox, erased.count, "the erased pixels form one rectangle")
            XCTAssertTrue(erased.allSatisfy { batch[n * 100 + $0] >= 0 && batch[n * 100 + $0] < 1 })
        }
        XCTAssertEqual(Augmentation.preset("light"), Augmentation(padding: 2, horizontalFlip: true))
        XCTAssertNil(Augmentation.preset("medium"))
    }
}
