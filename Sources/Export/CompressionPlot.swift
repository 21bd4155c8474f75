import Foundation

/// `compression.svg`: test accuracy against weight storage on a log axis,
/// one labelled point per variant (the fp32 model among them), so what
/// each method costs in accuracy and buys in size reads off one picture.
public struct CompressionPlot: Sendable {
    public struct Point: Sendable {
        public var kilobytes: Double
        public var accuracy: Double
        public var label: String

        public init(kilobytes: Double, accuracy: Double, label: String) {
            self.kilobytes = kilobytes
            self.accuracy = accuracy
            self.label = label
        }
    }

    public var title: String
    public var points: [Point]
    public var width = 800.0, height = 600.0

    public init(title: String, points: [Point]) {
        self.title = title
        self.points = points
    }

    public var svg: String {
        let canvas = PlotCanvas(width: width, height: height)
        let left = canvas.left, top = canvas.top, plotW = canvas.plotWidth, plotH = canvas.plotHeight
        let sizes = points.map { max($0.kilobytes, 1e-3) }
        // Whole decades around the sizes.
        let lo = floor(log10(sizes.min() ?? 1)), hi = max(ceil(log10(sizes.max() ?? 10)), lo + 1)
        let (yMin, yMax) = ParetoPlot.range(points.map(\.accuracy), floor: nil)
        let x = { (kb: Double) in left + (log10(max(kb, 1e-3)) - lo) / (hi - lo) * plotW }
        let y = { (v: Double) in top + (1 - (v - yMin) / (yMax - yMin)) * plotH }
        var out = canvas.header(title)
        var decade = lo
        while decade <= hi {
            let kb = pow(10, decade)
            out += canvas.verticalGrid(x(kb), label: kb >= 1 ? String(Int(kb.rounded())) : ParetoPlot.format(kb))
            decade += 1
        }
        out += canvas.frame(yMin: yMin, yMax: yMax, y: y, xTitle: "weight storage (KB, log scale)", yTitle: "test accuracy")
        // Labels beside their points, moved up or down past labels already placed (the codebook
        // and quantised variants crowd one corner); in the right third they go left of the point.
        var placed: [(x0: Double, x1: Double, y0: Double, y1: Double)] = []
        for p in points.sorted(by: { ($0.accuracy, $0.kilobytes) > ($1.accuracy, $1.kilobytes) }) {
            let px = x(p.kilobytes), py = y(p.accuracy)
            let onLeft = px > left + plotW * 0.66
            let width = 6.8 * Double(p.label.count)
            let x0 = onLeft ? px - 8 - width : px + 8
            var labelY = py - 8
            for shift in [0.0, 15, -15, 30, -30, 45, -45, 60, -60] {
                let candidate = py - 8 + shift
                if !placed.contains(where: { $0.x0 < x0 + width && x0 < $0.x1 && $0.y0 < candidate + 3 && candidate - 12 < $0.y1 }) {
                    labelY = candidate
                    break
                }
            }
            placed.append((x0, x0 + width, labelY - 12, labelY + 3))
            out.append(##"<circle cx="\##(px)" cy="\##(py)" r="5" fill="#1f77b4"/>"##)
            if labelY != py - 8 {
                out.append(##"<line x1="\##(px)" y1="\##(py)" x2="\##(onLeft ? x0 + width : x0)" y2="\##(labelY - 4)" stroke="#999999"/>"##)
            }
            out.append(##"<text x="\##(x0)" y="\##(labelY)" font-size="12">\##(ParetoPlot.escape(p.label))</text>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
