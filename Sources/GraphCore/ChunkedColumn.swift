/// An append-mostly column with cheap snapshots.
///
/// Elements live in fixed-size chunks held by reference. Copying the column
/// (taking a snapshot) copies only the array of chunk references; a later write
/// copies the one chunk it touches if a snapshot still shares it. Readers of a
/// snapshot therefore never see a write, and a write costs at most one chunk copy.
struct ChunkedColumn<Element: Sendable>: Sendable, RandomAccessCollection {
    static var chunkShift: Int { 12 }
    static var chunkSize: Int { 1 << chunkShift }

    /// Mutated only while uniquely referenced (copy-on-write), so sharing is safe.
    final class Chunk: @unchecked Sendable {
        var elements: ContiguousArray<Element>
        init(_ elements: ContiguousArray<Element>) { self.elements = elements }
    }

    private var chunks: [Chunk] = []
    private(set) var count: Int = 0

    public init() {}

    public init<S: Sequence>(_ elements: S) where S.Element == Element {
        for element in elements { append(element) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(position: Int) -> Element {
        get {
            precondition(position >= 0 && position < count, "ChunkedColumn index out of range")
            return chunks[position >> Self.chunkShift].elements[position & (Self.chunkSize - 1)]
        }
        set {
            precondition(position >= 0 && position < count, "ChunkedColumn index out of range")
            let chunkIndex = position >> Self.chunkShift
            makeUnique(chunkIndex)
            chunks[chunkIndex].elements[position & (Self.chunkSize - 1)] = newValue
        }
    }

    mutating func append(_ element: Element) {
        if count & (Self.chunkSize - 1) == 0 {
            var storage = ContiguousArray<Element>()
            storage.reserveCapacity(Self.chunkSize)
            chunks.append(Chunk(storage))
        } else {
            makeUnique(chunks.count - 1)
        }
        chunks[chunks.count - 1].elements.append(element)
        count += 1
    }

    private mutating func makeUnique(_ chunkIndex: Int) {
        if !isKnownUniquelyReferenced(&chunks[chunkIndex]) {
            var copy = chunks[chunkIndex].elements
            copy.reserveCapacity(Self.chunkSize)
            chunks[chunkIndex] = Chunk(copy)
        }
    }

    /// Approximate heap bytes held (elements only).
    var approximateByteCount: Int {
        chunks.count * Self.chunkSize * MemoryLayout<Element>.stride + chunks.count * 48
    }
}
