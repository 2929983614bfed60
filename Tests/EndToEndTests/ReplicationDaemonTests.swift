import Foundation
import GraphdClient
import GraphdHarness
import GraphdProto
import Replication
import SwiftProtobuf
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// graphd processes replicating through a three-server NATS JetStream cluster
/// on loopback, all started by the tests: convergence, read-your-writes,
/// refused writes, failover and faults under write load, misconfiguration.
@Suite(.serialized) struct ReplicationDaemonTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func aPrimaryAndTwoReplicasConvergeAndAnswerAlike() async throws {
        let set = try await ReplicatedGraphds.start()
        let (primary, replicas) = try await set.startPrimary(replicas: 2)

        // A mixed workload on the primary: the demo graph (types, nodes with text,
        // edges, LLMs, tasks, outcomes, conversations), Train, then Feedback,
        // removals, a new conversation and nodes.
        let imported = try await runAside(Products.graphctl, ["import", "--socket", primary.socket, "--format", "jsonl",
                                                   Self.root.appendingPathComponent("Graphs/demo.jsonl").path])
        #expect(imported.status == 0, "\(imported.stderr)")
        let trained = try await runAside(Products.graphctl, ["train", "router", "--socket", primary.socket, "--epochs", "40", "--quiet", "--timeout", "120"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let client = try await primary.client()
        var feedback = Graphd_V1_FeedbackRequest()
        feedback.query = "Translate 'good morning' into French."
        feedback.outcomes = try await client.listLLMs().llms.prefix(2).enumerated().map { i, llm in
            var outcome = Graphd_V1_Outcome()
            outcome.llm = llm.name
            outcome.effect = i == 0 ? 1 : 0
            return outcome
        }
        let fed = try await client.feedback(feedback)
        #expect(fed.logSequence > 0, "a write reply carries its log sequence")
        var removeEdges = Graphd_V1_RemoveEdgesRequest()
        let someItems = try await client.neighbors(Self.neighborsRequest("user", "u007")).neighbors.prefix(2)
        removeEdges.edges = someItems.map { neighbor in
            var edge = Graphd_V1_EdgeRef()
            edge.type = neighbor.edgeType
            edge.source = Graphd_V1_NodeRef(type: "user", key: "u007")
            edge.target = neighbor.node
            return edge
        }
        #expect(try await client.removeEdges(removeEdges).removed == 2)
        var removeNodes = Graphd_V1_RemoveNodesRequest()
        removeNodes.nodes = [Graphd_V1_NodeRef(type: "user", key: "u010")]
        #expect(try await client.removeNodes(removeNodes).nodesRemoved == 1)
        var conversation = Graphd_V1_AddConversationRequest()
        conversation.key = "replicated-dialogue"
        conversation.turns = [("SEEKER", "I want a clever science fiction film like Arrival."),
                              ("RECOMMENDER", "Try Interstellar.")].map { role, text in
            var turn = Graphd_V1_DialogueTurn()
            turn.role = role
            turn.text = text
            return turn
        }
        _ = try await client.addConversation(conversation)
        var nodes = Graphd_V1_AddNodesRequest()
        nodes.nodes = (0..<20).map { i in
            var node = Graphd_V1_Node()
            node.type = "item"
            node.key = "new-\(i)"
            node.text = "a new film number \(i)"
            return node
        }
        // The reply carries the sequence the write is visible at; the primary may
        // have applied more since (the online update Feedback queued writes its
        // weights through the log in the background, whenever it finishes).
        let last = try await client.addNodes(nodes).logSequence
        let applied = try await client.stats().appliedLogSequence
        #expect(last > 0 && last <= applied)

        // A write to a replica is refused by graphctl with exit 65 and the primary's address.
        let refused = try await runAside(Products.graphctl, ["edge", "add", "interacted", "user:u001", "item:new-1", "--socket", replicas[0].socket])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("FAILED_PRECONDITION") && refused.stderr.contains("unix:\(primary.socket)"), "\(refused.stderr)")
        // … and followed to the primary by the Swift client, which then reads its own write on the replica.
        var session = try await replicas[0].client()
        session.followsPrimary = true
        session.readsYourWrites = true
        var edge = Graphd_V1_AddEdgesRequest()
        edge.edges = [makeEdge("interacted", ("user", "session-user"), ("item", "new-3"))]
        let written = try await session.addEdges(edge)
        #expect(written.created == 1 && session.highestLogSequence == written.logSequence)
        let seen = try await session.neighbors(Self.neighborsRequest("user", "session-user"))
        #expect(seen.neighbors.map(\.node.key) == ["new-3"], "read-your-writes on the replica")
        await session.close()

        // At rest (the online update Feedback queued has been written), every
        // graphd holds the same graph and answers alike.
        let target = try await set.settledSequence(primary)
        var reference: Answers?
        for daemon in [primary] + replicas {
            var reader = try await daemon.client()
            reader.metadata.append((GraphdReplicationWire.minLogSequenceKey, "\(target)"))
            // Compacted, every graphd holds the graph in the same layout. (Between
            // compactions, which each graphd starts on its own clock, PPR sums a
            // node's neighbours in another order on a graphd that compacted and one
            // that has not: scores then differ in their last digits. deploy/SCALING.md)
            _ = try await reader.compact()
            let stats = try await reader.stats(contentChecksum: true)
            // Models rebuilt aside from the graph answer from the previous build until the new one is in.
            var answers = try await Answers(reader, graphVersion: stats.graphVersion, checksum: stats.contentChecksum)
            for _ in 0..<50 {
                try await Task.sleep(for: .milliseconds(200))
                let again = try await Answers(reader, graphVersion: stats.graphVersion, checksum: stats.contentChecksum)
                if again == answers { break }
                answers = again
            }
            if let reference {
                #expect(stats.role == "replica")
                #expect(answers.checksum == reference.checksum && answers.graphVersion == reference.graphVersion,
                        "\(daemon.socket): graph version \(answers.graphVersion), applied \(stats.appliedLogSequence); primary's \(reference.graphVersion)")
                for (mine, theirs) in zip(answers.route, reference.route) {
                    expectSame(mine, theirs, Graphd_V1_RouteResponse.self, "Route on \(daemon.socket)")
                }
                for (mine, theirs) in zip(answers.recommend, reference.recommend) {
                    expectSame(mine, theirs, Graphd_V1_RecommendResponse.self, "Recommend on \(daemon.socket)")
                }
                expectSame(answers.pageRank, reference.pageRank, Graphd_V1_PersonalizedPageRankResponse.self, "PersonalizedPageRank on \(daemon.socket)")
                expectSame(answers.retrieve, reference.retrieve, Graphd_V1_RetrieveResponse.self, "Retrieve on \(daemon.socket)")
            } else {
                #expect(stats.role == "primary")
                reference = answers
            }
            await reader.close()
        }

        // Late feedback: the primary resolves a decision a replica made (through
        // the stream's decision bucket), as if the text had been sent.
        let replicaReader = try await replicas[1].client()
        var route = Graphd_V1_RouteRequest()
        route.query = "Name the capital of Australia."
        route.performanceWeight = 1
        let decided = try await replicaReader.route(route)
        #expect(decided.decisionID.count == 29)
        var late = Graphd_V1_FeedbackRequest()
        var outcome = Graphd_V1_Outcome()
        outcome.effect = 1
        late.decisionID = decided.decisionID
        late.outcomes = [outcome]
        let resolved = try await client.feedback(late)
        var byText = Graphd_V1_FeedbackRequest()
        byText.query = route.query
        outcome.llm = decided.llm
        byText.outcomes = [outcome]
        #expect(try await client.feedback(byText).queryKey == resolved.queryKey)
        await replicaReader.close()
        await client.close()
        withExtendedLifetime(set) {}
    }

    /// Route, Recommend, PersonalizedPageRank and Retrieve answers, as bytes,
    /// with the timing fields cleared.
    struct Answers: Equatable {
        var graphVersion: UInt64
        var checksum: UInt64
        var route: [[UInt8]] = []
        var recommend: [[UInt8]] = []
        var pageRank: [UInt8] = []
        var retrieve: [UInt8] = []

        init(_ client: GraphClient, graphVersion: UInt64, checksum: UInt64) async throws {
            self.graphVersion = graphVersion
            self.checksum = checksum
            for (prompt, weights) in [("Write a Python function that reverses a list.", (1.0, 0.0)),
                                      ("Summarise this memo for my manager in two sentences.", (0.2, 0.8))] {
                var request = Graphd_V1_RouteRequest()
                request.query = prompt
                request.performanceWeight = weights.0
                request.costWeight = weights.1
                var response = try await client.route(request)
                response.decisionMicros = 0
                response.decisionID = ""
                route.append(try response.serializedBytes())
            }
            for user in ["u007", "u042", "u100"] {
                var request = Graphd_V1_RecommendRequest()
                request.user = Graphd_V1_NodeRef(type: "user", key: user)
                request.k = 10
                var response = try await client.recommend(request)
                response.modelAgeMs = 0
                recommend.append(try response.serializedBytes())
            }
            var ppr = Graphd_V1_PersonalizedPageRankRequest()
            var seed = Graphd_V1_Seed()
            seed.node = Graphd_V1_NodeRef(type: "user", key: "u007")
            seed.weight = 1
            ppr.seeds = [seed]
            ppr.topKByType = ["item": 20, "user": 10]
            pageRank = try await client.personalizedPageRank(ppr).serializedBytes()
            var retrieveRequest = Graphd_V1_RetrieveRequest()
            var turn = Graphd_V1_DialogueTurn()
            turn.role = "SEEKER"
            turn.text = "I loved Arrival and anything by Denis Villeneuve."
            retrieveRequest.turns = [turn]
            retrieveRequest.k = 5
            retrieve = try await client.retrieve(retrieveRequest).serializedBytes()
        }
    }

    /// Expects two encoded answers to decode equal (bytes may differ: maps have
    /// no order); shows their first differing line when not.
    func expectSame<M: SwiftProtobuf.Message>(_ mine: [UInt8], _ theirs: [UInt8], _ type: M.Type, _ what: String) {
        let decodedMine = try? M(serializedBytes: mine), decodedTheirs = try? M(serializedBytes: theirs)
        guard let decodedMine, let decodedTheirs, !decodedMine.isEqualTo(message: decodedTheirs) else {
            if decodedMine == nil || decodedTheirs == nil { Issue.record("\(what): an answer does not decode") }
            return
        }
        let a = decodedMine.textFormatString().split(separator: "\n")
        let b = decodedTheirs.textFormatString().split(separator: "\n")
        let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        Issue.record("\(what) differs from the primary's at line \(line): \(line < a.count ? a[line] : "(end)") ≠ \(line < b.count ? b[line] : "(end)")")
    }

    static func neighborsRequest(_ type: String, _ key: String) -> Graphd_V1_NeighborsRequest {
        var request = Graphd_V1_NeighborsRequest()
        request.node = Graphd_V1_NodeRef(type: type, key: key)
        request.limit = 100
        return request
    }

    @Test func killingThePrimaryHandsOverAndLosesNoAcknowledgedWrite() async throws {
        let set = try await ReplicatedGraphds.start()
        let (first, replicas, load, writing) = try await set.startUnderLoad()
        await first.kill9()
        let killed = ContinuousClock.now
        let before = load.acknowledged.count
        try await load.waitForAcknowledged(before + 30, within: .seconds(60))
        print("replication failover: first acknowledged write on the new primary \(load.firstAcknowledged(after: killed).map { "\($0)" } ?? "?") after kill -9")
        load.stop()
        _ = await writing.value
        // The old primary comes back as a replica and catches up.
        let restarted = try await set.start("p")
        try await set.expectConverged([restarted] + replicas, load: load)
        #expect(try await set.stats(restarted).role == "replica")
        withExtendedLifetime(set) {}
    }

    @Test func aPausedPrimaryCannotAppendAndBecomesAReplica() async throws {
        let set = try await ReplicatedGraphds.start()
        let (first, replicas, load, writing) = try await set.startUnderLoad()
        first.graphd.pause()  // past its 2 s lease
        let before = load.acknowledged.count
        try await load.waitForAcknowledged(before + 30, within: .seconds(60))
        first.graphd.resume()
        // Back from its pause it finds the lease lost (or its append fenced off) and follows.
        try await set.waitForRole(first, "replica")
        try await load.waitForAcknowledged(load.acknowledged.count + 10, within: .seconds(60))
        load.stop()
        _ = await writing.value
        let refused = try await runAside(Products.graphctl, ["edge", "add", "interacted", "user:late", "item:late", "--socket", first.socket])
        #expect(refused.status == 65, "the deposed primary refuses writes: \(refused.stderr)")
        try await set.expectConverged([first] + replicas, load: load)
        withExtendedLifetime(set) {}
    }

    @Test func killingTheStreamLeaderAndARestartedReplicaLoseNothing() async throws {
        let set = try await ReplicatedGraphds.start()
        let (primary, started, load, writing) = try await set.startUnderLoad()
        var replicas = started
        let leader = try await set.streamLeader()
        let server = try #require(set.cluster.server(named: leader))
        try await blockingCall { server.kill9() }
        try await load.waitForAcknowledged(load.acknowledged.count + 30, within: .seconds(60))
        await replicas[1].kill9()
        try await load.waitForAcknowledged(load.acknowledged.count + 30, within: .seconds(60))
        replicas[1] = try await set.start("r2")
        try await blockingCall { try server.start() }
        try await load.waitForAcknowledged(load.acknowledged.count + 10, within: .seconds(60))
        load.stop()
        _ = await writing.value
        try await set.expectConverged([primary] + replicas, load: load)
        withExtendedLifetime(set) {}
    }

    @Test func aNewReplicaStartsFromASnapshotAndReplaysTheRest() async throws {
        let set = try await ReplicatedGraphds.start()
        let (primary, started) = try await set.startPrimary(replicas: 1)
        let replica = started[0]
        let load = WriteLoad(sockets: [primary.socket])
        let writing = Task { await load.run() }
        try await load.waitForAcknowledged(20)
        // A snapshot of the replica, taken while writes go on.
        let copy = set.scratch.path("copy.sqlite")
        let saved = try await runAside(Products.graphctl, ["snapshot", copy, "--socket", replica.socket, "--format", "json"])
        #expect(saved.status == 0, "\(saved.stderr)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(saved.stdout.utf8)) as? [String: Any])
        let snapshotSequence = try #require(answer["applied_log_sequence"] as? Int)
        let size = try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int
        #expect(snapshotSequence > 0 && answer["bytes"] as? Int == size)
        try await load.waitForAcknowledged(load.acknowledged.count + 20)
        load.stop()
        _ = await writing.value
        // The new graphd starts at the snapshot's position and replays only what came after.
        let newcomer = try Daemon(socket: set.scratch.path("r2.sock"), store: set.scratch.path("r2.sqlite"), extraArguments: set.arguments + [
            "--bootstrap", copy,
        ])
        try await newcomer.waitUntilServing(timeout: .seconds(60))
        let log = try String(contentsOfFile: newcomer.log, encoding: .utf8)
        #expect(log.contains("store bootstrapped from a snapshot") && log.contains("applied_log_sequence=\(snapshotSequence)"), "\(log.prefix(3000))")
        try await set.expectConverged([primary, replica, newcomer], load: load)
        // A primary stopped with SIGTERM drains, gives its lease up and exits 0; a caught-up replica takes over.
        #expect(await primary.terminate() == 0)
        let deadline = ContinuousClock.now + .seconds(30)
        var roles: [String?] = []
        repeat {
            try await Task.sleep(for: .milliseconds(100))
            roles = [try? await set.stats(replica).role, try? await set.stats(newcomer).role]
        } while !roles.contains("primary") && ContinuousClock.now < deadline
        #expect(roles.contains("primary"), "\(roles)")
        withExtendedLifetime(set) {}
    }

    @Test func thePythonAndCClientsFollowThePrimaryAndReadTheirWrites() async throws {
        let set = try await ReplicatedGraphds.start()
        let (primary, started) = try await set.startPrimary(replicas: 1)
        let replica = started[0]
        let python = try await runAside("/usr/bin/env", ["python3", Self.root.appendingPathComponent("clients/python/tests/check_replication.py").path,
                                              primary.socket, replica.socket, set.scratch.url.path])
        #expect(python.status == 0 && python.stdout.contains("all replication checks passed"), "\(python.stdout)\(python.stderr)")
        let build = try await blockingCall { [scratch = set.scratch] in try buildCClient(in: scratch) }
        let c = try await runAside(build + "/check_replication", [primary.socket, replica.socket])
        #expect(c.status == 0 && c.stdout.contains("all replication checks passed"), "\(c.stdout)\(c.stderr)")
        withExtendedLifetime(set) {}
    }

    @Test func misconfigurationIsRefusedAtStartWithAClearMessage() async throws {
        let scratch = Scratch()
        // NATS unreachable: a clear error, and no store created.
        let nobody = RawSockets.freePort()
        let unreachable = try await runAside(Products.graphd, ["--socket", scratch.path("u.sock"), "--store", scratch.path("u.sqlite"),
                                                    "--replication", "nats://127.0.0.1:\(nobody)"])
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("127.0.0.1:\(nobody)"), "\(unreachable.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("u.sqlite")), "nothing written")

        // A graphd started with --replica-only never takes the lease, even when nobody holds it.
        let set = try await ReplicatedGraphds.start(stream: "first")
        let follower = try Daemon(socket: set.scratch.path("ro.sock"), store: set.scratch.path("ro.sqlite"),
                                  extraArguments: set.arguments + ["--replica-only"])
        try await follower.waitUntilServing(timeout: .seconds(60))
        try await Task.sleep(for: .seconds(2))  // eight looks at the free lease
        #expect(try await set.stats(follower).role == "replica")
        let noPrimary = try await runAside(Products.graphctl, ["edge", "add", "interacted", "user:a", "item:b", "--socket", follower.socket])
        #expect(noPrimary.status == 69 && noPrimary.stderr.contains("no graphd holds the primary lease"), "\(noPrimary.stderr)")
        #expect(await follower.terminate() == 0)

        // A store that has applied more than its stream holds (a wrong or reset stream).
        let writer = try await set.start("w")
        try await set.waitForRole(writer, "primary")
        let added = try await runAside(Products.graphctl, ["edge", "add", "interacted", "user:a", "item:b", "--socket", writer.socket])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(await writer.terminate() == 0)
        let wrong = try await runAside(Products.graphd, ["--socket", writer.socket, "--store", writer.store, "--replication", set.cluster.urls.joined(separator: ","),
                                              "--replication-stream", "second"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("wrong or reset stream"), "\(wrong.stderr)")

        // An entry a replica cannot apply stops it loudly rather than being skipped.
        let (primary, started) = try await set.startPrimary(replicas: 1)
        let replica = started[0]
        let log = try await blockingCall {
            try JetStreamLog(client: try NATSClient(NATSConnectionOptions(servers: set.cluster.urls)), stream: "first", replicas: 3)
        }
        let bad = try await blockingCall { try log.append([0x08, 0x63]) }  // format 99
        #expect(await replica.waitForExit() != 0)
        let text = try String(contentsOfFile: replica.log, encoding: .utf8)
        #expect(text.contains("replication stopped") && text.contains("\(bad.sequence)"), "\(text.suffix(2000))")
        withExtendedLifetime(set) {}
    }
}

/// Blocking calls (libnats, child processes waited for, make), off Swift's
/// cooperative pool: with two pool threads on this machine, two blocked ones
/// stall every other test of the process (other suites' daemons then seem not
/// to serve in time).
func blockingCall<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await OffPool.run(body)
}

/// `run`, waited for off the cooperative pool.
func runAside(_ executable: String, _ arguments: [String]) async throws -> CommandResult {
    try await blockingCall { try run(executable, arguments) }
}

/// A NATS cluster and graphds replicating through one stream of it, for one test.
final class ReplicatedGraphds: @unchecked Sendable {
    let scratch = Scratch()
    let cluster: NATSCluster
    let stream: String

    private init(cluster: NATSCluster, stream: String) {
        self.cluster = cluster
        self.stream = stream
    }

    /// Starts the three nats-servers (waiting for each to listen, off the cooperative pool).
    static func start(stream: String = "e2e") async throws -> ReplicatedGraphds {
        ReplicatedGraphds(cluster: try await blockingCall { try NATSCluster() }, stream: stream)
    }

    /// Starts graphd `name` (socket and store named after it) on the stream, with a 2 s lease.
    var arguments: [String] {
        ["--replication", cluster.urls.joined(separator: ","), "--replication-stream", stream, "--replication-lease-seconds", "2"]
    }

    func start(_ name: String) async throws -> Daemon {
        let daemon = try Daemon(socket: scratch.path("\(name).sock"), store: scratch.path("\(name).sqlite"), extraArguments: arguments)
        try await daemon.waitUntilServing(timeout: .seconds(60))
        return daemon
    }

    func stats(_ daemon: Daemon, checksum: Bool = false, minLogSequence: UInt64? = nil) async throws -> Graphd_V1_StatsResponse {
        var client = try await daemon.client()
        if let minLogSequence { client.metadata.append((GraphdReplicationWire.minLogSequenceKey, "\(minLogSequence)")) }
        do {
            let stats = try await client.stats(contentChecksum: checksum)
            await client.close()
            return stats
        } catch {
            await client.close()
            throw error
        }
    }

    /// A primary ("p", started first and awaited as primary) and `replicas` replicas ("r1", …).
    func startPrimary(replicas: Int) async throws -> (primary: Daemon, replicas: [Daemon]) {
        let primary = try await start("p")
        try await waitForRole(primary, "primary")
        var started: [Daemon] = []
        for i in 1...replicas { started.append(try await start("r\(i)")) }
        return (primary, started)
    }

    /// A primary ("p") and two replicas ("r1", "r2"), and a write load on them
    /// that has had 30 writes acknowledged.
    func startUnderLoad() async throws -> (primary: Daemon, replicas: [Daemon], load: WriteLoad, writing: Task<Void, Never>) {
        let (primary, replicas) = try await startPrimary(replicas: 2)
        let load = WriteLoad(sockets: [primary.socket] + replicas.map(\.socket))
        let writing = Task { await load.run() }
        try await load.waitForAcknowledged(30)
        return (primary, replicas, load, writing)
    }

    /// The primary's applied log sequence once it has stayed the same for a
    /// second (background writes such as online updates done).
    func settledSequence(_ primary: Daemon) async throws -> UInt64 {
        var last = try await stats(primary).appliedLogSequence
        var stableSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now - stableSince < .seconds(1), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let now = try await stats(primary).appliedLogSequence
            if now != last {
                last = now
                stableSince = .now
            }
        }
        return last
    }

    func waitForRole(_ daemon: Daemon, _ role: String, within: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + within
        while true {
            let current = try? await stats(daemon).role
            if current == role { return }
            guard ContinuousClock.now < deadline else {
                throw ReplicationTestError("\(daemon.socket) is \(current ?? "not answering"), not \(role), after \(within)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The server that leads the stream now.
    func streamLeader() async throws -> String {
        let urls = cluster.urls, stream = self.stream
        let log = try await blockingCall { try JetStreamLog(client: try NATSClient(NATSConnectionOptions(servers: urls)), stream: stream, replicas: 3) }
        return try #require(try await blockingCall { try log.leader() })
    }

    /// All of `daemons` reach the primary's position and hold the same graph:
    /// every acknowledged write of `load` on each, none partial, none twice.
    func expectConverged(_ daemons: [Daemon], load: WriteLoad) async throws {
        var primaryStats: Graphd_V1_StatsResponse?
        for daemon in daemons { if let stats = try? await stats(daemon), stats.role == "primary" { primaryStats = stats } }
        let target = try #require(primaryStats, "one of them is the primary").appliedLogSequence
        var checksums: Set<UInt64> = []
        for daemon in daemons {
            let stats = try await stats(daemon, checksum: true, minLogSequence: target)
            checksums.insert(stats.contentChecksum)
            #expect(stats.appliedLogSequence >= target)
            // Each write is 5 edges of one new user: none partial, none twice.
            #expect(stats.edgesByType["interacted"] == 5 * (stats.nodesByType["user"] ?? 0), "\(daemon.socket): \(stats.edgesByType) \(stats.nodesByType)")
            let client = try await daemon.client()
            var missing: [Int] = []
            for i in load.acknowledged {
                let request = ReplicationDaemonTests.neighborsRequest("user", "w\(i)")
                if (try? await client.neighbors(request))?.neighbors.count != 5 { missing.append(i) }
            }
            #expect(missing.isEmpty, "\(daemon.socket) lacks acknowledged writes \(missing.prefix(10))")
            await client.close()
        }
        #expect(checksums.count == 1, "content checksums \(checksums)")
    }
}

struct ReplicationTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes one 5-edge batch (a new user and five items) at a time to whichever
/// graphd takes it, moving on to the next socket on any error, and records the
/// batches acknowledged (with when).
final class WriteLoad: Sendable {
    let sockets: [String]
    private let state = Mutex<(acknowledged: [(index: Int, at: ContinuousClock.Instant)], stopped: Bool)>(([], false))

    init(sockets: [String]) { self.sockets = sockets }

    var acknowledged: [Int] { state.withLock { $0.acknowledged.map(\.index) } }

    func firstAcknowledged(after instant: ContinuousClock.Instant) -> Duration? {
        state.withLock { $0.acknowledged.first { $0.at > instant }.map { $0.at - instant } }
    }

    func stop() { state.withLock { $0.stopped = true } }

    func waitForAcknowledged(_ count: Int, within: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + within
        while acknowledged.count < count {
            guard ContinuousClock.now < deadline else {
                throw ReplicationTestError("\(acknowledged.count) writes acknowledged, not \(count), after \(within)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func run() async {
        var clients: [Int: GraphClient] = [:]
        var target = 0
        var index = 0
        while !state.withLock({ $0.stopped }) {
            var request = Graphd_V1_AddEdgesRequest()
            request.edges = (0..<5).map { j in makeEdge("interacted", ("user", "w\(index)"), ("item", "t\(index)-\(j)")) }
            do {
                if clients[target] == nil {
                    clients[target] = try await GraphClient.connect(to: .unix(path: sockets[target]), defaultTimeout: .seconds(2))
                }
                _ = try await clients[target]!.addEdges(request)
                state.withLock { $0.acknowledged.append((index, .now)) }
                index += 1
            } catch {
                // Refused (a replica), unavailable (stepping down, dead) or timed out (paused):
                // the same batch goes to the next graphd. A timed-out one may have been
                // written: then it is written again, as an upsert of the same edges.
                if let client = clients.removeValue(forKey: target) { await client.close() }
                target = (target + 1) % sockets.count
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        for client in clients.values { await client.close() }
    }
}
