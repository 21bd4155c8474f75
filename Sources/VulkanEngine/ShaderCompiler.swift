import Foundation
import SearchSpace

/// Compiles GLSL compute shaders to SPIR-V with `glslc` (Debian's `glslc`
/// package), caching the result under a hash of the source text and the
/// compiler's version: an edited shader or a new compiler always recompiles,
/// so a stale binary is never run.
enum ShaderCompiler {
    static let glslc = ProcessInfo.processInfo.environment["NASD_GLSLC"] ?? "/usr/bin/glslc"

    static var cacheDirectory: URL {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? environment["HOME"].map { URL(fileURLWithPath: $0).appendingPathComponent(".cache") }
            ?? FileManager.default.temporaryDirectory
        return base.appendingPathComponent("nasd/spirv")
    }

    private static let compilerVersion: String? = {
        (try? run([glslc, "--version"]))?.output.split(separator: "\n").first.map(String.init)
    }()

    static func compile(name: String, source: String) throws(VulkanError) -> [UInt32] {
        guard FileManager.default.isExecutableFile(atPath: glslc), let version = compilerVersion else {
            throw .shaderCompiler(reason: "\(glslc) not found; install it with `apt-get install glslc`")
        }
        let key = Architecture.hashText(version + "\n" + source)
        let directory = cacheDirectory
        let target = directory.appendingPathComponent("\(name)-\(key).spv")
        if let cached = try? Data(contentsOf: target), let code = words(cached) { return code }

        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let sourceFile = directory.appendingPathComponent("\(name)-\(key)-\(getpid()).comp")
            let partial = directory.appendingPathComponent("\(name)-\(key)-\(getpid()).spv.partial")
            try Data(source.utf8).write(to: sourceFile)
            defer { try? FileManager.default.removeItem(at: sourceFile) }
            let result = try run([glslc, "-fshader-stage=compute", "-O", "-o", partial.path, sourceFile.path])
            guard result.status == 0 else {
                throw VulkanError.shaderCompiler(reason: "glslc rejected the \(name) shader:\n\(result.output)")
            }
            // Rename into place: concurrent compilers never see half a file.
            guard rename(partial.path, target.path) == 0 else {
                throw VulkanError.shaderCompiler(reason: "cannot write \(target.path): \(String(cString: strerror(errno)))")
            }
        } catch let error as VulkanError {
            throw error
        } catch {
            throw .shaderCompiler(reason: "\(error)")
        }
        guard let data = try? Data(contentsOf: target), let code = words(data) else {
            throw .shaderCompiler(reason: "\(target.path) is not SPIR-V")
        }
        return code
    }

    /// SPIR-V words, checking the magic number.
    private static func words(_ data: Data) -> [UInt32]? {
        guard data.count >= 20, data.count % 4 == 0 else { return nil }
        let code = data.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        return code[0] == 0x0723_0203 ? code : nil
    }

    private static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
