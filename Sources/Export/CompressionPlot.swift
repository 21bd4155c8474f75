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
        // Each label goes to the first free place beside its point, nearest first: right or left
        // (left first in the right third), then moved up or down in steps of a line, inside the
        // frame and clear of the labels already placed and of every point. Codebook and
        // quantised variants crowd one corner, so a moved label keeps a leader line to its point.
        let dots = points.map { (x(max($0.kilobytes, 1e-3)), y($0.accuracy)) }
        var placed: [(x0: Double, x1: Double, y0: Double, y1: Double)] = []
        func free(_ x0: Double, _ x1: Double, _ y0: Double, _ y1: Double) -> Bool {
            x0 >= left && x1 <= left + plotW && y0 >= top && y1 <= top + plotH
                && !placed.contains { $0.x0 < x1 && x0 < $0.x1 && $0.y0 < y1 && y0 < $0.y1 }
                && !dots.contains { $0.0 + 6 > x0 && $0.0 - 6 < x1 && $0.1 + 6 > y0 && $0.1 - 6 < y1 }
        }
        let order = points.indices.sorted { (points[$0].accuracy, points[$0].kilobytes) > (points[$1].accuracy, points[$1].kilobytes) }
        for i in order {
            let p = points[i], (px, py) = dots[i]
            let width = 6.8 * Double(p.label.count)
            let sides = px > left + plotW * 0.66 ? [false, true] : [true, false]
            var choice = (x0: sides[0] ? px + 8 : px - 8 - width, y: py + 4)
            search: for step in 0...24 {
                let shift = Double((step + 1) / 2) * (step % 2 == 0 ? 15 : -15)
                for right in sides {
                    let x0 = right ? px + 8 : px - 8 - width, labelY = py + 4 + shift
                    if free(x0, x0 + width, labelY - 12, labelY + 3) {
                        choice = (x0, labelY)
                        break search
                    }
                }
            }
            placed.append((choice.x0, choice.x0 + width, choice.y - 12, choice.y + 3))
            out.append(##"<circle cx="\##(px)" cy="\##(py)" r="5" fill="#1f77b4"/>"##)
            if choice.y != py + 4 {
                let end = choice.x0 > px ? choice.x0 : choice.x0 + width
                out.append(##"<line x1="\##(px)" y1="\##(py)" x2="\##(end)" y2="\##(choice.y - 4)" stroke="#999999"/>"##)
            }
            out.append(##"<text x="\##(choice.x0)" y="\##(choice.y)" font-size="12">\##(ParetoPlot.escape(p.label))</text>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
