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
        let left = 80.0, right = 40.0, top = 50.0, bottom = 70.0
        let plotW = width - left - right, plotH = height - top - bottom
        let sizes = points.map { max($0.kilobytes, 1e-3) }
        // Whole decades around the sizes.
        let lo = floor(log10(sizes.min() ?? 1)), hi = max(ceil(log10(sizes.max() ?? 10)), lo + 1)
        let (yMin, yMax) = ParetoPlot.range(points.map(\.accuracy), floor: nil)
        let x = { (kb: Double) in left + (log10(max(kb, 1e-3)) - lo) / (hi - lo) * plotW }
        let y = { (v: Double) in top + (1 - (v - yMin) / (yMax - yMin)) * plotH }
        var out = [
            ##"<?xml version="1.0" encoding="UTF-8"?>"##,
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
            ##"<text x="\##(width / 2)" y="28" font-size="18" text-anchor="middle">\##(ParetoPlot.escape(title))</text>"##,
        ]
        var decade = lo
        while decade <= hi {
            let kb = pow(10, decade)
            out.append(##"<line x1="\##(x(kb))" y1="\##(top)" x2="\##(x(kb))" y2="\##(top + plotH)" stroke="#eeeeee"/>"##)
            out.append(##"<text x="\##(x(kb))" y="\##(top + plotH + 20)" font-size="13" text-anchor="middle">\##(ParetoPlot.format(kb))</text>"##)
            decade += 1
        }
        for t in ParetoPlot.ticks(yMin, yMax) {
            out.append(##"<line x1="\##(left)" y1="\##(y(t))" x2="\##(left + plotW)" y2="\##(y(t))" stroke="#eeeeee"/>"##)
            out.append(##"<text x="\##(left - 8)" y="\##(y(t) + 4)" font-size="13" text-anchor="end">\##(ParetoPlot.format(t))</text>"##)
        }
        out.append(##"<rect x="\##(left)" y="\##(top)" width="\##(plotW)" height="\##(plotH)" fill="none" stroke="black"/>"##)
        out.append(##"<text x="\##(left + plotW / 2)" y="\##(height - 22)" font-size="15" text-anchor="middle">weight storage (KB, log scale)</text>"##)
        out.append(##"<text transform="translate(22 \##(top + plotH / 2)) rotate(-90)" font-size="15" text-anchor="middle">test accuracy</text>"##)
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
