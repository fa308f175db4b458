import Foundation

/// A verified report as one self-contained HTML page (inline CSS and SVG, no external assets):
/// the verdict in words, the figures, and three charts — the WSR and the decoy rate with their
/// intervals beside the calibrated null and the paper's 30 %; the reference models' hit rates;
/// the suspect's answers per class on triggers and on decoys.
public enum HTMLReport {
    public static func render(_ statement: EvidenceReport.Statement, verification: EvidenceReport.Verification) -> String {
        let p = statement.predicate
        let d = p.decision
        let t = p.transcript
        let target = t.classNames.indices.contains(t.targetLabel) ? t.classNames[t.targetLabel] : "class \(t.targetLabel)"
        let verdict = p.combinedVerdict
        let verdictClass = verdict == .infringement ? "infringement" : verdict == .noEvidence ? "none" : "open"
        var rows: [(String, String)] = [
            ("Endpoint", "\(t.endpoint) (\(t.apiProtocol)\(t.model.map { ", model \($0)" } ?? ""))"),
            ("Probed", "\(t.firstQuery ?? "–") to \(t.lastQuery ?? "–")"),
            ("Trigger queries", "\(d.triggerHits) of \(d.triggers) answered \(target) (planned \(t.trigger.planned), failed \(t.trigger.failed))"),
            ("WSR", "\(percent(d.wsr)) (\(Int(d.interval.confidence * 100)) % Clopper–Pearson interval \(percent(d.interval.lower))–\(percent(d.interval.upper)))"),
            ("Against independent models", "p = \(Decision.scientific(d.log10CalibratedPValue)) (exact one-sided binomial at the calibrated null p0 = \(percent(d.calibratedP0)), the highest upper bound over \(p.null.referenceHits.count) reference models; α = \(d.rule.alpha))"),
            ("Decoy queries", "\(d.decoyHits) of \(d.decoys) answered \(target)" + (d.decoyInterval.map { " (\(percent(d.decoyRate ?? 0)), interval \(percent($0.lower))–\(percent($0.upper)))" } ?? "")
                + "; planned \(t.decoy.planned), failed \(t.decoy.failed)"),
            ("Against its own decoys", "p = \(Decision.scientific(d.log10DecoyPValue)) (exact conditional test that the trigger odds exceed \(Decision.number(d.rule.oddsRatioMargin))× the decoy odds\(d.oddsRatio.map { "; observed odds ratio \(String(format: "%.1f", $0))" } ?? ""); α = \(d.rule.decoyAlpha))"),
            ("The paper's rule", "WSR > \(percent(d.rule.paperThreshold)) → \(d.paperVerdict.rawValue)\(d.agreesWithPaper ? " (agrees)" : " — disagrees with the verdict")"),
        ]
        if t.decoyCalibrationSha256 != nil {
            rows.append(("Decoy pairs", "other source pairs combined the watermark's way, only those our model rarely answers \(target) on, as the calibration chose them (the pairs stay sealed: they would reveal the watermark's own by elimination)"))
        }
        if let f = p.fingerprint {
            rows.append(("Evidence channels", f.decides
                ? "watermark and fingerprint, each decided at half of each α (Bonferroni): infringement when either convicts, no evidence when both acquit"
                : "the watermark decides; the fingerprint is recorded beside it and is not part of the verdict"))
            if let fd = f.decision {
                rows += [
                    ("Fingerprint queries", "\(fd.triggerHits) of \(fd.triggers) answered with our model's own answer (\(percent(fd.wsr)), interval \(percent(fd.interval.lower))–\(percent(fd.interval.upper)); planned \(t.fingerprint?.planned ?? 0), failed \(t.fingerprint?.failed ?? 0))"),
                    ("Fingerprint against independent models", "p = \(Decision.scientific(fd.log10CalibratedPValue)) (at the null p0 = \(percent(fd.calibratedP0)), the highest upper bound over \(f.referenceHits.count) reference models none of which chose the fingerprint; α = \(fd.rule.alpha))"),
                    ("Fingerprint decoys", "\(fd.decoyHits) of \(fd.decoys) answered with the twin model's own answer"),
                    ("Fingerprint against its decoys", "p = \(Decision.scientific(fd.log10DecoyPValue)) (odds above \(Decision.number(fd.rule.oddsRatioMargin))× the decoy odds\(fd.oddsRatio.map { "; observed odds ratio \(String(format: "%.1f", $0))" } ?? ""); α = \(fd.rule.decoyAlpha)): fingerprint channel \(fd.verdict.rawValue)"),
                ]
            } else {
                rows.append(("Fingerprint queries", "too few answered to decide on (\(t.fingerprint?.answered ?? 0) inputs, \(t.fingerprintDecoy?.answered ?? 0) decoys)"))
            }
            rows.append(("Fingerprint", "SHA-256 \(f.fingerprintSha256), sealed with the watermark and covered by the registration's commitment"))
        }
        if let accuracy = p.controlAccuracy { rows.append(("Accuracy on controls", "\(percent(accuracy)) of \(t.control.answered) clean images")) }
        if let fidelity = p.fidelity { rows.append(("Agreement with our model", percent(fidelity))) }
        if let further = d.furtherTriggerQueries { rows.append(("To settle it", "about \(further) more trigger queries, decoys in proportion, at the observed rates")) }
        rows += [
            ("Registration", "entry \(p.registration.index) of \(p.registration.time), commitment \(p.registration.commitment)"),
            ("Transcript", "\(t.lines) lines, SHA-256 \(t.sha256), Merkle root \(t.merkleRoot)"),
            ("Signed by", "owner key \(p.ownerKeyId) — \(verification.isValid ? "signature and figures verified" : "NOT VERIFIED: \(verification.problems.joined(separator: "; "))")"
                + (verification.transcriptChecked ? " against the transcript" : "")),
            ("Made by", "\(p.software.name) \(p.software.version) on \(p.created)"),
        ]
        let table = rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Tracemark evidence report — \(escape(verdict.rawValue))</title>
        <style>
        body { font: 15px/1.45 system-ui, sans-serif; color: #1b1f24; max-width: 920px; margin: 2em auto; padding: 0 1em; }
        h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.1em; margin-top: 1.8em; }
        .verdict { padding: .8em 1em; border-radius: 6px; font-size: 1.05em; }
        .infringement { background: #fde8e8; border-left: 6px solid #c0392b; }
        .none { background: #e8f6ec; border-left: 6px solid #2e8b57; }
        .open { background: #fff6e0; border-left: 6px solid #d68910; }
        table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top; padding: .35em .6em; border-bottom: 1px solid #e3e6ea; }
        th { width: 13em; font-weight: 600; } td { word-break: break-all; }
        svg text { font: 12px system-ui, sans-serif; fill: #1b1f24; }
        .note { color: #57606a; font-size: .9em; }
        </style></head><body>
        <h1>Tracemark evidence report</h1>
        <p class="note">Watermark registration \(escape(p.registration.recordId)) · suspect \(escape(t.endpoint))</p>
        \(verification.isValid ? "" : "<div class=\"verdict infringement\"><strong>NOT VERIFIED.</strong> \(escape(verification.problems.joined(separator: "; "))) — nothing below can be relied on.</div>")
        <div class="verdict \(verdictClass)"><strong>Verdict: \(escape(verdict.rawValue)).</strong> \(escape(summary(p, target: target)))</div>
        <h2>Trigger and decoy hit rates against the null</h2>
        \(intervalChart(d))
        \(p.fingerprint?.decision.map { "<h2>Fingerprint agreement and decoy rate against the fingerprint's null</h2>\n" + intervalChart($0, rate: "agreement") } ?? "")
        <h2>Reference models: this watermark's hit rate on independently trained clean models</h2>
        \(referenceChart(p.null, suspect: d.wsr))
        <h2>The suspect's answers per class</h2>
        \(histogramChart(t))
        <h2>Figures</h2>
        <table>
        \(table)
        </table>
        <p class="note">Check it yourself: <code>tracemark report verify REPORT.json --pubkey OWNER.pub.pem --transcript TRANSCRIPT.jsonl</code>,
        or with OpenSSL alone over the DSSE pre-authentication encoding of the payload.</p>
        </body></html>

        """
    }

    /// The verdict in words: the watermark channel's, then the fingerprint channel's when there is one.
    static func summary(_ p: EvidencePredicate, target: String) -> String {
        let watermark = watermarkSummary(p.decision, target: target)
        guard let evidence = p.fingerprint, let f = evidence.decision else { return watermark }
        let fingerprint = "On \(f.triggers) fingerprint inputs it gave our model's own answer \(f.triggerHits) times (\(percent(f.wsr))), against at most \(percent(f.calibratedP0)) for independent models (p = \(Decision.scientific(f.log10CalibratedPValue))), and our twin model's own answer on \(f.decoyHits) of \(f.decoys) decoys (p = \(Decision.scientific(f.log10DecoyPValue))): fingerprint channel \(f.verdict.rawValue)"
        guard evidence.decides else { return "\(watermark) \(fingerprint) — recorded, not part of the verdict." }
        let combined = switch p.combinedVerdict {
        case .infringement: "One channel convicting at half of each α is enough: the model behind this endpoint was derived from ours."
        case .noEvidence: "Both channels show no evidence."
        case .inconclusive: "Neither channel convicts, and not both acquit."
        }
        return "Watermark channel: \(watermark) \(fingerprint). \(combined)"
    }

    static func watermarkSummary(_ d: Decision, target: String) -> String {
        let hits = "The suspect answered \(target) — the secret watermark's target — on \(d.triggerHits) of \(d.triggers) trigger queries (\(percent(d.wsr)), \(Int(d.interval.confidence * 100)) % interval \(percent(d.interval.lower))–\(percent(d.interval.upper)))."
        let null = "A model independent of ours does so at most \(percent(d.calibratedP0)) of the time (the chance of this many hits then: \(Decision.scientific(d.log10CalibratedPValue))); "
            + "on \(d.decoys) false watermarks it cannot tell from ours it answered \(target) \(d.decoyHits) times (the chance of triggers beating decoys this much by its own habits: \(Decision.scientific(d.log10DecoyPValue)))."
        switch d.verdict {
        case .infringement:
            return "\(hits) \(null) Both are below their α (\(d.rule.alpha) and \(d.rule.decoyAlpha)): the model behind this endpoint carries our watermark."
                + (d.agreesWithPaper ? "" : " The paper's fixed 30 % rule would have missed it.")
        case .noEvidence:
            let reason = d.reasons.last ?? ""
            return "\(hits) \(null) \(reason.prefix(1).uppercased() + reason.dropFirst()): no evidence that this model was derived from ours."
        case .inconclusive:
            let reasons = d.reasons.joined(separator: "; ")
            return "\(hits) \(null) \(reasons.prefix(1).uppercased() + reasons.dropFirst())."
                + (d.furtherTriggerQueries.map { " About \($0) more trigger queries would most likely settle it." } ?? "")
        }
    }

    /// A 0–100 % axis with the WSR's and the decoy rate's intervals, the paper's 30 % and p0.
    static func intervalChart(_ d: Decision, rate rateName: String = "WSR") -> String {
        let (left, width) = (40.0, 620.0)
        func x(_ rate: Double) -> Double { left + width * min(max(rate, 0), 1) }
        var svg = "<svg width=\"700\" height=\"130\" viewBox=\"0 0 700 130\" role=\"img\" aria-label=\"WSR interval against thresholds\">"
        svg += "<line x1=\"\(x(0))\" y1=\"90\" x2=\"\(x(1))\" y2=\"90\" stroke=\"#57606a\"/>"
        for tick in stride(from: 0.0, through: 1.0, by: 0.1) {
            svg += "<line x1=\"\(x(tick))\" y1=\"90\" x2=\"\(x(tick))\" y2=\"95\" stroke=\"#57606a\"/><text x=\"\(x(tick))\" y=\"110\" text-anchor=\"middle\">\(Int((tick * 100).rounded())) %</text>"
        }
        func marker(_ rate: Double, _ colour: String, _ label: String, _ y: Double) -> String {
            let (text, anchor, offset) = rate > 0.8 ? (label, "end", -4.0) : (label, "start", 4.0)
            return "<line x1=\"\(x(rate))\" y1=\"20\" x2=\"\(x(rate))\" y2=\"90\" stroke=\"\(colour)\" stroke-dasharray=\"5,3\" stroke-width=\"1.5\"/>"
                + "<text x=\"\(x(rate) + offset)\" y=\"\(y)\" text-anchor=\"\(anchor)\" style=\"fill:\(colour)\">\(escape(text))</text>"
        }
        svg += marker(d.calibratedP0, "#2e8b57", "calibrated p0 \(percent(d.calibratedP0))", 18)
        if rateName == "WSR" { svg += marker(d.rule.paperThreshold, "#6e7781", "paper 30 %", 32) }
        if let decoyRate = d.decoyRate, let bounds = d.decoyInterval {
            svg += "<rect x=\"\(x(bounds.lower))\" y=\"40\" width=\"\(max(x(bounds.upper) - x(bounds.lower), 1.5))\" height=\"12\" fill=\"#1f6feb\" opacity=\"0.25\"/>"
            svg += "<circle cx=\"\(x(decoyRate))\" cy=\"46\" r=\"4\" fill=\"#1f6feb\"/><text x=\"\(x(decoyRate) + 8)\" y=\"50\" style=\"fill:#1f6feb\">decoys \(percent(decoyRate))</text>"
        }
        svg += "<rect x=\"\(x(d.interval.lower))\" y=\"58\" width=\"\(max(x(d.interval.upper) - x(d.interval.lower), 1.5))\" height=\"16\" fill=\"#2d333b\" opacity=\"0.25\"/>"
        svg += "<circle cx=\"\(x(d.wsr))\" cy=\"66\" r=\"5\" fill=\"#2d333b\"/><text x=\"\(x(d.wsr) + 8)\" y=\"84\">\(rateName) \(percent(d.wsr))</text>"
        return svg + "</svg>"
    }

    /// One bar per reference model, on an axis up to the larger of p0 and the suspect's WSR.
    static func referenceChart(_ null: EvidencePredicate.NullSource, suspect: Double) -> String {
        let rates = zip(null.referenceHits, null.referenceTriggers).map { $1 > 0 ? Double($0) / Double($1) : 0 }
        let top = min(max(null.calibratedP0, suspect, rates.max() ?? 0, 0.01), 1) * 1.1
        let barWidth = max(4.0, min(24.0, 560.0 / Double(rates.count + 2) - 4))
        let height = 140.0
        func y(_ rate: Double) -> Double { 20 + height * (1 - rate / top) }
        var svg = "<svg width=\"700\" height=\"200\" viewBox=\"0 0 700 200\" role=\"img\" aria-label=\"reference hit rates\">"
        svg += "<line x1=\"64\" y1=\"\(y(0))\" x2=\"690\" y2=\"\(y(0))\" stroke=\"#57606a\"/>"
        svg += "<text x=\"58\" y=\"\(y(0) + 4)\" text-anchor=\"end\">0 %</text><text x=\"58\" y=\"\(y(top / 1.1) + 4)\" text-anchor=\"end\">\(percent(top / 1.1))</text>"
        for (index, rate) in rates.enumerated() {
            let x = 74 + Double(index) * (barWidth + 4)
            svg += "<rect x=\"\(x)\" y=\"\(y(rate))\" width=\"\(barWidth)\" height=\"\(max(y(0) - y(rate), 1))\" fill=\"#1f6feb\"><title>\(escape(null.referenceArchitectures[safe: index] ?? "")): \(percent(rate))</title></rect>"
        }
        let x = 74 + Double(rates.count) * (barWidth + 4) + 16
        svg += "<rect x=\"\(x)\" y=\"\(y(suspect))\" width=\"\(barWidth)\" height=\"\(max(y(0) - y(suspect), 1))\" fill=\"#2d333b\"/>"
        svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(y(0) + 16)\" text-anchor=\"middle\">suspect</text>"
        svg += "<text x=\"74\" y=\"\(y(0) + 34)\">\(rates.count) reference models (highest \(percent(rates.max() ?? 0))), then the suspect</text>"
        let p0 = null.calibratedP0
        svg += "<line x1=\"64\" y1=\"\(y(p0))\" x2=\"690\" y2=\"\(y(p0))\" stroke=\"#2e8b57\" stroke-dasharray=\"5,3\"/><text x=\"688\" y=\"\(y(p0) - 4)\" text-anchor=\"end\" style=\"fill:#2e8b57\">p0 \(percent(p0))</text>"
        return svg + "</svg>"
    }

    /// Share of answers per class, triggers beside decoys.
    static func histogramChart(_ t: TranscriptFigures) -> String {
        let classes = t.classNames.count
        let triggerTotal = max(t.trigger.labels.reduce(0, +), 1), decoyTotal = max(t.decoy.labels.reduce(0, +), 1)
        let slot = 640.0 / Double(max(classes, 1))
        func height(_ share: Double) -> Double { 130 * share }
        var svg = "<svg width=\"700\" height=\"215\" viewBox=\"0 0 700 215\" role=\"img\" aria-label=\"answers per class\">"
        svg += "<line x1=\"40\" y1=\"150\" x2=\"690\" y2=\"150\" stroke=\"#57606a\"/>"
        for c in 0..<classes {
            let x = 45 + Double(c) * slot
            let triggerShare = Double(t.trigger.labels[safe: c] ?? 0) / Double(triggerTotal), decoyShare = Double(t.decoy.labels[safe: c] ?? 0) / Double(decoyTotal)
            svg += "<rect x=\"\(x)\" y=\"\(150 - height(triggerShare))\" width=\"\(slot * 0.38)\" height=\"\(height(triggerShare))\" fill=\"#c0392b\"><title>triggers: \(percent(triggerShare))</title></rect>"
            svg += "<rect x=\"\(x + slot * 0.4)\" y=\"\(150 - height(decoyShare))\" width=\"\(slot * 0.38)\" height=\"\(height(decoyShare))\" fill=\"#1f6feb\"><title>decoys: \(percent(decoyShare))</title></rect>"
            let name = escape(String(t.classNames[c].prefix(10)))
            svg += "<text x=\"\(x + slot * 0.39)\" y=\"166\" text-anchor=\"middle\"\(c == t.targetLabel ? " font-weight=\"bold\"" : "")>\(name)\(c == t.targetLabel ? " ★" : "")</text>"
        }
        svg += "<rect x=\"45\" y=\"185\" width=\"12\" height=\"12\" fill=\"#c0392b\"/><text x=\"62\" y=\"195\">triggers (\(t.trigger.answered) answers)</text>"
        svg += "<rect x=\"245\" y=\"185\" width=\"12\" height=\"12\" fill=\"#1f6feb\"/><text x=\"262\" y=\"195\">decoys (\(t.decoy.answered) answers)</text>"
        svg += "<text x=\"445\" y=\"195\">★ the watermark's target</text>"
        return svg + "</svg>"
    }

    static func percent(_ value: Double) -> String {
        value > 0 && value < 0.001 ? String(format: "%.3f %%", value * 100) : String(format: "%.1f %%", value * 100)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

private extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
