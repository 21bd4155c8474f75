import Core
import Foundation
import Runs
import Search

/// `POST /runs`'s body as a `SearchRequest`: the same fields as `nas search`'s
/// options in JSON spelling (`target_ms` for `--target-ms`). Read by hand
/// rather than through `Decodable` so that each refusal names its field: an
/// unknown key (a typo would otherwise be ignored silently), a wrong type, a
/// value outside its choices.
struct SearchBody {
    let request: SearchRequest

    /// `spaces`: the folder `space` names a file in (the daemon's `--spaces`).
    init(json data: Data, spaces: String) throws {
        let body = try JSONBody.decode(Fields.self, from: data, of: "a search", example: #"{"space": "mnasnet-fm", "budget": 20}"#,
                                       types: ["budget": "a whole number from 1", "threads": "a whole number from 1",
                                               "parallel": "a whole number from 1", "seed": "a whole number from 0",
                                               "hours": "a number", "target_ms": "a number", "size_target_kb": "a number"])
        var request: SearchRequest
        switch (body.space, body.spaceYAML) {
        case let (name?, nil):
            request = try Self.shippedSpace(name, in: spaces)
        case let (nil, yaml?):
            request = SearchRequest(spaceYAML: yaml, spacePath: "space_yaml")
        case (_?, _?):
            throw InvalidField(field: "space", message: "give either 'space' (a space shipped with the daemon) or 'space_yaml' (a space's YAML text), not both")
        case (nil, nil):
            throw InvalidField(field: "space", message: "'space' is required: the name of a search space in \(spaces) (such as mnasnet-fm), or give 'space_yaml' with a space's YAML text")
        }
        if let v = try Self.choice("strategy", body.strategy, SearchConfiguration.Strategy.self) { request.strategy = v }
        if let v = body.budget { request.budget = v }
        request.hours = body.hours
        if let v = body.seed { request.seed = v }
        request.runName = body.run
        request.engine = try Self.choice("engine", body.engine, LatencyEngineName.self)
        request.targetMs = body.targetMs
        request.sizeTargetKB = body.sizeTargetKB
        request.constraint = try Self.choice("constraint", body.constraint, Reward.Constraint.self)
        if let v = try Self.choice("latency", body.latency, SearchConfiguration.LatencySource.self) { request.latency = v }
        request.threads = body.threads
        if let v = try Self.choice("proxy", body.proxy, SearchConfiguration.ProxyChoice.self) { request.proxy = v }
        if let v = try Self.choice("init", body.initialisation, WeightInitialisation.self) { request.initialisation = v }
        request.parallel = body.parallel
        self.request = request
    }

    /// A space file shipped in `folder`, by name: one path component, so no
    /// request reads a file outside it.
    static func shippedSpace(_ name: String, in folder: String) throws -> SearchRequest {
        let file = name.hasSuffix(".yaml") ? name : name + ".yaml"
        let allowed = file.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0) }
        let available = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
        guard allowed, !file.hasPrefix("."), let text = try? String(contentsOfFile: folder + "/" + file, encoding: .utf8) else {
            throw InvalidField(field: "space", message: "no search space '\(name)' in \(folder); available: \(available.joined(separator: ", ")) (or send its YAML as 'space_yaml')")
        }
        return SearchRequest(spaceYAML: text, spacePath: folder + "/" + file)
    }
}

extension SearchBody {
    /// The fields and their JSON types; null or absent means the default.
    private struct Fields: Decodable, KnownFields {
        var space, spaceYAML, strategy, run, engine, constraint, latency, proxy, initialisation: String?
        var budget, threads, parallel: Int?
        var seed: UInt64?
        var hours, targetMs, sizeTargetKB: Double?

        enum CodingKeys: String, CodingKey {
            case space, strategy, run, engine, constraint, latency, proxy, budget, threads, parallel, seed, hours
            case spaceYAML = "space_yaml", initialisation = "init", targetMs = "target_ms", sizeTargetKB = "size_target_kb"
        }

        static let names = ["space", "space_yaml", "strategy", "budget", "hours", "seed", "run", "engine", "target_ms",
                            "size_target_kb", "constraint", "latency", "threads", "proxy", "init", "parallel"]
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ text: String?, _ type: T.Type) throws -> T?
    where T.RawValue == String {
        guard let text else { return nil }
        guard let value = T(rawValue: text) else {
            throw InvalidField(field: key, message: "'\(key)' is '\(text)'; choose one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}
