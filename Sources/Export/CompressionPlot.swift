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
            out += canvas.verticalGrid(x(pow(10, decade)), label: ParetoPlot.format(pow(10, decade)))
            decade += 1
        }
        out += canvas.frame(yMin: yMin, yMax: yMax, y: y, xTitle: "weight storage (KB, log scale)", yTitle: "test accuracy")
        for p in points {
            // Labels go left of points in the right third, so they stay inside the frame.
            let onLeft = x(p.kilobytes) > left + plotW * 0.66
            out.append(##"<circle cx="\##(x(p.kilobytes))" cy="\##(y(p.accuracy))" r="5" fill="#1f77b4"/>"##)
            out.append(##"<text x="\##(x(p.kilobytes) + (onLeft ? -8 : 8))" y="\##(y(p.accuracy) - 8)" font-size="12" text-anchor="\##(onLeft ? "end" : "start")">\##(ParetoPlot.escape(p.label))</text>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
