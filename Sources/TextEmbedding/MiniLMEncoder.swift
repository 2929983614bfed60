import CBLAS
import Foundation

/// all-MiniLM-L6-v2 in Swift: BERT (6 layers, hidden 384, 12 heads, FFN 1536,
/// exact-erf GELU, LayerNorm ε 1e-12) with every dense layer one SGEMM over
/// all tokens of a batch (query, key and value fused into one), attention per
/// text and head in eight-lane SIMD shared among the cores, then mean pooling
/// over the tokens and L2 normalisation. Weights come from the model's
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

    /// One encoder layer. Dense weights are stored transposed (inputs × outputs,
    /// row-major), so every projection is a plain `X · W` SGEMM: OpenBLAS packs
    /// that layout faster than PyTorch's outputs × inputs. Query, key and value
    /// are one inputs × 3·hidden matrix, so a layer makes four SGEMM calls.
    struct Layer {
        var queryKeyValue: [Float], queryKeyValueBias: [Float]
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
        let h = Self.hidden, ffn = Self.intermediate
        self.tokenizer = tokenizer
        wordEmbeddings = try file.floats("embeddings.word_embeddings.weight", shape: [Self.vocabularySize, h])
        positionEmbeddings = try file.floats("embeddings.position_embeddings.weight", shape: [Self.maxPositions, h])
        tokenTypeEmbeddings = try file.floats("embeddings.token_type_embeddings.weight", shape: [2, h])
        embeddingNormWeight = try file.floats("embeddings.LayerNorm.weight", shape: [h])
        embeddingNormBias = try file.floats("embeddings.LayerNorm.bias", shape: [h])
        var layers: [Layer] = []
        for i in 0..<Self.layerCount {
            let p = "encoder.layer.\(i)."
            /// A PyTorch Linear weight (outputs × inputs) as inputs × outputs.
            func transposed(_ name: String, outputs: Int, inputs: Int) throws(EmbeddingError) -> [Float] {
                Self.transpose(try file.floats(p + name, shape: [outputs, inputs]), rows: outputs, columns: inputs)
            }
            let query = try file.floats(p + "attention.self.query.weight", shape: [h, h])
            let key = try file.floats(p + "attention.self.key.weight", shape: [h, h])
            let value = try file.floats(p + "attention.self.value.weight", shape: [h, h])
            layers.append(Layer(
                queryKeyValue: Self.transpose(query + key + value, rows: 3 * h, columns: h),
                queryKeyValueBias: try file.floats(p + "attention.self.query.bias", shape: [h])
                    + file.floats(p + "attention.self.key.bias", shape: [h])
                    + file.floats(p + "attention.self.value.bias", shape: [h]),
                attentionOutput: try transposed("attention.output.dense.weight", outputs: h, inputs: h),
                attentionOutputBias: try file.floats(p + "attention.output.dense.bias", shape: [h]),
                attentionNormWeight: try file.floats(p + "attention.output.LayerNorm.weight", shape: [h]),
                attentionNormBias: try file.floats(p + "attention.output.LayerNorm.bias", shape: [h]),
                intermediate: try transposed("intermediate.dense.weight", outputs: ffn, inputs: h),
                intermediateBias: try file.floats(p + "intermediate.dense.bias", shape: [ffn]),
                output: try transposed("output.dense.weight", outputs: h, inputs: ffn),
                outputBias: try file.floats(p + "output.dense.bias", shape: [h]),
                outputNormWeight: try file.floats(p + "output.LayerNorm.weight", shape: [h]),
                outputNormBias: try file.floats(p + "output.LayerNorm.bias", shape: [h])))
        }
        self.layers = layers
    }

    static func transpose(_ matrix: [Float], rows: Int, columns: Int) -> [Float] {
        var result = [Float](repeating: 0, count: matrix.count)
        for r in 0..<rows {
            for c in 0..<columns { result[c * rows + r] = matrix[r * columns + c] }
        }
        return result
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
        Self.addAndNormalize(&x, residual: nil, rows: total, weight: embeddingNormWeight, bias: embeddingNormBias)
        // Buffers reused by every layer; x is free once the FFN input is saved in `attended`.
        var queryKeyValue = [Float](repeating: 0, count: total * 3 * h)
        var context = [Float](repeating: 0, count: total * h)
        var attended = [Float](repeating: 0, count: total * h)
        var inner = [Float](repeating: 0, count: total * Self.intermediate)
        for layer in layers {
            Self.dense(x, rows: total, weight: layer.queryKeyValue, bias: layer.queryKeyValueBias, into: &queryKeyValue)
            Self.attention(queryKeyValue, starts: starts, lengths: lengths, into: &context)
            Self.dense(context, rows: total, weight: layer.attentionOutput, bias: layer.attentionOutputBias, into: &attended)
            Self.addAndNormalize(&attended, residual: x, rows: total, weight: layer.attentionNormWeight, bias: layer.attentionNormBias)
            Self.dense(attended, rows: total, weight: layer.intermediate, bias: layer.intermediateBias, into: &inner)
            Self.gelu(&inner)
            Self.dense(inner, rows: total, weight: layer.output, bias: layer.outputBias, into: &x)
            Self.addAndNormalize(&x, residual: attended, rows: total, weight: layer.outputNormWeight, bias: layer.outputNormBias)
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
            let blocks = workers(work: count, threshold: 65_536)
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
        // Clamped by masks: the generic pointwiseMin/Max are calls, not inlined.
        let x = value.replacing(with: 88, where: value .> 88).replacing(with: -87, where: value .< -87)
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

    /// Only the dense layers' SGEMMs of one forward pass over `rows` tokens, with
    /// the model's weights and no other work: the floor `graphd-bench embed`
    /// compares a whole encode against.
    public func denseLayersOnly(rows: Int) {
        let h = Self.hidden
        let x = [Float](repeating: 0.01, count: rows * h), inner = [Float](repeating: 0.01, count: rows * Self.intermediate)
        var wide = [Float](repeating: 0, count: rows * 3 * h), narrow = [Float](repeating: 0, count: rows * h)
        var ffn = [Float](repeating: 0, count: rows * Self.intermediate)
        for layer in layers {
            Self.dense(x, rows: rows, weight: layer.queryKeyValue, bias: layer.queryKeyValueBias, into: &wide)
            Self.dense(x, rows: rows, weight: layer.attentionOutput, bias: layer.attentionOutputBias, into: &narrow)
            Self.dense(x, rows: rows, weight: layer.intermediate, bias: layer.intermediateBias, into: &ffn)
            Self.dense(inner, rows: rows, weight: layer.output, bias: layer.outputBias, into: &narrow)
        }
    }

    /// output = input (rows × inputs) · weight (inputs × outputs) + bias, into a
    /// buffer of rows × outputs.
    static func dense(_ input: [Float], rows: Int, weight: [Float], bias: [Float], into output: inout [Float]) {
        let outputs = bias.count, inputs = weight.count / outputs
        precondition(input.count == rows * inputs && output.count == rows * outputs)
        output.withUnsafeMutableBufferPointer { out in
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (out.baseAddress! + r * outputs).update(from: b.baseAddress!, count: outputs) }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows), blasint(outputs), blasint(inputs),
                        1, input, blasint(inputs), weight, blasint(outputs), 1, out.baseAddress!, blasint(outputs))
        }
    }

    /// Workers for a step that runs beside the SGEMMs: as many as OpenBLAS is
    /// allowed threads (so "1 thread" means one), once `work` reaches `threshold`.
    static func workers(work: Int, threshold: Int) -> Int {
        work >= threshold ? max(1, Int(openblas_get_num_threads())) : 1
    }

    /// Scaled dot-product attention within each text, for every head, from rows
    /// of (query | key | value) into rows of the heads' concatenated contexts.
    /// The (text, head) pairs are shared among as many workers as OpenBLAS may
    /// use threads, once there is enough work to pay for the hand-off.
    static func attention(_ queryKeyValue: [Float], starts: [Int], lengths: [Int], into context: inout [Float]) {
        let units = lengths.count * heads
        let work = lengths.reduce(0) { $0 + $1 * $1 } * heads * headSize
        let workers = min(units, Self.workers(work: work, threshold: 100_000))
        let longest = lengths.max() ?? 0
        queryKeyValue.withUnsafeBufferPointer { qkv in
            context.withUnsafeMutableBufferPointer { out in
                let source = UnsafeSendablePointer(qkv.baseAddress!)
                let target = UnsafeMutableSendablePointer(out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: AttentionScratch.capacity(longest: longest))
                    defer { scratch.deallocate() }
                    for unit in (units * worker / workers)..<(units * (worker + 1) / workers) {
                        let text = unit / heads
                        attendHead(source.pointer, start: starts[text], count: lengths[text], head: unit % heads,
                                   scratch: scratch, into: target.pointer)
                    }
                }
            }
        }
    }

    /// Sizes of one worker's scratch: keys transposed (head size × padded
    /// length) and one row of scores.
    enum AttentionScratch {
        static func padded(_ count: Int) -> Int { (count + 7) / 8 * 8 }
        static func capacity(longest: Int) -> Int { (headSize + 1) * padded(longest) }
    }

    /// One head of one text: softmax(Q·Kᵀ/√d)·V, eight scores or eight context
    /// values at a time. Keys are copied transposed so a score block is one
    /// broadcast multiply-add per dimension. (Written `a += b * c`, not
    /// `addProduct`: a fused multiply-add on this build's baseline x86-64 target
    /// is a libm call per lane.)
    static func attendHead(_ qkv: UnsafePointer<Float>, start: Int, count n: Int, head: Int,
                           scratch: UnsafeMutablePointer<Float>, into context: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        guard n > 0 else { return }
        let h = hidden, d = headSize, stride = 3 * h
        let padded = AttentionScratch.padded(n)
        let keys = scratch, scores = scratch + d * padded
        let queryColumn = head * d, keyColumn = h + head * d, valueColumn = 2 * h + head * d
        for c in 0..<d {
            for j in 0..<padded { keys[c * padded + j] = j < n ? qkv[(start + j) * stride + keyColumn + c] : 0 }
        }
        let scale = 1 / Float(d).squareRoot()
        let raw = UnsafeMutableRawPointer(scores)
        for i in 0..<n {
            let query = qkv + (start + i) * stride + queryColumn
            var maxima = V(repeating: -.infinity)
            for block in Swift.stride(from: 0, to: padded, by: 8) {
                var sum = V(repeating: 0)
                for c in 0..<d {
                    sum += V(repeating: query[c]) * UnsafeRawPointer(keys + c * padded + block).loadUnaligned(as: V.self)
                }
                sum *= scale
                if block + 8 > n {
                    for lane in (n - block)..<8 { sum[lane] = -.infinity }
                }
                maxima = maxima.replacing(with: sum, where: sum .> maxima)
                raw.storeBytes(of: sum, toByteOffset: block * 4, as: V.self)
            }
            let maximum = maxima.max()
            var total: Float = 0
            for block in Swift.stride(from: 0, to: padded, by: 8) {
                var e = exp8(raw.loadUnaligned(fromByteOffset: block * 4, as: V.self) - maximum)
                if block + 8 > n {
                    for lane in (n - block)..<8 { e[lane] = 0 }
                }
                total += e.sum()
                raw.storeBytes(of: e, toByteOffset: block * 4, as: V.self)
            }
            let inverse = 1 / total
            var out0 = V(repeating: 0), out1 = V(repeating: 0), out2 = V(repeating: 0), out3 = V(repeating: 0)
            for j in 0..<n {
                let p = V(repeating: scores[j] * inverse)
                let value = UnsafeRawPointer(qkv + (start + j) * stride + valueColumn)
                out0 += p * value.loadUnaligned(as: V.self)
                out1 += p * value.loadUnaligned(fromByteOffset: 32, as: V.self)
                out2 += p * value.loadUnaligned(fromByteOffset: 64, as: V.self)
                out3 += p * value.loadUnaligned(fromByteOffset: 96, as: V.self)
            }
            let row = UnsafeMutableRawPointer(context + (start + i) * h + queryColumn)
            row.storeBytes(of: out0, as: V.self)
            row.storeBytes(of: out1, toByteOffset: 32, as: V.self)
            row.storeBytes(of: out2, toByteOffset: 64, as: V.self)
            row.storeBytes(of: out3, toByteOffset: 96, as: V.self)
        }
    }

    /// x = LayerNorm(x + residual) row by row (no residual for the embeddings),
    /// eight values at a time.
    static func addAndNormalize(_ x: inout [Float], residual: [Float]?, rows: Int, weight: [Float], bias: [Float]) {
        typealias V = SIMD8<Float>
        let h = hidden
        precondition(x.count == rows * h && (residual?.count ?? x.count) == x.count && weight.count == h && bias.count == h)
        x.withUnsafeMutableBytes { xb in
        weight.withUnsafeBytes { wb in
        bias.withUnsafeBytes { bb in
            let xs = xb.baseAddress!
            if let residual {
                // Residual added first, in place, so the statistics see the sum.
                residual.withUnsafeBytes { rb in
                    for i in Swift.stride(from: 0, to: rows * h * 4, by: 32) {
                        xs.storeBytes(of: xs.loadUnaligned(fromByteOffset: i, as: V.self) + rb.loadUnaligned(fromByteOffset: i, as: V.self),
                                      toByteOffset: i, as: V.self)
                    }
                }
            }
            for r in 0..<rows {
                let row = xs + r * h * 4
                var sum = V(repeating: 0)
                for j in Swift.stride(from: 0, to: h * 4, by: 32) { sum += row.loadUnaligned(fromByteOffset: j, as: V.self) }
                let mean = sum.sum() / Float(h)
                var squares = V(repeating: 0)
                for j in Swift.stride(from: 0, to: h * 4, by: 32) {
                    let centered = row.loadUnaligned(fromByteOffset: j, as: V.self) - mean
                    squares += centered * centered
                }
                let inverse = 1 / (squares.sum() / Float(h) + epsilon).squareRoot()
                for j in Swift.stride(from: 0, to: h * 4, by: 32) {
                    let normalized = (row.loadUnaligned(fromByteOffset: j, as: V.self) - mean) * inverse
                    row.storeBytes(of: normalized * wb.loadUnaligned(fromByteOffset: j, as: V.self) + bb.loadUnaligned(fromByteOffset: j, as: V.self),
                                   toByteOffset: j, as: V.self)
                }
            }
        }}}
    }
}

/// A raw pointer handed to worker threads that only read through it.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    init(_ pointer: UnsafePointer<Float>) { self.pointer = pointer }
}

/// A raw pointer handed to worker threads that write disjoint ranges.
struct UnsafeMutableSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
