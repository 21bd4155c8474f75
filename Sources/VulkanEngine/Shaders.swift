import SearchSpace

/// The compute shaders, GLSL 4.50, compiled to SPIR-V with glslc at first use
/// (`ShaderCompiler`) and cached by a hash of their text, so a stale binary
/// is never run. Tensors are plain NCHW float buffers of one image.
///
/// Every shader uses one descriptor layout and one push-constant block, so a
/// single pipeline layout serves them all: binding 0 is the output (a
/// storage buffer); bindings 1–4 are read as texel buffers: input, weights,
/// bias, second input (residual, SE gate or the add's other operand).
/// Reads go through texel fetches rather than storage-buffer loads because
/// that is what a CPU device does well: lavapipe (Mesa 22) loads a storage
/// buffer lane by lane, with a bounds check and a branch per lane, whenever
/// the offset is not provably the same in every invocation, while a texel
/// fetch is one vector gather. Measured on mbv2-fm: 93 ms with storage
/// reads, 23 ms with the pointwise inputs through texel buffers. A GPU reads
/// texel buffers through its texture cache, so nothing is lost there.
///
/// Activations: 0 none, 1 ReLU6, 2 ReLU, 3 sigmoid; applied before the
/// residual add, as the IR orders them.
enum Shaders {
    /// `OUT(v)` stores in the output's precision: fp32, or fp16 (16-bit
    /// storage; the arithmetic stays fp32).
    static func header(localSize: String) -> String {
        """
        #version 450
        #ifdef FP16
        #extension GL_EXT_shader_16bit_storage : require
        #define VALUE float16_t
        #define OUT(v) float16_t(v)
        #else
        #define VALUE float
        #define OUT(v) (v)
        #endif
        layout(\(localSize)) in;
        layout(std430, set = 0, binding = 0) writeonly buffer Output { VALUE y[]; };
        layout(set = 0, binding = 1) uniform samplerBuffer X;
        layout(set = 0, binding = 2) uniform samplerBuffer W;
        layout(set = 0, binding = 3) uniform samplerBuffer B;
        layout(set = 0, binding = 4) uniform samplerBuffer R;
        layout(push_constant) uniform Parameters {
            int inC, inH, inW, outC, outH, outW, kH, kW, stride, padH, padW, groups, activation, residual, count, mode;
        } p;

        float x(int i) { return texelFetch(X, i).x; }
        float w(int i) { return texelFetch(W, i).x; }
        float b(int i) { return texelFetch(B, i).x; }
        float r(int i) { return texelFetch(R, i).x; }

        float activate(float v) {
            if (p.activation == 1) return clamp(v, 0.0, 6.0);
            if (p.activation == 2) return max(v, 0.0);
            if (p.activation == 3) return 1.0 / (1.0 + exp(-v));
            return v;
        }

        /// The step's activation, then its residual add; stored at `i`.
        void store(int i, float v) {
            v = activate(v);
            if (p.residual != 0) v += r(i);
            y[i] = OUT(v);
        }

        /// Input value `ix` of the row starting at `row`, zero in the padding:
        /// read from a clamped address and masked, so no lane branches.
        float padded(int row, int ix) {
            return x(row + clamp(ix, 0, p.inW - 1)) * float(ix >= 0 && ix < p.inW);
        }

        /// One pixel's 16 output channels of block `block` (accumulated in
        /// four vec4s), each with its bias, stored as far as the channels go.
        void storeBlock(int block, int pixel, vec4 a0, vec4 a1, vec4 a2, vec4 a3) {
            float acc[16] = float[16](a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w,
                                      a2.x, a2.y, a2.z, a2.w, a3.x, a3.y, a3.z, a3.w);
            int area = p.outH * p.outW;
            for (int j = 0; j < 16; j++) {
                int oc = block * 16 + j;
                if (oc >= p.outC) break;
                store(oc * area + pixel, acc[j] + b(oc));
            }
        }

        """
    }

    /// Spatial shaders run 8×8 output pixels per workgroup, one channel
    /// (`gl_GlobalInvocationID.z`) each: no division to find a pixel.
    static let spatial = "local_size_x = 8, local_size_y = 8"
    static let flat = "local_size_x = 64"

    /// A dense convolution (k×k or 1×k / k×1, any stride): an invocation
    /// computes one pixel's 16 output channels (the block `gl_WorkGroupID.z`),
    /// so each input value feeds 16 multiply-adds. Weights are laid out
    /// [outC/16][inC][kH][kW][16], zero-padded, read as vec4 texels.
    static let convolution = header(localSize: spatial) + """
    void main() {
        int ox = int(gl_GlobalInvocationID.x), oy = int(gl_GlobalInvocationID.y), block = int(gl_WorkGroupID.z);
        if (ox >= p.outW || oy >= p.outH) return;
        vec4 a0 = vec4(0.0), a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
        int taps = p.kH * p.kW;
        for (int ic = 0; ic < p.inC; ic++) {
            int k0 = ((block * p.inC + ic) * taps) * 4;
            for (int ky = 0; ky < p.kH; ky++) {
                int iy = oy * p.stride - p.padH + ky;
                if (iy < 0 || iy >= p.inH) continue;
                int row = (ic * p.inH + iy) * p.inW;
                for (int kx = 0; kx < p.kW; kx++) {
                    float v = padded(row, ox * p.stride - p.padW + kx);
                    int k = k0 + (ky * p.kW + kx) * 4;
                    a0 += v * texelFetch(W, k); a1 += v * texelFetch(W, k + 1);
                    a2 += v * texelFetch(W, k + 2); a3 += v * texelFetch(W, k + 3);
                }
            }
        }
        storeBlock(block, oy * p.outW + ox, a0, a1, a2, a3);
    }
    """

    /// Depthwise (groups = channels): an invocation computes four horizontally
    /// adjacent outputs of one channel, so each weight it fetches serves four.
    /// Invocations run along rows, then channels, one flat index: neighbouring
    /// lanes read neighbouring pixels (on lavapipe a gather of scattered
    /// addresses cost 3× one of neighbours) and a 7×7 map fills the lanes as
    /// well as a 28×28 one. The index is split with float division, exact
    /// below 2^22 invocations, because integer division runs lane by lane.
    static let depthwise = header(localSize: flat) + """
    int divide(int a, int b) { return int((float(a) + 0.5) / float(b)); }

    void main() {
        int quads = (p.outW + 3) / 4, perChannel = quads * p.outH;
        int index = int(gl_GlobalInvocationID.x);
        if (index >= perChannel * p.outC) return;
        int c = divide(index, perChannel), inChannel = index - c * perChannel;
        int oy = divide(inChannel, quads), ox0 = (inChannel - oy * quads) * 4;
        vec4 acc = vec4(b(c));
        int s = p.stride;
        for (int ky = 0; ky < p.kH; ky++) {
            int iy = oy * s - p.padH + ky;
            if (iy < 0 || iy >= p.inH) continue;
            int row = (c * p.inH + iy) * p.inW;
            for (int kx = 0; kx < p.kW; kx++) {
                float wv = w((c * p.kH + ky) * p.kW + kx);
                int ix = ox0 * s - p.padW + kx;
                acc += wv * vec4(padded(row, ix), padded(row, ix + s), padded(row, ix + 2 * s), padded(row, ix + 3 * s));
            }
        }
        int base = (c * p.outH + oy) * p.outW + ox0;
        for (int q = 0; q < 4; q++) {
            if (ox0 + q < p.outW) store(base + q, acc[q]);
        }
    }
    """

    /// Pointwise 1×1, stride 1: a matrix product over channels. An invocation
    /// computes one pixel's 16 output channels (the block `gl_WorkGroupID.y`),
    /// so each input value it fetches feeds 16 multiply-adds. Weights are laid
    /// out [outC/16][inC][16], zero-padded, and read as vec4 texels.
    static let pointwise = header(localSize: flat) + """
    void main() {
        int pixel = int(gl_GlobalInvocationID.x);
        int area = p.outH * p.outW;
        if (pixel >= area) return;
        int block = int(gl_WorkGroupID.y);
        vec4 a0 = vec4(0.0), a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
        int base = block * p.inC * 4;
        for (int ic = 0; ic < p.inC; ic++) {
            float v = x(ic * area + pixel);
            int k = base + ic * 4;
            a0 += v * texelFetch(W, k); a1 += v * texelFetch(W, k + 1);
            a2 += v * texelFetch(W, k + 2); a3 += v * texelFetch(W, k + 3);
        }
        storeBlock(block, pixel, a0, a1, a2, a3);
    }
    """

    /// Global average pooling: one invocation per channel.
    static let pool = header(localSize: flat) + """
    void main() {
        int c = int(gl_GlobalInvocationID.x);
        if (c >= p.inC) return;
        int area = p.inH * p.inW;
        float sum = 0.0;
        for (int j = 0; j < area; j++) sum += x(c * area + j);
        y[c] = OUT(sum / float(area));
    }
    """

    /// Fully connected: y = W x + b.
    static let linear = header(localSize: flat) + """
    void main() {
        int o = int(gl_GlobalInvocationID.x);
        if (o >= p.outC) return;
        int n = p.inC * p.inH * p.inW;
        float acc = b(o);
        for (int j = 0; j < n; j++) acc += w(o * n + j) * x(j);
        y[o] = OUT(acc);
    }
    """

    /// Element-wise, one channel per `gl_GlobalInvocationID.y`: `mode` 0 =
    /// act(x · R[c]) (SE channel scale), 1 = act(x + R) (add), 2 = act(x · W[c]
    /// + B[c]) (a lone BN), 3 = act(x). With `residual`, the residual add reads
    /// binding 3 (B) as the tensor to add, since R is taken.
    static let elementwise = header(localSize: flat) + """
    void main() {
        int area = p.inH * p.inW;
        int pixel = int(gl_GlobalInvocationID.x), c = int(gl_GlobalInvocationID.y);
        if (pixel >= area) return;
        int i = c * area + pixel;
        float v = x(i);
        if (p.mode == 0) v = v * r(c);
        else if (p.mode == 1) v = v + r(i);
        else if (p.mode == 2) v = v * w(c) + b(c);
        v = activate(v);
        if (p.residual != 0) v += b(i);
        y[i] = OUT(v);
    }
    """

    /// Changes whenever a shader does: part of the device fingerprint, so
    /// latencies measured with other shaders are never mixed with these.
    static let revision = String(Architecture.hashText(all.map(\.source).joined(separator: "\n")).prefix(8))

    /// Shader `name`'s text for `precision`.
    static func source(_ name: String, precision: VulkanPrecision) -> String? {
        guard let text = all.first(where: { $0.name == name })?.source else { return nil }
        return precision == .fp16 ? text.replacingOccurrences(of: "#version 450\n", with: "#version 450\n#define FP16\n") : text
    }

    static let all: [(name: String, source: String)] = [
        ("convolution", convolution), ("depthwise", depthwise), ("pointwise", pointwise),
        ("pool", pool), ("linear", linear), ("elementwise", elementwise),
    ]
}
