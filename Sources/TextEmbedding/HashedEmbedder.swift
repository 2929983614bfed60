import RealModule

/// The zero-set-up default: feature hashing of words and character n-grams.
///
/// The text is lower-cased and split into words (letters and digits); each
/// word and each character 3-, 4- and 5-gram of " word " is hashed (FNV-1a)
/// into one of `dimension` buckets with a hash-derived sign; counts are
/// log-scaled (1 + ln n) and the vector is L2-normalised. Similar wording
/// gives similar vectors; meaning is not modelled. Deterministic on every machine.
public struct HashedNGramEmbedder: TextEmbedder {
    public let name = "hashed"
    public let dimension: Int

    public init(dimension: Int = 384) {
        self.dimension = max(1, dimension)
    }

    public func embed(_ texts: [String]) throws(EmbeddingError) -> [[Float]] {
        texts.map(vector)
    }

    func vector(_ text: String) -> [Float] {
        var counts: [Int: Float] = [:]
        func add(_ bytes: some Sequence<UInt8>, salt: UInt64) {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ salt
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
            let bucket = Int(hash % UInt64(dimension))
            let sign: Float = (hash >> 63) == 0 ? 1 : -1
            counts[bucket, default: 0] += sign
        }
        var words: [[UInt8]] = []
        var current: [UInt8] = []
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(contentsOf: character.utf8)
            } else if !current.isEmpty {
                words.append(current)
                current = []
            }
        }
        if !current.isEmpty { words.append(current) }
        for word in words {
            add(word, salt: 1)
            let padded = [UInt8(ascii: " ")] + word + [UInt8(ascii: " ")]
            for n in 3...5 where padded.count >= n {
                for start in 0...(padded.count - n) { add(padded[start..<(start + n)], salt: UInt64(n) << 8) }
            }
        }
        var vector = [Float](repeating: 0, count: dimension)
        for (bucket, count) in counts where count != 0 {
            let magnitude = 1 + Float.log(abs(count))
            vector[bucket] = count > 0 ? magnitude : -magnitude
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }
}
