import CVulkan
public import Core
import Foundation
import SearchSpace

/// A Vulkan call that failed, or no usable device.
public enum VulkanError: ClassifiedError {
    case call(function: String, result: Int32)
    case noDevice(reason: String)
    case shaderCompiler(reason: String)
    /// A plan this engine cannot run on this device.
    case unsupported(reason: String)

    /// No device, no compiler or no memory is the machine's lack; any other failed call is a fault.
    public var kind: ErrorKind {
        if case let .call(_, result) = self,
           result != VK_ERROR_OUT_OF_HOST_MEMORY.rawValue, result != VK_ERROR_OUT_OF_DEVICE_MEMORY.rawValue {
            return .internal
        }
        return .environment
    }

    public var description: String {
        switch self {
        case let .call(function, result):
            return "Vulkan \(function) failed with VkResult \(result)"
        case let .noDevice(reason):
            return "no Vulkan device: \(reason). Install a driver (on a machine without a GPU: `apt-get install mesa-vulkan-drivers` for lavapipe) and check with `vulkaninfo --summary`"
        case let .shaderCompiler(reason):
            return "cannot compile the Vulkan shaders: \(reason)"
        case let .unsupported(reason):
            return "the Vulkan engine cannot run this network: \(reason)"
        }
    }
}

@inline(__always)
func check(_ result: VkResult, _ function: @autoclosure () -> String) throws(VulkanError) {
    guard result == VK_SUCCESS else { throw .call(function: function(), result: result.rawValue) }
}

/// One Vulkan device with a compute queue, its pipelines (one per shader and
/// precision, all sharing one layout, made on first use and cached on disk)
/// and what identifies it for latency keys.
public final class VulkanContext {
    let instance: VkInstance
    let physicalDevice: VkPhysicalDevice
    let device: VkDevice
    let queue: VkQueue
    let queueFamily: UInt32
    let commandPool: VkCommandPool
    let descriptorSetLayout: VkDescriptorSetLayout
    let pipelineLayout: VkPipelineLayout
    private var modules: [String: VkShaderModule] = [:]
    private var pipelines: [String: VkPipeline] = [:]
    private let pipelinesLock = NSLock()
    let hostMemoryType: UInt32
    /// Nanoseconds per timestamp tick; nil when the queue has no timestamps.
    let timestampPeriod: Double?

    public let deviceName: String
    public let driverVersion: String
    public let apiVersion: String
    /// A hash of the shaders' text: measurements taken with other shaders are another engine's.
    public let shaderRevision = Shaders.revision
    /// The most elements a texel buffer may have here (every read is one).
    let maxTexelBufferElements: Int
    /// Whether `VulkanPrecision.fp16` runs here (16-bit storage buffers and texel formats).
    public let supportsFP16: Bool
    private var pipelineCache: VkPipelineCache?
    /// Bytes of cache data on disk as last read or written: unchanged data is not written again.
    private var pipelineCacheBytes = 0

    /// The output, a storage buffer, at binding 0; what a shader reads, as
    /// texel buffers, at 1–4 (see `Shaders`).
    static let storageBindings = 1
    static let texelBindings = 4
    static var bindings: Int { storageBindings + texelBindings }
    static let pushConstantBytes = 64

    public init() throws(VulkanError) {
        var application = VkApplicationInfo()
        application.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
        application.apiVersion = (1 << 22) | (1 << 12)  // VK_API_VERSION_1_1
        var instance: VkInstance?
        let created: VkResult = withUnsafePointer(to: &application) { app in
            var info = VkInstanceCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
            info.pApplicationInfo = app
            return vkCreateInstance(&info, nil, &instance)
        }
        guard created == VK_SUCCESS, let instance else {
            throw .noDevice(reason: "the Vulkan loader could not create an instance (VkResult \(created.rawValue))")
        }
        self.instance = instance

        var count: UInt32 = 0
        vkEnumeratePhysicalDevices(instance, &count, nil)
        var devices = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        vkEnumeratePhysicalDevices(instance, &count, &devices)
        // Prefer a real GPU; lavapipe (a CPU device) otherwise.
        var chosen: (VkPhysicalDevice, UInt32, VkPhysicalDeviceProperties)?
        for case let candidate? in devices {
            var properties = VkPhysicalDeviceProperties()
            vkGetPhysicalDeviceProperties(candidate, &properties)
            guard properties.apiVersion >= (1 << 22) | (1 << 12), let family = Self.computeFamily(candidate) else { continue }
            if chosen == nil || properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
                || properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU {
                chosen = (candidate, family, properties)
            }
        }
        guard let (physicalDevice, family, properties) = chosen else {
            vkDestroyInstance(instance, nil)
            throw .noDevice(reason: count == 0 ? "no physical device is installed" : "no device supports Vulkan 1.1 compute")
        }
        self.physicalDevice = physicalDevice
        queueFamily = family
        deviceName = withUnsafeBytes(of: properties.deviceName) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        driverVersion = "\(properties.driverVersion >> 22).\((properties.driverVersion >> 12) & 0x3ff).\(properties.driverVersion & 0xfff)"
        apiVersion = "\(properties.apiVersion >> 22).\((properties.apiVersion >> 12) & 0x3ff).\(properties.apiVersion & 0xfff)"

        var families = Self.queueFamilies(physicalDevice)
        timestampPeriod = families[Int(family)].timestampValidBits > 0 ? Double(properties.limits.timestampPeriod) : nil
        maxTexelBufferElements = Int(properties.limits.maxTexelBufferElements)
        families.removeAll()

        // fp16 storage: 16-bit storage buffers to write, 16-bit texel formats to read.
        var storage16 = VkPhysicalDevice16BitStorageFeatures()
        storage16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
        var features = VkPhysicalDeviceFeatures2()
        features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        withUnsafeMutablePointer(to: &storage16) { pointer in
            features.pNext = UnsafeMutableRawPointer(pointer)
            vkGetPhysicalDeviceFeatures2(physicalDevice, &features)
        }
        let readsHalf = [VK_FORMAT_R16_SFLOAT, VK_FORMAT_R16G16B16A16_SFLOAT].allSatisfy { format in
            var formatProperties = VkFormatProperties()
            vkGetPhysicalDeviceFormatProperties(physicalDevice, format, &formatProperties)
            return formatProperties.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT.rawValue != 0
        }
        supportsFP16 = storage16.storageBuffer16BitAccess != 0 && readsHalf
        var enabled16 = VkPhysicalDevice16BitStorageFeatures()
        enabled16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
        enabled16.storageBuffer16BitAccess = VkBool32(supportsFP16 ? VK_TRUE : VK_FALSE)

        var priority: Float = 1
        var device: VkDevice?
        let deviceResult: VkResult = withUnsafePointer(to: &enabled16) { enabledPointer in withUnsafePointer(to: &priority) { priorityPointer in
            var queueInfo = VkDeviceQueueCreateInfo()
            queueInfo.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO
            queueInfo.queueFamilyIndex = family
            queueInfo.queueCount = 1
            queueInfo.pQueuePriorities = priorityPointer
            return withUnsafePointer(to: &queueInfo) { queuePointer in
                var info = VkDeviceCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO
                info.pNext = UnsafeRawPointer(enabledPointer)
                info.queueCreateInfoCount = 1
                info.pQueueCreateInfos = queuePointer
                return vkCreateDevice(physicalDevice, &info, nil, &device)
            }
        } }
        guard deviceResult == VK_SUCCESS, let device else {
            vkDestroyInstance(instance, nil)
            throw .call(function: "vkCreateDevice", result: deviceResult.rawValue)
        }
        self.device = device
        var queue: VkQueue?
        vkGetDeviceQueue(device, family, 0, &queue)
        self.queue = queue!

        var poolInfo = VkCommandPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        poolInfo.queueFamilyIndex = family
        var pool: VkCommandPool?
        try check(vkCreateCommandPool(device, &poolInfo, nil, &pool), "vkCreateCommandPool")
        commandPool = pool!

        var layoutBindings = (0..<Self.bindings).map { i in
            var binding = VkDescriptorSetLayoutBinding()
            binding.binding = UInt32(i)
            binding.descriptorType = i < Self.storageBindings ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
            binding.descriptorCount = 1
            binding.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
            return binding
        }
        var setLayout: VkDescriptorSetLayout?
        let setLayoutResult: VkResult = layoutBindings.withUnsafeMutableBufferPointer { buffer in
            var info = VkDescriptorSetLayoutCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO
            info.bindingCount = UInt32(buffer.count)
            info.pBindings = UnsafePointer(buffer.baseAddress)
            return vkCreateDescriptorSetLayout(device, &info, nil, &setLayout)
        }
        try check(setLayoutResult, "vkCreateDescriptorSetLayout")
        descriptorSetLayout = setLayout!

        var range = VkPushConstantRange()
        range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
        range.size = UInt32(Self.pushConstantBytes)
        var pipelineLayout: VkPipelineLayout?
        let layoutResult: VkResult = withUnsafePointer(to: &range) { rangePointer in
            withUnsafePointer(to: &setLayout) { setLayoutPointer in
                var info = VkPipelineLayoutCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
                info.setLayoutCount = 1
                info.pSetLayouts = setLayoutPointer
                info.pushConstantRangeCount = 1
                info.pPushConstantRanges = rangePointer
                return vkCreatePipelineLayout(device, &info, nil, &pipelineLayout)
            }
        }
        try check(layoutResult, "vkCreatePipelineLayout")
        self.pipelineLayout = pipelineLayout!

        var memoryProperties = VkPhysicalDeviceMemoryProperties()
        vkGetPhysicalDeviceMemoryProperties(physicalDevice, &memoryProperties)
        let wanted = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue
        let types = withUnsafeBytes(of: memoryProperties.memoryTypes) { Array($0.bindMemory(to: VkMemoryType.self)) }
        guard let index = (0..<Int(memoryProperties.memoryTypeCount)).first(where: { types[$0].propertyFlags & wanted == wanted }) else {
            throw .noDevice(reason: "\(deviceName) has no host-visible coherent memory")
        }
        hostMemoryType = UInt32(index)

        pipelineCache = makePipelineCache()
        // Compile the fp32 set now: a missing compiler is reported when the device is opened.
        for (name, _) in Shaders.all { _ = try module(name, precision: .fp32) }
    }

    deinit {
        vkDeviceWaitIdle(device)
        if let pipelineCache { vkDestroyPipelineCache(device, pipelineCache, nil) }
        for pipeline in pipelines.values { vkDestroyPipeline(device, pipeline, nil) }
        for module in modules.values { vkDestroyShaderModule(device, module, nil) }
        vkDestroyPipelineLayout(device, pipelineLayout, nil)
        vkDestroyDescriptorSetLayout(device, descriptorSetLayout, nil)
        vkDestroyCommandPool(device, commandPool, nil)
        vkDestroyDevice(device, nil)
        vkDestroyInstance(instance, nil)
    }

    private static func queueFamilies(_ device: VkPhysicalDevice) -> [VkQueueFamilyProperties] {
        var count: UInt32 = 0
        vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(count))
        vkGetPhysicalDeviceQueueFamilyProperties(device, &count, &families)
        return families
    }

    private static func computeFamily(_ device: VkPhysicalDevice) -> UInt32? {
        queueFamilies(device).firstIndex { $0.queueFlags & VK_QUEUE_COMPUTE_BIT.rawValue != 0 }.map(UInt32.init)
    }

    /// The pipeline of shader `name` in `precision`, made once per device.
    /// (Specialization constants per layer shape were tried: with its loops
    /// unrolled lavapipe took minutes to compile a network, and ran it slower.)
    func pipeline(_ name: String, precision: VulkanPrecision = .fp32) throws(VulkanError) -> VkPipeline {
        let key = "\(name).\(precision.rawValue)"
        pipelinesLock.lock()
        defer { pipelinesLock.unlock() }
        if let pipeline = pipelines[key] { return pipeline }
        let pipeline = try makePipeline(module: try module(name, precision: precision))
        pipelines[key] = pipeline
        // Saved now, not at teardown: nas leaves through _exit, which runs no deinit.
        savePipelineCache()
        return pipeline
    }

    private func module(_ name: String, precision: VulkanPrecision) throws(VulkanError) -> VkShaderModule {
        let key = "\(name).\(precision.rawValue)"
        if let module = modules[key] { return module }
        guard let source = Shaders.source(name, precision: precision) else {
            throw .shaderCompiler(reason: "no shader named \(name)")
        }
        let module = try makeModule(spirv: try ShaderCompiler.compile(name: "\(name)-\(precision.rawValue)", source: source))
        modules[key] = module
        return module
    }

    // MARK: Pipeline cache on disk

    /// Where this device's pipeline cache lives: beside the SPIR-V cache,
    /// one file per device and driver (the driver rejects another's data anyway).
    private var pipelineCacheFile: URL {
        ShaderCompiler.cacheDirectory.deletingLastPathComponent()
            .appendingPathComponent("pipelines-\(Architecture.hashText("\(deviceName)|\(driverVersion)|\(apiVersion)")).bin")
    }

    private func makePipelineCache() -> VkPipelineCache? {
        let data = (try? Data(contentsOf: pipelineCacheFile)) ?? Data()
        pipelineCacheBytes = data.count
        var cache: VkPipelineCache?
        let result: VkResult = data.withUnsafeBytes { bytes in
            var info = VkPipelineCacheCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
            info.initialDataSize = bytes.count
            info.pInitialData = bytes.baseAddress
            return vkCreatePipelineCache(device, &info, nil, &cache)
        }
        if result == VK_SUCCESS { return cache }
        // Data the driver will not take (another version, a torn file): start empty.
        var info = VkPipelineCacheCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
        return vkCreatePipelineCache(device, &info, nil, &cache) == VK_SUCCESS ? cache : nil
    }

    /// Writes the cache through a temporary file and a rename, so a reader
    /// never sees half of it, when the driver's data changed size (a pipeline
    /// it had not seen); a failure only costs the next start its compiles.
    private func savePipelineCache() {
        guard let pipelineCache else { return }
        var size = 0
        guard vkGetPipelineCacheData(device, pipelineCache, &size, nil) == VK_SUCCESS, size > 0,
              size != pipelineCacheBytes else { return }
        var data = Data(count: size)
        let result: VkResult = data.withUnsafeMutableBytes { vkGetPipelineCacheData(device, pipelineCache, &size, $0.baseAddress) }
        guard result == VK_SUCCESS else { return }
        let file = pipelineCacheFile
        let partial = file.appendingPathExtension("\(getpid()).partial")
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard (try? data.prefix(size).write(to: partial)) != nil else { return }
        if rename(partial.path, file.path) == 0 { pipelineCacheBytes = size } else { try? FileManager.default.removeItem(at: partial) }
    }

    private func makeModule(spirv: [UInt32]) throws(VulkanError) -> VkShaderModule {
        var module: VkShaderModule?
        let moduleResult: VkResult = spirv.withUnsafeBufferPointer { code in
            var info = VkShaderModuleCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO
            info.codeSize = code.count * 4
            info.pCode = code.baseAddress
            return vkCreateShaderModule(device, &info, nil, &module)
        }
        try check(moduleResult, "vkCreateShaderModule")
        return module!
    }

    private func makePipeline(module: VkShaderModule) throws(VulkanError) -> VkPipeline {
        var pipeline: VkPipeline?
        let result: VkResult = "main".withCString { entry in
            var stage = VkPipelineShaderStageCreateInfo()
            stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
            stage.stage = VK_SHADER_STAGE_COMPUTE_BIT
            stage.module = module
            stage.pName = entry
            var info = VkComputePipelineCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
            info.stage = stage
            info.layout = pipelineLayout
            return vkCreateComputePipelines(device, pipelineCache, 1, &info, nil, &pipeline)
        }
        try check(result, "vkCreateComputePipelines")
        return pipeline!
    }
}
