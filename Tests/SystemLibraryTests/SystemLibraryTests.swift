import CDNNL
import CGSL
import CVulkan
import Testing

/// The C libraries later modules build on are installed, importable and the
/// versions DESIGN.md was checked against.
@Suite("System libraries")
struct SystemLibraryTests {
    @Test("oneDNN 2.x links and reports its version")
    func oneDNN() {
        let version = dnnl_version()!.pointee
        #expect(version.major == 2)
        #expect(version.minor >= 6)
    }

    @Test("GSL 2.x links; its sort works")
    func gsl() {
        #expect(GSL_MAJOR_VERSION == 2)
        var values = [3.0, 1, 2]
        values.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, $0.count) }
        #expect(values == [1, 2, 3])
    }

    @Test("The Vulkan loader finds at least one 1.1+ device (lavapipe on CI)")
    func vulkan() throws {
        var apiVersion: UInt32 = 0
        #expect(vkEnumerateInstanceVersion(&apiVersion) == VK_SUCCESS)
        #expect(apiVersion >= (1 << 22) | (1 << 12))  // VK_API_VERSION_1_1

        var info = VkInstanceCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
        var instance: VkInstance?
        try #require(vkCreateInstance(&info, nil, &instance) == VK_SUCCESS)
        defer { vkDestroyInstance(instance, nil) }
        var count: UInt32 = 0
        #expect(vkEnumeratePhysicalDevices(instance, &count, nil) == VK_SUCCESS)
        #expect(count >= 1)
    }
}
