import Foundation

/// `pareto.svg`: validation accuracy against CPU latency, every finished
/// candidate a point, the Pareto front a step line, exported models
/// labelled, the latency target a vertical line, and optionally a baseline
/// run's candidates as a second series. Plain SVG 1.1, 800×600, legible
/// when rendered (rsvg-convert, a browser) or printed.
public struct ParetoPlot: Sendable {
    public struct Point: Sendable {
        public var latencyMs: Double
        public var accuracy: Double
        /// Shown beside the point (an exported model's hash).
        public var label: String?

        public init(latencyMs: Double, accuracy: Double, label: String? = nil) {
            self.latencyMs = latencyMs
            self.accuracy = accuracy
            self.label = label
        }
    }

    public struct Series: Sendable {
        public var name: String
        public var points: [Point]
        /// The front, by increasing latency: drawn as a step line.
        public var front: [Point]

        public init(name: String, points: [Point], front: [Point]) {
            self.name = name
            self.points = points
            self.front = front
        }
    }

    public var title: String
    public var series: [Series]
    public var targetMs: Double?
    public var width = 800.0, height = 600.0

    public init(title: String, series: [Series], targetMs: Double?) {
        self.title = title
        self.series = series
        self.targetMs = targetMs
    }

    private static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]

    public var svg: String {
        let all = series.flatMap(\.points)
        let canvas = PlotCanvas(width: width, height: height)
        let left = canvas.left, top = canvas.top, plotW = canvas.plotWidth, plotH = canvas.plotHeight
        let latencies = all.map(\.latencyMs) + (targetMs.map { [$0] } ?? [])
        let accuracies = all.map(\.accuracy)
        let (xMin, xMax) = Self.range(latencies, floor: 0)
        let (yMin, yMax) = Self.range(accuracies, floor: nil)
        let x = { (v: Double) in left + (v - xMin) / (xMax - xMin) * plotW }
        let y = { (v: Double) in top + (1 - (v - yMin) / (yMax - yMin)) * plotH }
        var out = canvas.header(title)
        for t in Self.ticks(xMin, xMax) { out += canvas.verticalGrid(x(t), label: Self.format(t)) }
        out += canvas.frame(yMin: yMin, yMax: yMax, y: y, xTitle: "CPU latency (ms, batch 1, 1 thread)", yTitle: "validation accuracy")
        if let targetMs {
            out.append(##"<line x1="\##(x(targetMs))" y1="\##(top)" x2="\##(x(targetMs))" y2="\##(top + plotH)" stroke="#ff7f0e" stroke-dasharray="6 4" stroke-width="2"/>"##)
            // Labelled on the side with room.
            let onLeft = x(targetMs) > left + plotW * 0.75
            out.append(##"<text x="\##(x(targetMs) + (onLeft ? -5 : 5))" y="\##(top + 16)" font-size="13" fill="#ff7f0e" text-anchor="\##(onLeft ? "end" : "start")">target \##(Self.format(targetMs)) ms</text>"##)
        }
        for (s, series) in series.enumerated() {
            let colour = Self.colours[s % Self.colours.count]
            for p in series.points {
                out.append(##"<circle cx="\##(x(p.latencyMs))" cy="\##(y(p.accuracy))" r="4" fill="\##(colour)" fill-opacity="0.45"/>"##)
            }
            if let first = series.front.first {
                // The region the front dominates: accuracy holds until the next, faster-is-better point.
                var path = "M \(x(first.latencyMs)) \(y(first.accuracy))"
                for p in series.front.dropFirst() { path += " H \(x(p.latencyMs)) V \(y(p.accuracy))" }
                path += " H \(left + plotW)"
                out.append(##"<path d="\##(path)" fill="none" stroke="\##(colour)" stroke-width="2"/>"##)
            }
            for p in series.points where p.label != nil {
                out.append(##"<circle cx="\##(x(p.latencyMs))" cy="\##(y(p.accuracy))" r="6" fill="none" stroke="black" stroke-width="1.5"/>"##)
                out.append(##"<text x="\##(x(p.latencyMs) + 8)" y="\##(y(p.accuracy) - 8)" font-size="12">\##(Self.escape(p.label!))</text>"##)
            }
            // Legend, bottom right: fronts rise towards the top.
            let ly = top + plotH - 12 - Double(self.series.count - 1 - s) * 20
            out.append(##"<circle cx="\##(left + plotW - 180)" cy="\##(ly - 4)" r="5" fill="\##(colour)"/>"##)
            out.append(##"<text x="\##(left + plotW - 170)" y="\##(ly)" font-size="13">\##(Self.escape(series.name))</text>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// A padded range around `values` (or 0...1 when there are none).
    static func range(_ values: [Double], floor: Double?) -> (Double, Double) {
        guard let lo = values.min(), let hi = values.max() else { return (0, 1) }
        let pad = max((hi - lo) * 0.08, abs(hi) * 0.02, 1e-6)
        return (floor.map { max($0, lo - pad) } ?? lo - pad, hi + pad)
    }

    /// About six round tick values inside lo...hi.
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 6
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = (lo / step).rounded(.up) * step
        var result: [Double] = []
        while t <= hi + step * 1e-9 && result.count < 20 {
            result.append(t)
            t += step
        }
        return result
    }

    static func format(_ v: Double) -> String {
        v == 0 ? "0" : String(format: abs(v) < 0.01 ? "%.4f" : abs(v) < 1 ? "%.3f" : "%.2f", v)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
