@testable import GraphCore
import Testing

@Suite struct NodeIndexTests {
    /// The radix order against a comparison sort of (key, position), for
    /// sizes on both sides of the small-input path and keys of 1 to 4 bytes.
    @Test(arguments: [0, 1, 17, 255, 256, 1000, 20_000])
    func stableOrderMatchesASortByKeyThenPosition(_ count: Int) {
        var generator = SplitMix(seed: UInt64(count) + 1)
        for range: UInt64 in [3, 200, 70_000, 1 << 32] {
            let keys = (0..<count).map { _ in UInt32(generator.next() % range) }
            let expected = keys.indices.sorted { (keys[$0], $0) < (keys[$1], $1) }.map(UInt32.init)
            #expect(NodeIndex.stableOrder(of: keys) == expected, "\(count) keys below \(range)")
        }
    }

    @Test func positionsAreGroupedByNodeInInsertionOrder() {
        let index = NodeIndex((0..<600).map { UInt32(($0 * 7) % 5) })
        #expect(index.keys == [0, 1, 2, 3, 4])
        #expect(Array(index[3]) == (0..<600).filter { ($0 * 7) % 5 == 3 }.map(UInt32.init))
        #expect(index[9].isEmpty)
    }
}
