import CVulkan
public import Model
public import SearchSpace

/// The IR in inference mode as Vulkan compute dispatches: the Vulkan latency
/// engine. It lowers the same `InferencePlan` as the CPU engine (BN folded,
/// activation and residual add fused into the step before them), allocates
/// every buffer once and records every dispatch into one command buffer, with
/// a barrier between dependent dispatches and timestamps around the whole.
public final class VulkanNetwork {
    public let network: Network
    public let precision: VulkanPrecision
    let context: VulkanContext
    private let input: VulkanBuffer
    private var outputs: [Int: VulkanBuffer] = [:]
    private var constants: [VulkanBuffer] = []
    private let dummy: VulkanBuffer
    private var descriptorPool: VkDescriptorPool?
    private var commandBuffer: VkCommandBuffer?
    private var fence: VkFence?
    private var queryPool: VkQueryPool?
    /// GPU time of the last `run()`, from timestamps; nil where the queue has none.
    public private(set) var gpuMilliseconds: Double?
    /// With `timingEachDispatch`, each dispatch's GPU time in the last `run()`,
    /// in the order of `dispatchLabels`; empty otherwise.
    public private(set) var dispatchMilliseconds: [Double] = []
    /// What each dispatch computes: its shader and the layer's shape.
    public private(set) var dispatchLabels: [String] = []
    private let timingEachDispatch: Bool
    private var timestamps: Int { timingEachDispatch ? dispatchLabels.count + 1 : 2 }

    private struct Dispatch {
        let pipeline: String
        let output: VulkanBuffer
        /// What bindings 1–4 read (input, weights, bias, second input), one value or a vec4 per texel; nil: nothing.
        let reads: [(buffer: VulkanBuffer, vec4: Bool)?]
        let parameters: [Int32]
        /// Workgroups along x, y and z.
        let groups: (x: Int, y: Int, z: Int)

        var label: String {
            let p = parameters
            return "\(pipeline) \(p[0])×\(p[1])×\(p[2]) → \(p[3])×\(p[4])×\(p[5]) k\(p[6])×\(p[7]) s\(p[8])"
        }
    }

    /// `timingEachDispatch` writes a timestamp after every dispatch (a profile
    /// of where the time goes; the timestamps' own cost is in the figures).
    public init(plan: InferencePlan, context: VulkanContext, precision: VulkanPrecision = .fp32,
                timingEachDispatch: Bool = false) throws(VulkanError) {
        guard precision == .fp32 || context.supportsFP16 else {
            throw .unsupported(reason: "\(context.deviceName) has no 16-bit storage buffers or 16-bit texel formats; use --precision fp32")
        }
        guard !plan.transformsActivations else {
            throw .unsupported(reason: "the shaders compute activations in float; a model with quantised or binary activations runs on the CPU engine and in onnxruntime")
        }
        network = plan.network
        self.precision = precision
        self.context = context
        self.timingEachDispatch = timingEachDispatch
        input = try VulkanBuffer(count: network.input.elements, precision: precision, context: context)
        dummy = try VulkanBuffer(count: 4, precision: precision, context: context)
        outputs[-1] = input  // a unit's residual add may read the network input
        var dispatches: [Dispatch] = []
        for step in plan.steps { dispatches.append(try lower(step)) }
        dispatchLabels = dispatches.map(\.label)
        try record(dispatches)
    }

    deinit {
        vkDeviceWaitIdle(context.device)
        if let queryPool { vkDestroyQueryPool(context.device, queryPool, nil) }
        if let fence { vkDestroyFence(context.device, fence, nil) }
        if commandBuffer != nil { vkFreeCommandBuffers(context.device, context.commandPool, 1, &commandBuffer) }
        if let descriptorPool { vkDestroyDescriptorPool(context.device, descriptorPool, nil) }
    }

    /// Gives `body` one image, C×H×W, to fill before `run()`. The buffer is
    /// valid inside `body` only (in fp16, a staging copy stored when it returns).
    package func withInput<Result>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> Result) rethrows -> Result {
        let count = network.input.elements
        if let floats = input.floats { return try body(UnsafeMutableBufferPointer(start: floats, count: count)) }
        var staging = [Float](repeating: 0, count: count)
        let result = try staging.withUnsafeMutableBufferPointer { try body($0) }
        input.write(staging)
        return result
    }

    /// Sets the image from C×H×W values.
    public func setInput(_ values: [Float]) {
        precondition(values.count == network.input.elements, "an input of \(values.count) values for a buffer of \(network.input.elements)")
        input.write(values)
    }

    /// Submits the recorded dispatches and waits for them.
    public func run() throws(VulkanError) {
        var submit = VkSubmitInfo()
        submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
        submit.commandBufferCount = 1
        let result: VkResult = withUnsafePointer(to: &commandBuffer) { buffers in
            submit.pCommandBuffers = buffers
            return vkQueueSubmit(context.queue, 1, &submit, fence)
        }
        try check(result, "vkQueueSubmit")
        try check(vkWaitForFences(context.device, 1, &fence, VkBool32(VK_TRUE), UInt64.max), "vkWaitForFences")
        try check(vkResetFences(context.device, 1, &fence), "vkResetFences")
        if let period = context.timestampPeriod, let queryPool {
            let count = timestamps
            var ticks = [UInt64](repeating: 0, count: count)
            let flags = VK_QUERY_RESULT_64_BIT.rawValue | VK_QUERY_RESULT_WAIT_BIT.rawValue
            try check(vkGetQueryPoolResults(context.device, queryPool, 0, UInt32(count), count * 8, &ticks, 8, flags),
                      "vkGetQueryPoolResults")
            gpuMilliseconds = Double(ticks[count - 1] &- ticks[0]) * period / 1e6
            if timingEachDispatch {
                dispatchMilliseconds = (1..<count).map { Double(ticks[$0] &- ticks[$0 - 1]) * period / 1e6 }
            }
        }
    }

    public var logits: [Float] {
        outputs[network.layers.count - 1]!.read(network.classes)
    }

    /// The output of IR layer `index` (NCHW) if a step produces it; nil for layers fused away.
    public func output(ofLayer index: Int) -> [Float]? {
        outputs[index].map { $0.read(network.layers[index].outputShape.elements) }
    }

    // MARK: Lowering

    private func source(_ step: InferencePlan.Step, _ slot: Int = 0) -> VulkanBuffer {
        step.inputs.isEmpty ? input : outputs[step.inputs[slot]]!
    }

    private func constant(_ values: [Float]) throws(VulkanError) -> VulkanBuffer {
        let buffer = try VulkanBuffer(values, precision: precision, context: context)
        constants.append(buffer)
        return buffer
    }

    private func lower(_ step: InferencePlan.Step) throws(VulkanError) -> Dispatch {
        let o = step.outputShape
        let head = network.layers[step.layers[0]]
        let i = head.inputShape
        let output = try VulkanBuffer(count: o.elements, precision: precision, context: context)
        outputs[step.output] = output
        var activation: Int32 = 0
        var residual: VulkanBuffer?
        for postOp in step.postOps {
            switch postOp {
            case let .activation(kind): activation = kind.shaderCode
            case let .add(index): residual = outputs[index]!
            }
        }
        func parameters(kernel: KernelSize = .one, stride: Int = 1, padding: KernelSize = KernelSize(height: 0, width: 0),
                        groups: Int = 1, mode: Int = 0) -> [Int32] {
            [i.channels, i.height, i.width, o.channels, o.height, o.width, kernel.height, kernel.width, stride,
             padding.height, padding.width, groups, Int(activation), residual == nil ? 0 : 1, o.elements, mode].map { Int32($0) }
        }
        func floats(_ buffer: VulkanBuffer?) -> (buffer: VulkanBuffer, vec4: Bool)? {
            buffer.map { ($0, false) }
        }
        // Spatial shaders: 8×8 pixels per workgroup, a channel per z; flat ones: 64 per workgroup.
        let spatial = (x: (o.width + 7) / 8, y: (o.height + 7) / 8, z: o.channels)
        let perChannel = (x: (o.height * o.width + 63) / 64, y: o.channels, z: 1)
        switch step.operation {
        case let .convolution(layer, weights, bias):
            let depthwise = layer.groups > 1 && layer.groups == i.channels && layer.groups == o.channels
            let pointwise = layer.kernel == .one && layer.stride == 1 && layer.groups == 1
            if depthwise {
                // 4 outputs of a row per invocation, one flat index over rows and channels.
                let invocations = (o.width + 3) / 4 * o.height * o.channels
                return Dispatch(pipeline: "depthwise", output: output,
                                reads: [floats(source(step)), floats(try constant(weights)), floats(try constant(bias)), floats(residual)],
                                parameters: parameters(kernel: layer.kernel, stride: layer.stride, padding: layer.padding,
                                                       groups: layer.groups),
                                groups: (x: (invocations + 63) / 64, y: 1, z: 1))
            }
            guard layer.groups == 1 else {
                throw .unsupported(reason: "\(head.name) is a grouped convolution (\(layer.groups) groups); the shaders cover dense and depthwise ones, which are all the search spaces make")
            }
            // Dense: 16 output channels per invocation, their weights side by side:
            // [outC/16][inC][kH][kW][16], zero-padded.
            let blocks = (o.channels + 15) / 16
            let taps = layer.kernel.height * layer.kernel.width
            var packed = [Float](repeating: 0, count: blocks * 16 * i.channels * taps)
            for oc in 0..<o.channels {
                for ic in 0..<i.channels {
                    for t in 0..<taps {
                        packed[(((oc / 16) * i.channels + ic) * taps + t) * 16 + oc % 16] = weights[(oc * i.channels + ic) * taps + t]
                    }
                }
            }
            let packedWeights = (buffer: try constant(packed), vec4: true)
            if pointwise {
                return Dispatch(pipeline: "pointwise", output: output,
                                reads: [floats(source(step)), packedWeights, floats(try constant(bias)), floats(residual)],
                                parameters: parameters(), groups: (x: (o.height * o.width + 63) / 64, y: blocks, z: 1))
            }
            return Dispatch(pipeline: "convolution", output: output,
                            reads: [floats(source(step)), packedWeights, floats(try constant(bias)), floats(residual)],
                            parameters: parameters(kernel: layer.kernel, stride: layer.stride, padding: layer.padding),
                            groups: (x: spatial.x, y: spatial.y, z: blocks))
        case let .linear(_, weights, bias):
            return Dispatch(pipeline: "linear", output: output,
                            reads: [floats(source(step)), floats(try constant(weights)), floats(try constant(bias)), nil],
                            parameters: parameters(), groups: (x: (o.channels + 63) / 64, y: 1, z: 1))
        case .globalAveragePool:
            return Dispatch(pipeline: "pool", output: output, reads: [floats(source(step)), nil, nil, nil],
                            parameters: parameters(), groups: (x: (i.channels + 63) / 64, y: 1, z: 1))
        case .channelScale, .add:
            // The residual add, if any, reads binding 3: the second input takes 4.
            let mode = if case .add = step.operation { 1 } else { 0 }
            return Dispatch(pipeline: "elementwise", output: output,
                            reads: [floats(source(step)), nil, floats(residual), floats(source(step, 1))],
                            parameters: parameters(mode: mode), groups: perChannel)
        case let .activation(kind):
            activation = kind.shaderCode
            return Dispatch(pipeline: "elementwise", output: output, reads: [floats(source(step)), nil, floats(residual), nil],
                            parameters: parameters(mode: 3), groups: perChannel)
        case let .affine(scale, shift):
            precondition(residual == nil, "a lone batch norm's shift takes the binding a residual add would read")
            return Dispatch(pipeline: "elementwise", output: output,
                            reads: [floats(source(step)), floats(try constant(scale)), floats(try constant(shift)), nil],
                            parameters: parameters(mode: 2), groups: perChannel)
        }
    }


    // MARK: Recording

    private func record(_ dispatches: [Dispatch]) throws(VulkanError) {
        let device = context.device
        var poolSizes = [
            VkDescriptorPoolSize(type: VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 descriptorCount: UInt32(dispatches.count * VulkanContext.storageBindings)),
            VkDescriptorPoolSize(type: VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                                 descriptorCount: UInt32(dispatches.count * VulkanContext.texelBindings)),
        ]
        var poolInfo = VkDescriptorPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO
        poolInfo.maxSets = UInt32(dispatches.count)
        poolInfo.poolSizeCount = UInt32(poolSizes.count)
        let poolResult: VkResult = poolSizes.withUnsafeMutableBufferPointer { sizes in
            poolInfo.pPoolSizes = UnsafePointer(sizes.baseAddress)
            return vkCreateDescriptorPool(device, &poolInfo, nil, &descriptorPool)
        }
        try check(poolResult, "vkCreateDescriptorPool")

        var layouts = [VkDescriptorSetLayout?](repeating: context.descriptorSetLayout, count: dispatches.count)
        var sets = [VkDescriptorSet?](repeating: nil, count: dispatches.count)
        let allocateResult: VkResult = layouts.withUnsafeMutableBufferPointer { layoutPointer in
            var info = VkDescriptorSetAllocateInfo()
            info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO
            info.descriptorPool = descriptorPool
            info.descriptorSetCount = UInt32(dispatches.count)
            info.pSetLayouts = UnsafePointer(layoutPointer.baseAddress)
            return vkAllocateDescriptorSets(device, &info, &sets)
        }
        try check(allocateResult, "vkAllocateDescriptorSets")
        // Every binding gets a valid descriptor: the dummy where the shader reads nothing.
        let nothing = try dummy.view()
        for (d, dispatch) in dispatches.enumerated() {
            var output = VkDescriptorBufferInfo(buffer: dispatch.output.buffer, offset: 0, range: VkDeviceSize(VK_WHOLE_SIZE))
            var views: [VkBufferView?] = []
            for read in dispatch.reads { views.append(try read.map { read throws(VulkanError) in try read.buffer.view(vec4: read.vec4) } ?? nothing) }
            withUnsafePointer(to: &output) { outputPointer in
                views.withUnsafeMutableBufferPointer { viewPointer in
                    var writes = [VkWriteDescriptorSet](repeating: VkWriteDescriptorSet(), count: 1 + viewPointer.count)
                    for b in writes.indices {
                        writes[b].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                        writes[b].dstSet = sets[d]
                        writes[b].dstBinding = UInt32(b)
                        writes[b].descriptorCount = 1
                        if b == 0 {
                            writes[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                            writes[b].pBufferInfo = outputPointer
                        } else {
                            writes[b].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                            writes[b].pTexelBufferView = UnsafePointer(viewPointer.baseAddress! + (b - 1))
                        }
                    }
                    vkUpdateDescriptorSets(device, UInt32(writes.count), &writes, 0, nil)
                }
            }
        }

        var allocate = VkCommandBufferAllocateInfo()
        allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        allocate.commandPool = context.commandPool
        allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        allocate.commandBufferCount = 1
        try check(vkAllocateCommandBuffers(device, &allocate, &commandBuffer), "vkAllocateCommandBuffers")
        var fenceInfo = VkFenceCreateInfo()
        fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
        try check(vkCreateFence(device, &fenceInfo, nil, &fence), "vkCreateFence")
        if context.timestampPeriod != nil {
            var queryInfo = VkQueryPoolCreateInfo()
            queryInfo.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO
            queryInfo.queryType = VK_QUERY_TYPE_TIMESTAMP
            queryInfo.queryCount = UInt32(timestamps)
            try check(vkCreateQueryPool(device, &queryInfo, nil, &queryPool), "vkCreateQueryPool")
        }

        var begin = VkCommandBufferBeginInfo()
        begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        try check(vkBeginCommandBuffer(commandBuffer, &begin), "vkBeginCommandBuffer")
        if let queryPool {
            vkCmdResetQueryPool(commandBuffer, queryPool, 0, UInt32(timestamps))
            vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queryPool, 0)
        }
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue
        barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT.rawValue
        let compute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue
        for (d, dispatch) in dispatches.enumerated() {
            let pipeline = try context.pipeline(dispatch.pipeline, precision: precision)
            vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline)
            vkCmdBindDescriptorSets(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, context.pipelineLayout, 0, 1, &sets[d], 0, nil)
            var parameters = dispatch.parameters
            vkCmdPushConstants(commandBuffer, context.pipelineLayout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0,
                               UInt32(parameters.count * 4), &parameters)
            vkCmdDispatch(commandBuffer, UInt32(dispatch.groups.x), UInt32(dispatch.groups.y), UInt32(dispatch.groups.z))
            // Each dispatch reads what the ones before it wrote.
            vkCmdPipelineBarrier(commandBuffer, compute, compute, 0, 1, &barrier, 0, nil, 0, nil)
            if let queryPool, timingEachDispatch {
                vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queryPool, UInt32(d + 1))
            }
        }
        if let queryPool, !timingEachDispatch {
            vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queryPool, 1)
        }
        try check(vkEndCommandBuffer(commandBuffer), "vkEndCommandBuffer")
    }
}

extension Activation {
    /// The `activation` push constant the shaders switch on (0: none).
    var shaderCode: Int32 {
        switch self {
        case .relu6: return 1
        case .relu: return 2
        case .sigmoid: return 3
        }
    }
}
