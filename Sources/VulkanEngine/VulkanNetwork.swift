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

    private struct Dispatch {
        let pipeline: String
        let buffers: [VulkanBuffer]
        let parameters: [Int32]
        let invocations: Int
    }

    public init(plan: InferencePlan, context: VulkanContext) throws(VulkanError) {
        network = plan.network
        self.context = context
        input = try VulkanBuffer(floats: network.input.elements, context: context)
        dummy = try VulkanBuffer(floats: 1, context: context)
        outputs[-1] = input  // a unit's residual add may read the network input
        var dispatches: [Dispatch] = []
        for step in plan.steps { dispatches.append(try lower(step)) }
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
    /// valid inside `body` only.
    package func withInput<Result>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> Result) rethrows -> Result {
        try body(UnsafeMutableBufferPointer(start: input.pointer, count: network.input.elements))
    }

    /// Sets the image from C×H×W values.
    public func setInput(_ values: [Float]) {
        withInput { buffer in
            precondition(values.count == buffer.count, "an input of \(values.count) values for a buffer of \(buffer.count)")
            _ = buffer.update(fromContentsOf: values)
        }
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
            var ticks = [UInt64](repeating: 0, count: 2)
            let flags = VK_QUERY_RESULT_64_BIT.rawValue | VK_QUERY_RESULT_WAIT_BIT.rawValue
            try check(vkGetQueryPoolResults(context.device, queryPool, 0, 2, 16, &ticks, 8, flags), "vkGetQueryPoolResults")
            gpuMilliseconds = Double(ticks[1] &- ticks[0]) * period / 1e6
        }
    }

    public var logits: [Float] {
        let buffer = outputs[network.layers.count - 1]!
        return Array(UnsafeBufferPointer(start: buffer.pointer, count: network.classes))
    }

    /// The output of IR layer `index` (NCHW) if a step produces it; nil for layers fused away.
    public func output(ofLayer index: Int) -> [Float]? {
        outputs[index].map { Array(UnsafeBufferPointer(start: $0.pointer, count: network.layers[index].outputShape.elements)) }
    }

    // MARK: Lowering

    private func source(_ step: InferencePlan.Step, _ slot: Int = 0) -> VulkanBuffer {
        step.inputs.isEmpty ? input : outputs[step.inputs[slot]]!
    }

    private func constant(_ values: [Float]) throws(VulkanError) -> VulkanBuffer {
        let buffer = try VulkanBuffer(values, context: context)
        constants.append(buffer)
        return buffer
    }

    private func lower(_ step: InferencePlan.Step) throws(VulkanError) -> Dispatch {
        let o = step.outputShape
        let head = network.layers[step.layers[0]]
        let i = head.inputShape
        let output = try VulkanBuffer(floats: o.elements, context: context)
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
                        groups: Int = 1, count: Int = 0) -> [Int32] {
            [i.channels, i.height, i.width, o.channels, o.height, o.width, kernel.height, kernel.width, stride,
             padding.height, padding.width, groups, Int(activation), residual == nil ? 0 : 1, count, 0].map { Int32($0) }
        }
        switch step.operation {
        case let .convolution(layer, weights, bias):
            let depthwise = layer.groups > 1 && layer.groups == i.channels && layer.groups == o.channels
            let pointwise = layer.kernel == .one && layer.stride == 1 && layer.groups == 1
            return Dispatch(pipeline: depthwise ? "depthwise" : pointwise ? "pointwise" : "convolution",
                            buffers: [source(step), try constant(weights), try constant(bias), output, residual ?? dummy],
                            parameters: parameters(kernel: layer.kernel, stride: layer.stride, padding: layer.padding,
                                                   groups: layer.groups),
                            invocations: o.elements)
        case let .linear(_, weights, bias):
            return Dispatch(pipeline: "linear", buffers: [source(step), try constant(weights), try constant(bias), output, dummy],
                            parameters: parameters(), invocations: o.channels)
        case .globalAveragePool:
            return Dispatch(pipeline: "pool", buffers: [source(step), dummy, dummy, output, dummy],
                            parameters: parameters(), invocations: i.channels)
        case .channelScale, .add:
            let mode = if case .add = step.operation { 1 } else { 0 }
            return Dispatch(pipeline: "elementwise",
                            buffers: [source(step), dummy, residual ?? dummy, output, source(step, 1)],
                            parameters: parameters(groups: mode, count: o.elements), invocations: o.elements)
        case let .activation(kind):
            activation = kind.shaderCode
            return Dispatch(pipeline: "elementwise", buffers: [source(step), dummy, residual ?? dummy, output, dummy],
                            parameters: parameters(groups: 3, count: o.elements), invocations: o.elements)
        case let .affine(scale, shift):
            return Dispatch(pipeline: "elementwise", buffers: [source(step), try constant(scale), try constant(shift), output, dummy],
                            parameters: parameters(groups: 2, count: o.elements), invocations: o.elements)
        }
    }


    // MARK: Recording

    private func record(_ dispatches: [Dispatch]) throws(VulkanError) {
        let device = context.device
        var poolSize = VkDescriptorPoolSize(type: VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                            descriptorCount: UInt32(dispatches.count * VulkanContext.bindings))
        var poolInfo = VkDescriptorPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO
        poolInfo.maxSets = UInt32(dispatches.count)
        poolInfo.poolSizeCount = 1
        let poolResult: VkResult = withUnsafePointer(to: &poolSize) { sizes in
            poolInfo.pPoolSizes = sizes
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
        for (d, dispatch) in dispatches.enumerated() {
            var infos = dispatch.buffers.map { VkDescriptorBufferInfo(buffer: $0.buffer, offset: 0, range: VkDeviceSize(VK_WHOLE_SIZE)) }
            infos.withUnsafeMutableBufferPointer { infoPointer in
                var writes = (0..<infoPointer.count).map { b in
                    var write = VkWriteDescriptorSet()
                    write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                    write.dstSet = sets[d]
                    write.dstBinding = UInt32(b)
                    write.descriptorCount = 1
                    write.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                    write.pBufferInfo = UnsafePointer(infoPointer.baseAddress! + b)
                    return write
                }
                vkUpdateDescriptorSets(device, UInt32(writes.count), &writes, 0, nil)
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
            queryInfo.queryCount = 2
            try check(vkCreateQueryPool(device, &queryInfo, nil, &queryPool), "vkCreateQueryPool")
        }

        var begin = VkCommandBufferBeginInfo()
        begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        try check(vkBeginCommandBuffer(commandBuffer, &begin), "vkBeginCommandBuffer")
        if let queryPool {
            vkCmdResetQueryPool(commandBuffer, queryPool, 0, 2)
            vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queryPool, 0)
        }
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue
        barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT.rawValue
        let compute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue
        for (d, dispatch) in dispatches.enumerated() {
            vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, context.pipelines[dispatch.pipeline]!)
            vkCmdBindDescriptorSets(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, context.pipelineLayout, 0, 1, &sets[d], 0, nil)
            var parameters = dispatch.parameters
            vkCmdPushConstants(commandBuffer, context.pipelineLayout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0,
                               UInt32(parameters.count * 4), &parameters)
            vkCmdDispatch(commandBuffer, UInt32((dispatch.invocations + 63) / 64), 1, 1)
            // Each dispatch reads what the ones before it wrote.
            vkCmdPipelineBarrier(commandBuffer, compute, compute, 0, 1, &barrier, 0, nil, 0, nil)
        }
        if let queryPool {
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
