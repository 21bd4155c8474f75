import Foundation
import GSLNumerics

/// MnasNet's controller network: an LSTM that emits one token per decision
/// of the search space. Step t reads the embedding of the token chosen at
/// t − 1 (a learnt start vector at t = 0) and predicts decision t through its
/// own softmax head. Parameters live in one flat vector so the optimiser and
/// checkpoints see a single array; `gradient(of:)` is backpropagation through
/// time, checked against finite differences in the tests.
struct PolicyNetwork {
    let sizes: [Int]
    let hidden: Int
    var parameters: [Double]

    /// Offsets of each block in `parameters`.
    private let layout: Layout

    private struct Layout {
        let start: Int, embedding: Int, weights: Int, bias: Int, heads: Int, headBias: Int, count: Int
        let offsets: [Int]  // first row of each decision in the embedding and head tables
    }

    init(sizes: [Int], hidden: Int, stream: RandomStream) {
        self.sizes = sizes
        self.hidden = hidden
        var offsets: [Int] = []
        var rows = 0
        for size in sizes { offsets.append(rows); rows += size }
        let h = hidden
        let start = 0, embedding = start + h, weights = embedding + rows * h, bias = weights + 4 * h * 2 * h
        let heads = bias + 4 * h, headBias = heads + rows * h
        layout = Layout(start: start, embedding: embedding, weights: weights, bias: bias, heads: heads, headBias: headBias,
                        count: headBias + rows, offsets: offsets)
        // Small uniform initialisation, as ENAS and MnasNet do; forget-gate bias 1.
        parameters = (0..<layout.count).map { _ in stream.uniform(-0.1, 0.1) }
        for j in 0..<h { parameters[bias + h + j] = 1 }
        for j in 0..<rows { parameters[headBias + j] = 0 }
    }

    var parameterCount: Int { layout.count }

    private struct Step {
        var input: [Double], previousHidden: [Double], previousCell: [Double]
        var i: [Double], f: [Double], g: [Double], o: [Double], cell: [Double], hidden: [Double]
        var probabilities: [Double]
    }

    /// Runs the LSTM along a sequence. With `sample`, each token is drawn from
    /// the softmax (one uniform per decision); otherwise `tokens` are followed.
    /// Returns the tokens, Σ log-probabilities and the cached steps.
    private func unroll(tokens given: [Int]?, sample stream: RandomStream?) -> ([Int], Double, [Step]) {
        let h = hidden, p = parameters, l = layout
        var x = Array(p[l.start..<(l.start + h)])
        var hPrev = [Double](repeating: 0, count: h), cPrev = hPrev
        var tokens: [Int] = [], logProbability = 0.0, steps: [Step] = []
        for (d, size) in sizes.enumerated() {
            var z = Array(p[l.bias..<(l.bias + 4 * h)])
            for r in 0..<(4 * h) {
                let row = l.weights + r * 2 * h
                var sum = 0.0
                for k in 0..<h { sum += p[row + k] * x[k] + p[row + h + k] * hPrev[k] }
                z[r] += sum
            }
            let sigmoid = { (v: Double) in 1 / (1 + exp(-v)) }
            let i = (0..<h).map { sigmoid(z[$0]) }, f = (0..<h).map { sigmoid(z[h + $0]) }
            let g = (0..<h).map { tanh(z[2 * h + $0]) }, o = (0..<h).map { sigmoid(z[3 * h + $0]) }
            let c = (0..<h).map { f[$0] * cPrev[$0] + i[$0] * g[$0] }
            let hNew = (0..<h).map { o[$0] * tanh(c[$0]) }
            var logits = (0..<size).map { a -> Double in
                let row = l.heads + (l.offsets[d] + a) * h
                return p[l.headBias + l.offsets[d] + a] + (0..<h).reduce(0.0) { $0 + p[row + $1] * hNew[$1] }
            }
            let maximum = logits.max()!
            logits = logits.map { exp($0 - maximum) }
            let total = logits.reduce(0, +)
            let probabilities = logits.map { $0 / total }
            let token: Int
            if let stream {
                // Inverse CDF with one uniform: a fixed number of draws per decision.
                let u = stream.uniform()
                var acc = 0.0, chosen = size - 1
                for a in 0..<size { acc += probabilities[a]; if u < acc { chosen = a; break } }
                token = chosen
            } else {
                token = given![d]
            }
            tokens.append(token)
            logProbability += log(max(probabilities[token], 1e-300))
            steps.append(Step(input: x, previousHidden: hPrev, previousCell: cPrev, i: i, f: f, g: g, o: o, cell: c,
                              hidden: hNew, probabilities: probabilities))
            x = Array(p[(l.embedding + (l.offsets[d] + token) * h)..<(l.embedding + (l.offsets[d] + token + 1) * h)])
            hPrev = hNew
            cPrev = c
        }
        return (tokens, logProbability, steps)
    }

    func sample(_ stream: RandomStream) -> (tokens: [Int], logProbability: Double) {
        let (tokens, logProbability, _) = unroll(tokens: nil, sample: stream)
        return (tokens, logProbability)
    }

    func logProbability(_ tokens: [Int]) -> Double { unroll(tokens: tokens, sample: nil).1 }

    /// Σ log-probability of `tokens` and its gradient with respect to every parameter.
    func gradient(of tokens: [Int]) -> (logProbability: Double, gradient: [Double]) {
        let (_, logProbability, steps) = unroll(tokens: tokens, sample: nil)
        let h = hidden, p = parameters, l = layout
        var grad = [Double](repeating: 0, count: l.count)
        var dhNext = [Double](repeating: 0, count: h), dcNext = dhNext
        var dxNext = [Double](repeating: 0, count: h)  // gradient reaching step t+1's input
        for d in stride(from: sizes.count - 1, through: 0, by: -1) {
            let s = steps[d], size = sizes[d]
            // The next step's input is this step's token embedding.
            if d + 1 < sizes.count {
                let row = l.embedding + (l.offsets[d] + tokens[d]) * h
                for k in 0..<h { grad[row + k] += dxNext[k] }
            }
            // Softmax head: ∂ log p[a] / ∂ logits = onehot(a) − p.
            var dh = dhNext
            for a in 0..<size {
                let dLogit = (a == tokens[d] ? 1 : 0) - s.probabilities[a]
                grad[l.headBias + l.offsets[d] + a] += dLogit
                let row = l.heads + (l.offsets[d] + a) * h
                for k in 0..<h {
                    grad[row + k] += dLogit * s.hidden[k]
                    dh[k] += dLogit * p[row + k]
                }
            }
            // LSTM cell.
            var dz = [Double](repeating: 0, count: 4 * h)
            var dcPrev = [Double](repeating: 0, count: h)
            for k in 0..<h {
                let tc = tanh(s.cell[k])
                let dc = dcNext[k] + dh[k] * s.o[k] * (1 - tc * tc)
                dz[k] = dc * s.g[k] * s.i[k] * (1 - s.i[k])
                dz[h + k] = dc * s.previousCell[k] * s.f[k] * (1 - s.f[k])
                dz[2 * h + k] = dc * s.i[k] * (1 - s.g[k] * s.g[k])
                dz[3 * h + k] = dh[k] * tc * s.o[k] * (1 - s.o[k])
                dcPrev[k] = dc * s.f[k]
            }
            var dx = [Double](repeating: 0, count: h), dhPrev = [Double](repeating: 0, count: h)
            for r in 0..<(4 * h) where dz[r] != 0 {
                grad[l.bias + r] += dz[r]
                let row = l.weights + r * 2 * h
                for k in 0..<h {
                    grad[row + k] += dz[r] * s.input[k]
                    grad[row + h + k] += dz[r] * s.previousHidden[k]
                    dx[k] += dz[r] * p[row + k]
                    dhPrev[k] += dz[r] * p[row + h + k]
                }
            }
            if d == 0 {
                for k in 0..<h { grad[l.start + k] += dx[k] }
            }
            dxNext = dx
            dhNext = dhPrev
            dcNext = dcPrev
        }
        return (logProbability, grad)
    }
}
