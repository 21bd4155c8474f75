import Foundation

/// What `pareto.svg` and `compression.svg` share: an 800×600 white page
/// with a title, a framed plot area, horizontal grid lines with their
/// labels, and axis titles. Each plot draws its own x axis and points.
struct PlotCanvas {
    let width, height: Double
    let left = 80.0, right = 30.0, top = 50.0, bottom = 70.0

    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }

    /// The page and the title: the SVG's opening lines.
    func header(_ title: String) -> [String] {
        [
            ##"<?xml version="1.0" encoding="UTF-8"?>"##,
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
            ##"<text x="\##(width / 2)" y="28" font-size="18" text-anchor="middle">\##(ParetoPlot.escape(title))</text>"##,
        ]
    }

    /// A vertical grid line at `x` with its label under the plot.
    func verticalGrid(_ x: Double, label: String) -> [String] {
        [
            ##"<line x1="\##(x)" y1="\##(top)" x2="\##(x)" y2="\##(top + plotHeight)" stroke="#eeeeee"/>"##,
            ##"<text x="\##(x)" y="\##(top + plotHeight + 20)" font-size="13" text-anchor="middle">\##(label)</text>"##,
        ]
    }

    /// Horizontal grid lines at round values of `yMin...yMax`, placed by `y`, then the frame and both axis titles.
    func frame(yMin: Double, yMax: Double, y: (Double) -> Double, xTitle: String, yTitle: String) -> [String] {
        var out: [String] = []
        for t in ParetoPlot.ticks(yMin, yMax) {
            out.append(##"<line x1="\##(left)" y1="\##(y(t))" x2="\##(left + plotWidth)" y2="\##(y(t))" stroke="#eeeeee"/>"##)
            out.append(##"<text x="\##(left - 8)" y="\##(y(t) + 4)" font-size="13" text-anchor="end">\##(ParetoPlot.format(t))</text>"##)
        }
        out.append(##"<rect x="\##(left)" y="\##(top)" width="\##(plotWidth)" height="\##(plotHeight)" fill="none" stroke="black"/>"##)
        out.append(##"<text x="\##(left + plotWidth / 2)" y="\##(height - 22)" font-size="15" text-anchor="middle">\##(xTitle)</text>"##)
        out.append(##"<text transform="translate(22 \##(top + plotHeight / 2)) rotate(-90)" font-size="15" text-anchor="middle">\##(yTitle)</text>"##)
        return out
    }
}
