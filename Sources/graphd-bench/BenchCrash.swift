import ArgumentParser
import Foundation
import GraphdHarness
import GraphdTools
import GraphdClient
import GraphdProto
import Synchronization
import TTRPC
#if canImport(Glibc)
import Glibc
#endif

// MARK: bench crash

/// Batches the writers sent and the ones graphd acknowledged, across cycles.
final class CrashLedger: Sendable {
    let acknowledged = Mutex<Set<String>>([])
    let sent = Mutex<Set<String>>([])
}

struct BenchCrash: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash", abstract: "Kill graphd with SIGKILL at random moments under write load; verify every acknowledged write.",
        discussion: """
        One store across all cycles. Each cycle starts graphd on it, runs --writers connections \
        sending AddEdges batches (a batch = one user node with --batch-size edges), sends SIGKILL \
        after a random 0.2…1.5 s, restarts graphd and checks, for every batch ever sent: \
        acknowledged batches are complete, unacknowledged ones are complete or absent (never \
        partial). Compaction is forced often (--compact-delta-edges) so kills also land during \
        compactions. Exits non-zero on any loss.
        """)

    @Option(help: "Kill/restart cycles.")
    var cycles: Int = 20
    @Option(help: "Concurrent writer connections.")
    var writers: Int = 4
    @Option(help: "Edges per batch.")
    var batchSize: Int = 100
    @Option(help: "Seed for the kill times.")
    var seed: UInt64 = 1
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let scratch = try options.makeScratch()
        let socket = scratch + "/crash.sock", store = scratch + "/crash.sqlite"
        for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) }
        let ledger = CrashLedger()
        var rng = SystemRandomNumberGenerator()
        var random = UInt64(seed)
        var restartSeconds: [Double] = []
        var killedDuringCycle: [Int] = []
        for cycle in 0..<cycles {
            let daemon = try BenchDaemon(graphd: options.graphdPath, socket: socket, store: store,
                                         arguments: ["--compact-delta-edges", "2000", "--compact-after-seconds", "1"])
            defer { if daemon.process.isRunning { daemon.stop() } }
            restartSeconds.append(try await daemon.waitUntilServing())
            if cycle > 0 { try await verify(socket: socket, ledger: ledger, cycle: cycle) }
            let batchSize = self.batchSize
            let writerTasks = Task {
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        group.addTask {
                            guard let client = try? await GraphClient.connect(to: .unix(path: socket)) else { return }
                            var number = 0
                            while !Task.isCancelled {
                                let key = "c\(cycle)-w\(writer)-b\(number)"
                                ledger.sent.withLock { _ = $0.insert(key) }
                                do {
                                    _ = try await client.addEdges(Self.batch(key: key, size: batchSize), timeout: .seconds(30))
                                    ledger.acknowledged.withLock { _ = $0.insert(key) }
                                } catch {
                                    break
                                }
                                number += 1
                            }
                            await client.close()
                        }
                    }
                }
            }
            random = random &* 6364136223846793005 &+ 1442695040888963407
            let delay = 0.2 + Double(random >> 11) / Double(1 << 53) * 1.3 + Double.random(in: 0..<0.01, using: &rng)
            try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
            kill(daemon.process.processIdentifier, SIGKILL)
            daemon.process.waitUntilExit()
            writerTasks.cancel()
            await writerTasks.value
            killedDuringCycle.append(ledger.acknowledged.withLock { set in set.filter { $0.hasPrefix("c\(cycle)-") }.count })
            log("cycle \(cycle + 1)/\(cycles): killed after \(String(format: "%.2f", delay)) s, \(killedDuringCycle.last!) batches acknowledged this cycle")
        }
        // Final restart and check.
        let daemon = try BenchDaemon(graphd: options.graphdPath, socket: socket, store: store)
        defer { if daemon.process.isRunning { daemon.stop() } }
        restartSeconds.append(try await daemon.waitUntilServing())
        let (complete, absent) = try await verify(socket: socket, ledger: ledger, cycle: cycles)
        let acknowledged = ledger.acknowledged.withLock { $0.count }
        let summary: [String: Any] = [
            "cycles": cycles, "writers": writers, "batch_size": batchSize, "acknowledged_batches": acknowledged,
            "acknowledged_edges": acknowledged * batchSize, "unacknowledged_complete": complete - acknowledged,
            "unacknowledged_absent": absent, "lost": 0, "partial": 0,
            "restart_seconds_median": median(restartSeconds), "restart_seconds_max": restartSeconds.max() ?? 0,
        ]
        switch options.format {
        case .json: printJSON(summary)
        case .text:
            print("crash: \(cycles) SIGKILL cycles, \(writers) writers, batches of \(batchSize) edges")
            print("  \(acknowledged) batches (\(acknowledged * batchSize) edges) acknowledged, all present and complete after restart; 0 lost, 0 partial")
            print("  unacknowledged batches: \(complete - acknowledged) committed before the kill, \(absent) absent")
            print(String(format: "  restart to serving: median %.2f s, max %.2f s", median(restartSeconds), restartSeconds.max() ?? 0))
        }
    }

    static func batch(key: String, size: Int) -> Graphd_V1_AddEdgesRequest {
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = (0..<size).map { i in
            var edge = Graphd_V1_Edge()
            edge.type = "interacted"
            edge.source = Graphd_V1_NodeRef(type: "user", key: key)
            edge.target = Graphd_V1_NodeRef(type: "item", key: "i\(i)")
            return edge
        }
        return request
    }

    /// Every batch sent so far is complete or absent, and every acknowledged one complete.
    @discardableResult
    private func verify(socket: String, ledger: CrashLedger, cycle: Int) async throws -> (complete: Int, absent: Int) {
        let client = try await GraphClient.connect(to: .unix(path: socket))
        let sent = ledger.sent.withLock { $0 }, acknowledged = ledger.acknowledged.withLock { $0 }
        var complete = 0, absent = 0
        for key in sent {
            var request = Graphd_V1_GetNodeRequest()
            request.node = Graphd_V1_NodeRef(type: "user", key: key)
            let degree: UInt64
            do {
                let node = try await client.getNode(request)
                degree = node.outDegree  // 'interacted' is undirected: every edge counts as out (and in)
            } catch let error as RPCError where error.code == .notFound {
                degree = 0
            } catch {
                await client.close()
                throw error
            }
            if degree == UInt64(batchSize) {
                complete += 1
            } else if degree == 0 {
                absent += 1
                if acknowledged.contains(key) {
                    await client.close()
                throw fail(message: "cycle \(cycle): acknowledged batch \(key) is missing", code: ToolExit.software)
                }
            } else {
                await client.close()
                throw fail(message: "cycle \(cycle): batch \(key) is partial (\(degree) of \(batchSize) edges)", code: ToolExit.software)
            }
        }
        await client.close()
        return (complete, absent)
    }
}
