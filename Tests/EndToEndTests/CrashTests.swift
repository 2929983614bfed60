import Foundation
import GraphdClient
import GraphdProto
import Synchronization
import Testing

/// kill -9 in the middle of a stream of AddEdges batches: after a restart every
/// acknowledged batch is there, and no batch is there in part.
/// What the writers saw: batches sent (by number) and batches acknowledged.
private final class Progress: Sendable {
    let acknowledged = Mutex<Set<Int>>([])
    let sent = Mutex<Int>(0)
}

@Suite(.serialized) struct CrashTests {
    static let batchSize = 200

    static func batch(_ number: Int) -> Graphd_V1_AddEdgesRequest {
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = (0..<batchSize).map { i in
            var edge = Graphd_V1_Edge()
            edge.type = "interacted"
            edge.source = Graphd_V1_NodeRef(type: "user", key: "b\(number)")
            edge.target = Graphd_V1_NodeRef(type: "item", key: "\(i)")
            return edge
        }
        return request
    }

    @Test(arguments: [1, 2, 3])
    func killNineLosesNothingAcknowledged(round: Int) async throws {
        let scratch = Scratch()
        let socket = scratch.path("k.sock"), store = scratch.path("k.sqlite")
        let daemon = try Daemon(socket: socket, store: store, extraArguments: ["--compact-delta-edges", "3000"])
        try await daemon.waitUntilServing()
        let progress = Progress()

        // Four writers keep batches in flight while the daemon is killed.
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        guard let client = try? await daemon.client() else { return }
                        var number = writer
                        while !Task.isCancelled {
                            progress.sent.withLock { $0 = max($0, number + 1) }
                            do {
                                _ = try await client.addEdges(Self.batch(number))
                                progress.acknowledged.withLock { _ = $0.insert(number) }
                            } catch {
                                break
                            }
                            number += 4
                        }
                        await client.close()
                    }
                }
            }
        }
        // Once writes are flowing (a loaded CI machine may take a while),
        // kill at a different moment each round.
        let flowing = ContinuousClock.now + .seconds(30)
        while progress.acknowledged.withLock({ $0.isEmpty }) && ContinuousClock.now < flowing {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(100 + 250 * round))
        await daemon.kill9()
        writers.cancel()
        await writers.value
        let acked = progress.acknowledged.withLock { $0 }
        try #require(acked.count > 0, "no batch was acknowledged before the kill")

        let restarted = try Daemon(socket: socket, store: store)
        try await restarted.waitUntilServing()
        let client = try await restarted.client()
        var partial: [Int] = []
        var present = 0
        for number in 0..<progress.sent.withLock({ $0 }) {
            var request = Graphd_V1_NeighborsRequest()
            request.node = Graphd_V1_NodeRef(type: "user", key: "b\(number)")
            request.limit = 10_000
            let count: Int
            do {
                count = try await client.neighbors(request).neighbors.count
            } catch let error as RPCError where error.code == .notFound {
                count = 0
            }
            if count != 0 && count != Self.batchSize { partial.append(number) }
            if count == Self.batchSize { present += 1 }
            if acked.contains(number) {
                #expect(count == Self.batchSize, "acknowledged batch \(number) has \(count) of \(Self.batchSize) edges")
            }
        }
        #expect(partial.isEmpty, "half-applied batches: \(partial)")
        let stats = try await client.stats()
        #expect(Int(stats.edges) == present * Self.batchSize)
        await client.close()
        _ = await restarted.terminate()
    }
}
