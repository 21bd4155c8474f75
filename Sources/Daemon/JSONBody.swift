import Foundation
import Runs

/// A body's fields as the route knows them.
protocol KnownFields { static var names: [String] { get } }

/// A request body decoded strictly: a JSON object, no unknown key (a typo
/// would otherwise be ignored silently), and a field of the wrong type named.
enum JSONBody {
    /// `types`: what each non-string field must be, for the message.
    static func decode<T: Decodable & KnownFields>(_ type: T.Type, from data: Data, of what: String, example: String,
                                                   types: [String: String]) throws -> T {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw DaemonError.unprocessable(field: nil, "the body is not JSON; send an object such as \(example)")
        }
        guard let fields = object as? [String: Any] else {
            throw DaemonError.unprocessable(field: nil, "the body must be a JSON object of \(what)'s options, such as \(example)")
        }
        if let unknown = fields.keys.sorted().first(where: { !T.names.contains($0) }) {
            throw InvalidField(field: unknown, message: "'\(unknown)' is not an option of \(what); the options are \(T.names.sorted().joined(separator: ", "))")
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            // Each field decoded alone until one fails: the decoder's own error does not always name it.
            for key in fields.keys.sorted() {
                guard let single = try? JSONSerialization.data(withJSONObject: [key: fields[key]!]),
                      (try? JSONDecoder().decode(T.self, from: single)) == nil else { continue }
                throw InvalidField(field: key, message: "'\(key)' must be \(types[key] ?? "a string")")
            }
            throw InvalidField(field: "body", message: "the body cannot be read as \(what)'s options")
        }
    }
}
