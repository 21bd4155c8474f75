/// The compute shaders, GLSL 4.50, compiled to SPIR-V with glslc at first use
/// (`ShaderCompiler`) and cached by a hash of their text, so a stale binary
/// is never run. Tensors are plain NCHW float buffers of one image.
///
/// Every shader uses one descriptor layout (bindings 0–4: input, weights,
/// bias, output, second input / residual) and one push-constant block, so a
/// single pipeline layout serves them all. Activations: 0 none, 1 ReLU6,
/// 2 ReLU, 3 sigmoid; applied before the residual add, as the IR orders them.
enum Shaders {
    static let common = """
    #version 450
    layout(local_size_x = 64) in;
    layout(std430, set = 0, binding = 0) readonly buffer Input { float x[]; };
    layout(std430, set = 0, binding = 1) readonly buffer Weights { float w[]; };
    layout(std430, set = 0, binding = 2) readonly buffer Bias { float b[]; };
    layout(std430, set = 0, binding = 3) writeonly buffer Output { float y[]; };
    layout(std430, set = 0, binding = 4) readonly buffer Second { float r[]; };
    layout(push_constant) uniform Parameters {
        int inC, inH, inW, outC, outH, outW, kH, kW, stride, padH, padW, groups, activation, residual, count, unused;
    } p;

    float activate(float v) {
        if (p.activation == 1) return clamp(v, 0.0, 6.0);
        if (p.activation == 2) return max(v, 0.0);
        if (p.activation == 3) return 1.0 / (1.0 + exp(-v));
        return v;
    }

    """

    /// Any convolution: full, grouped, k×k or 1×k / k×1, any stride. One invocation per output element.
    static let convolution = common + """
    void main() {
        int i = int(gl_GlobalInvocationID.x);
        if (i >= p.outC * p.outH * p.outW) return;
        int ox = i % p.outW, oy = (i / p.outW) % p.outH, oc = i / (p.outW * p.outH);
        int inPerGroup = p.inC / p.groups, outPerGroup = p.outC / p.groups;
        int c0 = (oc / outPerGroup) * inPerGroup;
        float acc = b[oc];
        for (int ic = 0; ic < inPerGroup; ic++) {
            for (int ky = 0; ky < p.kH; ky++) {
                int iy = oy * p.stride - p.padH + ky;
                if (iy < 0 || iy >= p.inH) continue;
                for (int kx = 0; kx < p.kW; kx++) {
                    int ix = ox * p.stride - p.padW + kx;
                    if (ix < 0 || ix >= p.inW) continue;
                    acc += x[((c0 + ic) * p.inH + iy) * p.inW + ix] * w[((oc * inPerGroup + ic) * p.kH + ky) * p.kW + kx];
                }
            }
        }
        acc = activate(acc);
        if (p.residual != 0) acc += r[i];
        y[i] = acc;
    }
    """

    /// Depthwise (groups = channels): each output reads one input channel.
    static let depthwise = common + """
    void main() {
        int i = int(gl_GlobalInvocationID.x);
        if (i >= p.outC * p.outH * p.outW) return;
        int ox = i % p.outW, oy = (i / p.outW) % p.outH, c = i / (p.outW * p.outH);
        float acc = b[c];
        for (int ky = 0; ky < p.kH; ky++) {
            int iy = oy * p.stride - p.padH + ky;
            if (iy < 0 || iy >= p.inH) continue;
            for (int kx = 0; kx < p.kW; kx++) {
                int ix = ox * p.stride - p.padW + kx;
                if (ix < 0 || ix >= p.inW) continue;
                acc += x[(c * p.inH + iy) * p.inW + ix] * w[(c * p.kH + ky) * p.kW + kx];
            }
        }
        acc = activate(acc);
        if (p.residual != 0) acc += r[i];
        y[i] = acc;
    }
    """

    /// Pointwise 1×1, stride 1: a matrix product over channels.
    static let pointwise = common + """
    void main() {
        int i = int(gl_GlobalInvocationID.x);
        int area = p.outH * p.outW;
        if (i >= p.outC * area) return;
        int pixel = i % area, oc = i / area;
        float acc = b[oc];
        for (int ic = 0; ic < p.inC; ic++) acc += x[ic * area + pixel] * w[oc * p.inC + ic];
        acc = activate(acc);
        if (p.residual != 0) acc += r[i];
        y[i] = acc;
    }
    """

    /// Global average pooling: one invocation per channel.
    static let pool = common + """
    void main() {
        int c = int(gl_GlobalInvocationID.x);
        if (c >= p.inC) return;
        int area = p.inH * p.inW;
        float sum = 0.0;
        for (int j = 0; j < area; j++) sum += x[c * area + j];
        y[c] = sum / float(area);
    }
    """

    /// Fully connected: y = W x + b.
    static let linear = common + """
    void main() {
        int o = int(gl_GlobalInvocationID.x);
        if (o >= p.outC) return;
        int n = p.inC * p.inH * p.inW;
        float acc = b[o];
        for (int j = 0; j < n; j++) acc += w[o * n + j] * x[j];
        y[o] = acc;
    }
    """

    /// Element-wise: mode (in `groups`) 0 = act(x · r[c]) (SE channel scale),
    /// 1 = act(x + r) (add), 2 = act(x · w[c] + b[c]) (a lone BN), 3 = act(x).
    /// With `residual`, the residual add reads binding 2 (bias) as the tensor to add.
    static let elementwise = common + """
    void main() {
        int i = int(gl_GlobalInvocationID.x);
        if (i >= p.count) return;
        int c = i / (p.inH * p.inW);
        float v = x[i];
        if (p.groups == 0) v = v * r[c];
        else if (p.groups == 1) v = v + r[i];
        else if (p.groups == 2) v = v * w[c] + b[c];
        v = activate(v);
        if (p.residual != 0) v += b[i];
        y[i] = v;
    }
    """

    static let all: [(name: String, source: String)] = [
        ("convolution", convolution), ("depthwise", depthwise), ("pointwise", pointwise),
        ("pool", pool), ("linear", linear), ("elementwise", elementwise),
    ]
}
