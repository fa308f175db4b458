import Training

/// One embedding step's stacked batch, forwarded at once: the clean images, then fresh watermark
/// samples, fresh evasion samples, and the two source images of each watermark sample (for the
/// combination loss).
struct EmbeddingStack {
    let clean: Range<Int>
    let marks: Range<Int>
    let evasions: Range<Int>
    let firstSources: Range<Int>
    let secondSources: Range<Int>
    let markLabels: [Int32]
    let evasionLabels: [Int32]
    var rows: Int { secondSources.upperBound }
    /// Both source ranges, which sit next to each other.
    var sources: Range<Int> { firstSources.lowerBound..<secondSources.upperBound }

    /// Draws the step's samples from `factory` with `seed` and writes the stack's raw pixels into
    /// `pixels`, grown as needed.
    init(batch: TrainingBatch, factory: TriggerFactory, configuration: EmbeddingConfiguration, tasks: [EmbeddingTask],
         seed: UInt64, into pixels: inout [Float]) {
        let size = factory.dataset.itemSize, count = batch.labels.count
        let markCount = [.verification, .combination, .rehearsal].contains(where: tasks.contains) ? configuration.watermarkPerBatch : 0
        let evasionCount = tasks.contains(.evasion) ? configuration.evasionPerBatch : 0
        let sourceCount = tasks.contains(.combination) ? markCount : 0
        let marks = factory.watermarkSamples(count: markCount, seed: seed)
        // Other-pair samples first; a data set with no other pair gets ordinary ones instead.
        let otherPairs = factory.otherPairEvasionSamples(count: Int((Double(evasionCount) * configuration.otherPairEvasion).rounded()),
                                                         seed: seed ^ 0x07E4)
        let evasions = factory.evasionSamples(count: evasionCount - otherPairs.count, seed: seed ^ 0xE7A5).appending(otherPairs)
        clean = 0..<count
        self.marks = count..<(count + markCount)
        self.evasions = self.marks.upperBound..<(self.marks.upperBound + evasionCount)
        firstSources = self.evasions.upperBound..<(self.evasions.upperBound + sourceCount)
        secondSources = firstSources.upperBound..<(firstSources.upperBound + sourceCount)
        markLabels = marks.labels
        evasionLabels = evasions.labels

        let needed = secondSources.upperBound * size
        if pixels.count < needed { pixels = [Float](repeating: 0, count: needed) }
        pixels.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            p.update(from: batch.pixels, count: count * size)
            copy(marks.images, to: p + self.marks.lowerBound * size)
            copy(evasions.images, to: p + self.evasions.lowerBound * size)
            if sourceCount > 0 {
                copy(marks.firstSources, to: p + firstSources.lowerBound * size)
                copy(marks.secondSources, to: p + secondSources.lowerBound * size)
            }
        }
    }
}

private func copy(_ values: [Float], to destination: UnsafeMutablePointer<Float>) {
    guard !values.isEmpty else { return }
    values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
}
