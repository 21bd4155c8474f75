import CVulkan

/// How the Vulkan engine stores tensors and weights. Arithmetic is fp32 in
/// both: fp16 halves the bytes every dispatch moves, as ncnn's default
/// "fp16 storage" does, and rounds every stored value to 11 significant bits.
public enum VulkanPrecision: String, CaseIterable, Sendable, Codable {
    case fp32, fp16

    var bytes: Int { self == .fp32 ? 4 : 2 }

    /// The texel format a shader reads one value (or, with `vec4`, four) as.
    func format(vec4: Bool) -> VkFormat {
        switch (self, vec4) {
        case (.fp32, false): return VK_FORMAT_R32_SFLOAT
        case (.fp32, true): return VK_FORMAT_R32G32B32A32_SFLOAT
        case (.fp16, false): return VK_FORMAT_R16_SFLOAT
        case (.fp16, true): return VK_FORMAT_R16G16B16A16_SFLOAT
        }
    }
}

/// A host-visible buffer of `count` values in `precision`, mapped for its
/// whole life; shaders write it as a storage buffer and read it as texels.
final class VulkanBuffer {
    let buffer: VkBuffer
    let memory: VkDeviceMemory
    let count: Int
    let precision: VulkanPrecision
    private let mapped: UnsafeMutableRawPointer
    private var views: [Bool: VkBufferView] = [:]
    // Strong: the device must outlive every buffer allocated on it.
    private let context: VulkanContext

    init(count: Int, precision: VulkanPrecision, context: VulkanContext) throws(VulkanError) {
        self.count = max(4, count)  // room for one vec4 texel at least
        self.precision = precision
        self.context = context
        var info = VkBufferCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        info.size = VkDeviceSize(self.count * precision.bytes)
        info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT.rawValue
        info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
        var buffer: VkBuffer?
        try check(vkCreateBuffer(context.device, &info, nil, &buffer), "vkCreateBuffer")
        var requirements = VkMemoryRequirements()
        vkGetBufferMemoryRequirements(context.device, buffer, &requirements)
        var allocation = VkMemoryAllocateInfo()
        allocation.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        allocation.allocationSize = requirements.size
        allocation.memoryTypeIndex = context.hostMemoryType
        var memory: VkDeviceMemory?
        try check(vkAllocateMemory(context.device, &allocation, nil, &memory), "vkAllocateMemory")
        try check(vkBindBufferMemory(context.device, buffer, memory, 0), "vkBindBufferMemory")
        var mapped: UnsafeMutableRawPointer?
        try check(vkMapMemory(context.device, memory, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &mapped), "vkMapMemory")
        self.buffer = buffer!
        self.memory = memory!
        self.mapped = mapped!
        self.mapped.initializeMemory(as: UInt8.self, repeating: 0, count: self.count * precision.bytes)
    }

    convenience init(_ values: [Float], precision: VulkanPrecision, context: VulkanContext) throws(VulkanError) {
        try self.init(count: values.count, precision: precision, context: context)
        write(values)
    }

    deinit {
        for view in views.values { vkDestroyBufferView(context.device, view, nil) }
        vkUnmapMemory(context.device, memory)
        vkDestroyBuffer(context.device, buffer, nil)
        vkFreeMemory(context.device, memory, nil)
    }

    /// Stores `values` from the start, rounded to the buffer's precision.
    func write(_ values: [Float]) {
        precondition(values.count <= count, "\(values.count) values for a buffer of \(count)")
        switch precision {
        case .fp32: mapped.bindMemory(to: Float.self, capacity: count).update(from: values, count: values.count)
        case .fp16:
            let half = mapped.bindMemory(to: Float16.self, capacity: count)
            for (i, value) in values.enumerated() { half[i] = Float16(value) }
        }
    }

    /// The first `n` values, as Float.
    func read(_ n: Int) -> [Float] {
        switch precision {
        case .fp32: return Array(UnsafeBufferPointer(start: mapped.bindMemory(to: Float.self, capacity: count), count: n))
        case .fp16: return UnsafeBufferPointer(start: mapped.bindMemory(to: Float16.self, capacity: count), count: n).map(Float.init)
        }
    }

    /// The fp32 values in place, for a caller to fill directly; nil in fp16.
    var floats: UnsafeMutablePointer<Float>? {
        precision == .fp32 ? mapped.bindMemory(to: Float.self, capacity: count) : nil
    }

    /// A view of the buffer as texels of one value (or, with `vec4`, four), made once.
    func view(vec4: Bool = false) throws(VulkanError) -> VkBufferView {
        if let view = views[vec4] { return view }
        let texels = vec4 ? count / 4 : count
        guard texels <= context.maxTexelBufferElements else {
            throw .unsupported(reason: "a tensor of \(texels) texels is more than this device's texel buffers hold (maxTexelBufferElements \(context.maxTexelBufferElements))")
        }
        var info = VkBufferViewCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO
        info.buffer = buffer
        info.format = precision.format(vec4: vec4)
        info.range = VkDeviceSize(VK_WHOLE_SIZE)
        var view: VkBufferView?
        try check(vkCreateBufferView(context.device, &info, nil, &view), "vkCreateBufferView")
        views[vec4] = view!
        return view!
    }
}
