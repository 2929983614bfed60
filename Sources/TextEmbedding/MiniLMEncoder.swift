import CBLAS
import Foundation

/// all-MiniLM-L6-v2 in Swift: BERT (6 layers, hidden 384, 12 heads, FFN 1536,
/// exact-erf GELU, LayerNorm ε 1e-12) with every dense layer one SGEMM over
/// all tokens of a batch, attention per text and head, then mean pooling over
/// the tokens and L2 normalisation. Weights come from the model's
/// `model.safetensors`, the vocabulary from its `vocab.txt`.
public final class MiniLMEncoder: TextEmbedder, @unchecked Sendable {
    public static let hidden = 384
    static let heads = 12
    static let headSize = 32
    static let intermediate = 1536
    static let layerCount = 6
    static let vocabularySize = 30522
    static let maxPositions = 512
    static let epsilon: Float = 1e-12

    public var dimension: Int { Self.hidden }
    public let name = "minilm"
    public let tokenizer: WordPieceTokenizer

    struct Layer {
        var query: [Float], queryBias: [Float]
        var key: [Float], keyBias: [Float]
        var value: [Float], valueBias: [Float]
        var attentionOutput: [Float], attentionOutputBias: [Float]
        var attentionNormWeight: [Float], attentionNormBias: [Float]
        var intermediate: [Float], intermediateBias: [Float]
        var output: [Float], outputBias: [Float]
        var outputNormWeight: [Float], outputNormBias: [Float]
    }

    let wordEmbeddings: [Float]
    let positionEmbeddings: [Float]
    let tokenTypeEmbeddings: [Float]
    let embeddingNormWeight: [Float], embeddingNormBias: [Float]
    let layers: [Layer]

    /// Loads from a model directory holding `model.safetensors` and `vocab.txt`.
    public convenience init(directory: String, maxLength: Int = 256) throws(EmbeddingError) {
        let vocabularyPath = directory + "/vocab.txt"
        guard let text = try? String(contentsOfFile: vocabularyPath, encoding: .utf8) else {
            throw EmbeddingError(.modelUnavailable, "cannot read \(vocabularyPath)")
        }
        try self.init(weights: SafetensorsFile(path: directory + "/model.safetensors"),
                      tokenizer: WordPieceTokenizer(vocabularyText: text, maxLength: maxLength))
    }

    public init(weights file: SafetensorsFile, tokenizer: WordPieceTokenizer) throws(EmbeddingError) {
        guard tokenizer.maxLength <= Self.maxPositions else {
            throw EmbeddingError(.invalidArgument, "maximum length \(tokenizer.maxLength) exceeds the model's \(Self.maxPositions) positions")
        }
        let h = Self.hidden
        self.tokenizer = tokenizer
        wordEmbeddings = try file.floats("embeddings.word_embeddings.weight", shape: [Self.vocabularySize, h])
        positionEmbeddings = try file.floats("embeddings.position_embeddings.weight", shape: [Self.maxPositions, h])
        tokenTypeEmbeddings = try file.floats("embeddings.token_type_embeddings.weight", shape: [2, h])
        embeddingNormWeight = try file.floats("embeddings.LayerNorm.weight", shape: [h])
        embeddingNormBias = try file.floats("embeddings.LayerNorm.bias", shape: [h])
        var layers: [Layer] = []
        for i in 0..<Self.layerCount {
            let p = "encoder.layer.\(i)."
            layers.append(Layer(
                query: try file.floats(p + "attention.self.query.weight", shape: [h, h]),
                queryBias: try file.floats(p + "attention.self.query.bias", shape: [h]),
                key: try file.floats(p + "attention.self.key.weight", shape: [h, h]),
                keyBias: try file.floats(p + "attention.self.key.bias", shape: [h]),
                value: try file.floats(p + "attention.self.value.weight", shape: [h, h]),
                valueBias: try file.floats(p + "attention.self.value.bias", shape: [h]),
                attentionOutput: try file.floats(p + "attention.output.dense.weight", shape: [h, h]),
                attentionOutputBias: try file.floats(p + "attention.output.dense.bias", shape: [h]),
                attentionNormWeight: try file.floats(p + "attention.output.LayerNorm.weight", shape: [h]),
                attentionNormBias: try file.floats(p + "attention.output.LayerNorm.bias", shape: [h]),
                intermediate: try file.floats(p + "intermediate.dense.weight", shape: [Self.intermediate, h]),
                intermediateBias: try file.floats(p + "intermediate.dense.bias", shape: [Self.intermediate]),
                output: try file.floats(p + "output.dense.weight", shape: [h, Self.intermediate]),
                outputBias: try file.floats(p + "output.dense.bias", shape: [h]),
                outputNormWeight: try file.floats(p + "output.LayerNorm.weight", shape: [h]),
                outputNormBias: try file.floats(p + "output.LayerNorm.bias", shape: [h])))
        }
        self.layers = layers
    }

    public func embed(_ texts: [String]) throws(EmbeddingError) -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        return encode(texts.map(tokenizer.encode))
    }

    /// Embeds already tokenised texts (ids with [CLS] and [SEP]).
    func encode(_ sequences: [[Int32]]) -> [[Float]] {
        let h = Self.hidden
        let lengths = sequences.map(\.count)
        let starts = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        let total = starts.last!
        // Embeddings: word + position + token type 0, then LayerNorm.
        var x = [Float](repeating: 0, count: total * h)
        for (s, ids) in sequences.enumerated() {
            for (position, id) in ids.enumerated() {
                let row = (starts[s] + position) * h
                let word = Int(id) * h, pos = position * h
                for j in 0..<h { x[row + j] = wordEmbeddings[word + j] + positionEmbeddings[pos + j] + tokenTypeEmbeddings[j] }
            }
        }
        layerNorm(&x, rows: total, weight: embeddingNormWeight, bias: embeddingNormBias)
        for layer in layers {
            let q = dense(x, rows: total, weight: layer.query, bias: layer.queryBias, outputs: h)
            let k = dense(x, rows: total, weight: layer.key, bias: layer.keyBias, outputs: h)
            let v = dense(x, rows: total, weight: layer.value, bias: layer.valueBias, outputs: h)
            let context = attention(q: q, k: k, v: v, starts: starts, lengths: lengths)
            var attended = dense(context, rows: total, weight: layer.attentionOutput, bias: layer.attentionOutputBias, outputs: h)
            for i in attended.indices { attended[i] += x[i] }
            layerNorm(&attended, rows: total, weight: layer.attentionNormWeight, bias: layer.attentionNormBias)
            var inner = dense(attended, rows: total, weight: layer.intermediate, bias: layer.intermediateBias, outputs: Self.intermediate)
            Self.gelu(&inner)
            var out = dense(inner, rows: total, weight: layer.output, bias: layer.outputBias, outputs: h)
            for i in out.indices { out[i] += attended[i] }
            layerNorm(&out, rows: total, weight: layer.outputNormWeight, bias: layer.outputNormBias)
            x = out
        }
        // Mean pooling over each text's tokens, then L2 normalisation.
        return sequences.indices.map { s in
            var pooled = [Float](repeating: 0, count: h)
            for t in starts[s]..<starts[s + 1] {
                for j in 0..<h { pooled[j] += x[t * h + j] }
            }
            let scale = 1 / Float(max(1, lengths[s]))
            var norm: Float = 0
            for j in 0..<h {
                pooled[j] *= scale
                norm += pooled[j] * pooled[j]
            }
            let inverse = 1 / max(norm.squareRoot(), 1e-12)
            return pooled.map { $0 * inverse }
        }
    }

    /// GELU with the exact (erf) form BERT uses. erf by Abramowitz–Stegun
    /// 7.1.26 (absolute error < 1.5e-7, below Float resolution here), eight
    /// values at a time with a vectorised exp; split across cores for large batches.
    static func gelu(_ values: inout [Float]) {
        let count = values.count
        values.withUnsafeMutableBufferPointer { buffer in
            guard let start = buffer.baseAddress else { return }
            let base = UnsafeMutableSendablePointer(start)
            // As many workers as OpenBLAS is allowed threads, so "1 thread" means one.
            let blocks = count >= 65_536 ? max(1, Int(openblas_get_num_threads())) : 1
            DispatchQueue.concurrentPerform(iterations: blocks) { block in
                // Block bounds on multiples of 8, so only the very end has a remainder.
                let start = (count / 8) * block / blocks * 8
                let end = block == blocks - 1 ? count : (count / 8) * (block + 1) / blocks * 8
                var i = start
                while i + 8 <= end {
                    let raw = UnsafeMutableRawPointer(base.pointer + i)
                    raw.storeBytes(of: gelu8(raw.loadUnaligned(as: SIMD8<Float>.self)), as: SIMD8<Float>.self)
                    i += 8
                }
                if i < end {
                    var tail = SIMD8<Float>(repeating: 0)
                    for j in i..<end { tail[j - i] = base.pointer[j] }
                    let done = gelu8(tail)
                    for j in i..<end { base.pointer[j] = done[j - i] }
                }
            }
        }
    }

    @inline(__always)
    static func gelu8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let one = V(repeating: 1)
        let magnitude: V = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: V.self)
        let z: V = magnitude * Float(0.70710678118654752)
        let t: V = one / (one + z * Float(0.3275911))
        var polynomial: V = t * Float(1.061405429) + V(repeating: -1.453152027)
        polynomial = t * polynomial + V(repeating: 1.421413741)
        polynomial = t * polynomial + V(repeating: -0.284496736)
        polynomial = t * polynomial + V(repeating: 0.254829592)
        polynomial = t * polynomial
        let erfAbs: V = one - polynomial * exp8(-(z * z))
        // erf is odd: erf(|x|) with x's sign bit.
        let sign = unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x8000_0000)
        let erf: V = unsafeBitCast(unsafeBitCast(erfAbs, to: SIMD8<UInt32>.self) | sign, to: V.self)
        return x * Float(0.5) * (one + erf)
    }

    /// e^x for eight values: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by Cephes'
    /// polynomial (relative error about 1e-7), 2^n put in the exponent bits.
    /// Inputs below −87 give e^−87, as GELU needs nothing smaller.
    @inline(__always)
    static func exp8(_ value: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let x = pointwiseMax(pointwiseMin(value, V(repeating: 88)), V(repeating: -87))
        // Adding then subtracting 1.5·2²³ rounds to the nearest whole number, and
        // leaves that number in the low mantissa bits of the sum.
        let magic = V(repeating: 12_582_912)
        let shifted = x * Float(1.44269504088896341) + magic
        let n = shifted - magic
        let r = x - n * Float(0.693359375) + n * Float(2.12194440e-4)
        var p = r * Float(1.9875691500e-4) + V(repeating: 1.3981999507e-3)
        p = p * r + V(repeating: 8.3334519073e-3)
        p = p * r + V(repeating: 4.1665795894e-2)
        p = p * r + V(repeating: 1.6666665459e-1)
        p = p * r + V(repeating: 5.0000001201e-1)
        p = p * (r * r) + r + V(repeating: 1)
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B40_0000)
        let exponent = (integer &+ SIMD8<Int32>(repeating: 127)) &<< SIMD8<Int32>(repeating: 23)
        return p * unsafeBitCast(exponent, to: V.self)
    }

    /// input (rows × in) · weightᵀ (weight is outputs × in, as PyTorch stores it) + bias.
    private func dense(_ input: [Float], rows: Int, weight: [Float], bias: [Float], outputs: Int) -> [Float] {
        let inputs = weight.count / outputs
        var result = [Float](repeating: 0, count: rows * outputs)
        result.withUnsafeMutableBufferPointer { out in
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (out.baseAddress! + r * outputs).update(from: b.baseAddress!, count: outputs) }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(outputs), blasint(inputs),
                    1, input, blasint(inputs), weight, blasint(inputs), 1, &result, blasint(outputs))
        return result
    }

    /// Scaled dot-product attention within each text, head by head.
    private func attention(q: [Float], k: [Float], v: [Float], starts: [Int], lengths: [Int]) -> [Float] {
        let h = Self.hidden, d = Self.headSize
        var context = [Float](repeating: 0, count: q.count)
        let scale = 1 / Float(d).squareRoot()
        var scores: [Float] = []
        for (s, n) in lengths.enumerated() where n > 0 {
            let offset = starts[s] * h
            if scores.count < n * n { scores = [Float](repeating: 0, count: n * n) }
            for head in 0..<Self.heads {
                let column = offset + head * d
                q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in
                context.withUnsafeMutableBufferPointer { cp in
                    // scores = Q_h · K_hᵀ · scale  (n × n), rows strided by the hidden size.
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n), blasint(n), blasint(d),
                                scale, qp.baseAddress! + column, blasint(h), kp.baseAddress! + column, blasint(h),
                                0, sp.baseAddress!, blasint(n))
                    for i in 0..<n {
                        let row = sp.baseAddress! + i * n
                        var maximum = -Float.infinity
                        for j in 0..<n { maximum = max(maximum, row[j]) }
                        var sum: Float = 0
                        for j in 0..<n {
                            row[j] = expf(row[j] - maximum)
                            sum += row[j]
                        }
                        let inverse = 1 / sum
                        for j in 0..<n { row[j] *= inverse }
                    }
                    // context_h = P · V_h
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(d), blasint(n),
                                1, sp.baseAddress!, blasint(n), vp.baseAddress! + column, blasint(h),
                                0, cp.baseAddress! + column, blasint(h))
                }}}}}
            }
        }
        return context
    }

    private func layerNorm(_ x: inout [Float], rows: Int, weight: [Float], bias: [Float]) {
        let h = Self.hidden
        for r in 0..<rows {
            let start = r * h
            var mean: Float = 0
            for j in 0..<h { mean += x[start + j] }
            mean /= Float(h)
            var variance: Float = 0
            for j in 0..<h {
                let centered = x[start + j] - mean
                variance += centered * centered
            }
            variance /= Float(h)
            let inverse = 1 / (variance + Self.epsilon).squareRoot()
            for j in 0..<h { x[start + j] = (x[start + j] - mean) * inverse * weight[j] + bias[j] }
        }
    }
}

/// A raw pointer handed to worker threads that write disjoint ranges.
struct UnsafeMutableSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
