import Yams

extension OpenAPIDocument {
    /// The document's paths and their methods, read once from the document
    /// itself: what a 405 lists, so that it cannot drift from the routes.
    private static let operations: [(segments: [Substring], methods: [String])] = {
        guard let document = try? Yams.load(yaml: yaml) as? [String: Any],
              let paths = document["paths"] as? [String: [String: Any]] else { return [] }
        let verbs = ["get", "put", "post", "delete", "patch", "head", "options"]
        return paths.map { path, item in
            (path.split(separator: "/"), verbs.filter { item[$0] != nil }.map { $0.uppercased() })
        }
    }()

    /// The methods of the document's path that `path` is an instance of, or nil when it is none.
    static func methods(of path: String) -> [String]? {
        let segments = path.split(separator: "/")
        return operations.first { template in
            template.segments.count == segments.count && zip(template.segments, segments).allSatisfy { t, s in
                t.hasPrefix("{") || t == s
            }
        }?.methods
    }
}
