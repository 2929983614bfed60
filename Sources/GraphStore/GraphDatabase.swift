import Metrics
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import GraphCore
import Synchronization

#if canImport(Glibc)
/// glibc's malloc_trim (declared in <malloc.h>, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif

/// When the delta is merged into igraph without being asked.
public struct CompactionPolicy: Sendable {
    /// Compact once this many edges wait in the delta (added or removed).
    public var maxDeltaEdges: Int = 1_000_000
    /// Compact once the oldest uncompacted change is this old (and the delta is not empty).
    public var maxDeltaAge: Duration = .seconds(60)

    public init(maxDeltaEdges: Int = 1_000_000, maxDeltaAge: Duration = .seconds(60)) {
        self.maxDeltaEdges = maxDeltaEdges
        self.maxDeltaAge = maxDeltaAge
    }
}

/// Runs an actor's jobs on one dedicated serial queue, so that blocking SQLite
/// commits (fsync) and igraph calls never occupy the cooperative thread pool.
final class SerialQueueExecutor: SerialExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}

/// Where a replicating graphd sends each accepted batch before committing it
/// (the replication log). `append` returns the documents to store in the
/// batch's transaction (the log position), or throws to refuse the batch:
/// then nothing is written.
public protocol WriteLog: Sendable {
    func append(_ event: WriteEvent, marks: WriteMarks) throws -> [(name: String, value: [UInt8]?)]
    /// The batch `append` last accepted could not be committed here: the log
    /// holds an entry this store lacks, and the log must not be appended to
    /// from this store's state until it has applied that entry.
    func commitFailed(_ error: any Error)
    /// The largest entry the log takes, in bytes: group commits stay well
    /// within it, and `append` refuses a larger one.
    var maxEntryBytes: Int { get }
}

extension WriteLog {
    public var maxEntryBytes: Int { .max }
}

/// The graph database: the single writer that owns the SQLite store, the igraph
/// topology and the writer state, and publishes immutable snapshots for readers.
///
/// Every write is: plan (validate against the current state) → commit to SQLite
/// (one transaction) → apply in memory → publish a new snapshot. Only then does
/// the call return, so an acknowledged write is durable, and a failed write
/// changes neither the store nor memory. Readers call `snapshot` and never wait
/// for more than the swap of one reference.
public actor GraphDatabase {
    private let executor = SerialQueueExecutor(label: "graphd.database")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let store: GraphStore
    /// The store's log checkpointer (nil: SQLite's automatic checkpoints).
    nonisolated let checkpointer: WALCheckpointer?
    private let topology: TopologyOwner
    private var state: GraphState
    private let published: Mutex<GraphSnapshot>
    private let documents: Mutex<[String: [UInt8]]>
    private let compactionLock = Mutex<(count: Int, lastSeconds: Double)>((0, 0))
    public nonisolated let path: String
    public let policy: CompactionPolicy
    private var oldestUncompactedChange: ContinuousClock.Instant?
    /// The compaction in progress, which later requests wait for.
    private var running: Task<CompactionResult, any Error>?

    /// Opens (creating if missing) the store at `path` and rebuilds the graph from it.
    public init(path: String, synchronous: StoreSynchronous = .full, policy: CompactionPolicy = CompactionPolicy()) throws {
        let store = try GraphStore(path: path, synchronous: synchronous)
        let loaded = try store.load()
        let topology = try IgraphTopology(vertexCount: 0)
        try topology.addVertices(loaded.nodeIDCount)
        try topology.addEdges(sources: loaded.sources, targets: loaded.targets)
        let state = try GraphState(schema: loaded.schema, nodes: loaded.nodes, nodeIDCount: loaded.nodeIDCount, columns: loaded.columns,
                                   sources: loaded.sources, targets: loaded.targets, topology: topology,
                                   nextEdgeID: loaded.nextEdgeID)
        self.store = store
        checkpointer = store.checkpointer
        self.topology = TopologyOwner(topology)
        self.state = state
        self.published = Mutex(state.snapshot)
        self.documents = Mutex(try store.loadDocuments())
        self.path = path
        self.policy = policy
        self.synchronous = synchronous
        Self.returnFreedMemory()
    }

    /// The current snapshot; cheap, and never blocked by a write in progress.
    public nonisolated var snapshot: GraphSnapshot { published.withLock { $0 } }

    public nonisolated var compactionStats: (count: Int, lastSeconds: Double) { compactionLock.withLock { $0 } }

    /// Store schema version.
    public var schemaVersion: Int { store.userVersion }

    /// Bytes of the database file plus its WAL.
    public var storeByteCount: Int64 { store.byteCount }

    // MARK: Writes

    public func defineTypes(nodeTypes: [NodeTypeInput], edgeTypes: [EdgeTypeInput]) throws -> WritePlan {
        try write(WriteEvent(.defineTypes(nodeTypes: nodeTypes, edgeTypes: edgeTypes), nowMs: Self.wallClockMilliseconds()))
    }

    public func addNodes(_ nodes: [NodeInput]) throws -> WritePlan {
        try write(WriteEvent(.addNodes(nodes), nowMs: Self.wallClockMilliseconds()))
    }

    /// Upserts `edges`, then each block's rows, as one transaction.
    public func addEdges(_ edges: [EdgeInput], blocks: [EdgeBlockInput] = [], requireExistingNodes: Bool = false) throws -> WritePlan {
        try write(WriteEvent(.addEdges(edges: edges, blocks: blocks, requireExistingNodes: requireExistingNodes),
                             nowMs: Self.wallClockMilliseconds()))
    }

    /// Upserts edges like `addEdges`, written together with the AddEdges
    /// requests that arrive while a write is in progress (group commit): they
    /// are planned as one batch (`GraphState.planEdgeGroup`), committed in one
    /// transaction and applied at once, and each returns when that commit is
    /// durable, with what it did as if it had run alone in arrival order. A
    /// request that fails alone is refused alone; a failed commit fails the group.
    public func ingestEdges(_ request: EdgeWriteRequest) async throws -> EdgeWriteCounts {
        try await withCheckedThrowingContinuation { continuation in
            enqueueEdges(request, continuation)
        }
    }

    private func enqueueEdges(_ request: EdgeWriteRequest, _ continuation: CheckedContinuation<EdgeWriteCounts, any Error>) {
        edgeQueue.append((request, continuation))
        guard !drainingEdgeQueue else { return }
        drainingEdgeQueue = true
        // Runs after the jobs already queued on this actor: requests that arrived meanwhile join the group.
        Task { self.drainEdgeQueue() }
    }

    /// AddEdges requests waiting to be written together, oldest first.
    private var edgeQueue: [(request: EdgeWriteRequest, continuation: CheckedContinuation<EdgeWriteCounts, any Error>)] = []
    private var drainingEdgeQueue = false
    /// Rows above which a group takes no more requests (a request larger alone is a group alone).
    static let maxGroupRows = 200_000

    private func drainEdgeQueue() {
        defer { drainingEdgeQueue = false }
        var waiting = edgeQueue[...]
        edgeQueue = []
        while let first = waiting.first {
            // A replicated group is one log entry: it stays within half the log's
            // limit by estimate (a request larger alone is a group alone, and the
            // log refuses it alone if it must).
            let maxBytes = writeLog.map { $0.maxEntryBytes / 2 }
            var rows = first.request.rowCount, bytes = maxBytes == nil ? 0 : first.request.estimatedBytes
            var end = waiting.startIndex + 1
            while end < waiting.endIndex, rows + waiting[end].request.rowCount <= Self.maxGroupRows {
                if let maxBytes {
                    let more = waiting[end].request.estimatedBytes
                    guard bytes + more <= maxBytes else { break }
                    bytes += more
                }
                rows += waiting[end].request.rowCount
                end += 1
            }
            let group = waiting[..<end]
            waiting = waiting[end...]
            Self.groupSizes.record(group.count)
            let nowMs = Self.wallClockMilliseconds()
            let (plan, outcomes) = state.planEdgeGroup(group.map(\.request), nowMs: nowMs)
            // The batch as a replica replays it: the requests that were accepted, in order.
            let accepted = zip(group, outcomes).compactMap { member, outcome -> EdgeWriteRequest? in
                if case .success = outcome { member.request } else { nil }
            }
            do {
                _ = try write(plan, event: WriteEvent(.edgeGroup(accepted), nowMs: nowMs))
                for (member, outcome) in zip(group, outcomes) { member.continuation.resume(with: outcome) }
            } catch {
                for (member, outcome) in zip(group, outcomes) {
                    if case .failure(let own) = outcome { member.continuation.resume(throwing: own) } else { member.continuation.resume(throwing: error) }
                }
            }
        }
    }

    /// Upserts nodes, then edges that may name them, and stores documents, as one transaction.
    public func addNodesAndEdges(_ nodes: [NodeInput], edges: [EdgeInput], requireExistingNodes: Bool = false,
                                 documents: [(name: String, value: [UInt8]?)] = []) throws -> WritePlan {
        try write(WriteEvent(.addNodesAndEdges(nodes: nodes, edges: edges, requireExistingNodes: requireExistingNodes),
                             documents: documents, nowMs: Self.wallClockMilliseconds()))
    }

    public func removeNodes(_ nodes: [NodeRefInput], ignoreMissing: Bool = false) throws -> WritePlan {
        try write(WriteEvent(.removeNodes(nodes, ignoreMissing: ignoreMissing), nowMs: Self.wallClockMilliseconds()))
    }

    public func removeEdges(_ edges: [EdgeRefInput], ignoreMissing: Bool = false) throws -> WritePlan {
        try write(WriteEvent(.removeEdges(edges, ignoreMissing: ignoreMissing), nowMs: Self.wallClockMilliseconds()))
    }

    /// Adds or updates nodes and stores documents in one transaction.
    public func addNodes(_ nodes: [NodeInput], documents: [(name: String, value: [UInt8]?)]) throws -> WritePlan {
        try write(WriteEvent(.addNodes(nodes), documents: documents, nowMs: Self.wallClockMilliseconds()))
    }

    /// Removes nodes (with their edges) and stores documents in one transaction.
    public func removeNodes(_ nodes: [NodeRefInput], ignoreMissing: Bool = false,
                            documents: [(name: String, value: [UInt8]?)]) throws -> WritePlan {
        try write(WriteEvent(.removeNodes(nodes, ignoreMissing: ignoreMissing), documents: documents, nowMs: Self.wallClockMilliseconds()))
    }

    /// Stores (or, with a nil value, deletes) named documents in one transaction.
    public func putDocuments(_ documents: [(name: String, value: [UInt8]?)]) throws {
        _ = try write(WriteEvent(.documents, documents: documents, nowMs: Self.wallClockMilliseconds()))
    }

    /// Writes a batch another graphd accepted (a replica applying the log): plans
    /// `event` here and writes it only if the plan matches `marks`, the writer's
    /// — otherwise this graph is not the writer's, and nothing is written.
    /// `documents` (the log position) are stored in the same transaction.
    public func replay(_ event: WriteEvent, expecting marks: WriteMarks,
                       documents extra: [(name: String, value: [UInt8]?)] = []) throws -> WritePlan {
        var plan = try state.plan(event)
        let planned = WriteMarks(plan)
        guard planned == marks else {
            throw GraphError(.failedPrecondition, "the batch plans here as \(planned), the writer planned \(marks): this graph is not the writer's")
        }
        plan.documents += extra
        return try write(plan)
    }

    /// A stored document; never waits on a writer.
    public nonisolated func document(_ name: String) -> [UInt8]? { documents.withLock { $0[name] } }

    /// Names of the stored documents that start with `prefix`, sorted.
    public nonisolated func documentNames(prefix: String) -> [String] {
        documents.withLock { $0.keys.filter { $0.hasPrefix(prefix) }.sorted() }
    }

    /// Plans `event` and writes it.
    private func write(_ event: WriteEvent) throws -> WritePlan {
        try write(state.plan(event), event: event)
    }

    /// Writes `plan`, the plan of `event`, appending it to the write log when
    /// there is one: the transaction commits only once the log acknowledged
    /// the batch, with the documents the log returns (its position) stored in
    /// it; a refused append rolls it back, so nothing is written.
    private func write(_ plan: WritePlan, event: WriteEvent) throws -> WritePlan {
        guard !plan.isEmpty, let writeLog else { return try write(plan) }
        // The acknowledgement takes a round trip to a quorum of log servers:
        // the append runs on another thread while this one writes the rows.
        let marks = WriteMarks(plan)
        let append = BackgroundCall { try writeLog.append(event, marks: marks) }
        do {
            return try write(plan, finishingWith: { try append.result() })
        } catch {
            // Whatever failed here, the log may hold the batch: if it does,
            // this store lacks an entry of the log.
            if append.succeeded { writeLog.commitFailed(error) }
            throw error
        }
    }

    /// Where accepted batches go before they are committed (replication); nil: nowhere.
    private var writeLog: (any WriteLog)?

    /// Sends every batch accepted from now on to `log` before committing it.
    public func setWriteLog(_ log: (any WriteLog)?) { writeLog = log }

    /// The durability of later commits. A replica may commit without fsync
    /// (`normal`): what a power loss takes from its store, it applies again
    /// from the log, since its log position rolls back with the batches.
    public func setSynchronous(_ synchronous: StoreSynchronous) throws {
        try store.setSynchronous(synchronous)
        self.synchronous = synchronous
    }

    /// The durability commits have now (see `setSynchronous`).
    public private(set) var synchronous: StoreSynchronous

    /// Plan → commit → apply → publish, with no suspension point in between:
    /// the actor runs one write at a time and the plan stays valid.
    ///
    /// `last` (see `GraphStore.commit(_:finishingWith:)`) adds documents to the
    /// transaction once the rows are written, or refuses it.
    private func write(_ plan: WritePlan, finishingWith last: () throws -> [(name: String, value: [UInt8]?)] = { [] }) throws -> WritePlan {
        guard !plan.isEmpty else { return plan }
        var plan = plan
        let prepared: GraphState.Prepared?
        (prepared, plan.documents) = try commitPreparing(plan, finishingWith: last)
        state.apply(plan, prepared: prepared)
        if !plan.documents.isEmpty {
            documents.withLock { stored in
                for (name, value) in plan.documents { stored[name] = value }
            }
        }
        publish()
        if oldestUncompactedChange == nil, !plan.insertedEdges.isEmpty || !plan.removedEdges.isEmpty {
            oldestUncompactedChange = .now
        }
        if deltaSize >= policy.maxDeltaEdges, running == nil {
            startCompaction()
        }
        return plan
    }

    /// Commits `plan`; for a large plan, meanwhile builds on another thread
    /// what applying it needs (new delta chunk, node key index), since the
    /// commit mostly waits on the disk.
    /// Returns what it prepared and every document committed (the plan's and `last`'s).
    private func commitPreparing(_ plan: WritePlan, finishingWith last: () throws -> [(name: String, value: [UInt8]?)])
        throws -> (GraphState.Prepared?, [(name: String, value: [UInt8]?)]) {
        guard plan.insertedEdges.count + plan.insertedNodes.count >= Self.prepareInParallelFrom else {
            return (nil, plan.documents + (try timedCommit(plan, finishingWith: last)))
        }
        let preparation = BackgroundCall(state.preparation(for: plan))
        // Also after a failed commit the preparation is waited for: it holds copies of the state.
        let committed = Result { try timedCommit(plan, finishingWith: last) }
        let prepared = try preparation.result()
        return (prepared, plan.documents + (try committed.get()))
    }

    /// Plans smaller than this are applied on the writer alone: handing work
    /// to another thread would cost more than it saves.
    static let prepareInParallelFrom = 2048

    private func timedCommit(_ plan: WritePlan, finishingWith last: () throws -> [(name: String, value: [UInt8]?)])
        throws -> [(name: String, value: [UInt8]?)] {
        let start = ContinuousClock.now
        let documents = try store.commit(plan, finishingWith: last)
        let elapsed = ContinuousClock.now - start
        Self.commitTimer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return documents
    }

    /// AddEdges requests per group commit.
    private static let groupSizes = Recorder(label: "graphd_ingest_group_requests")

    /// Store commit latency (a no-op until the process bootstraps swift-metrics).
    private static let commitTimer = Timer(label: "graphd_store_commit_seconds")

    private var deltaSize: Int { state.snapshot.deltaEdgeCount + state.snapshot.removedSinceCompaction }

    private func publish() {
        let snapshot = state.snapshot
        published.withLock { $0 = snapshot }
    }

    // MARK: Compaction

    /// Merges the delta into igraph and rebuilds the CSR base. The igraph work
    /// runs on igraph's own actor: writes continue meanwhile, reads use the
    /// previous snapshot. Waits for a compaction already running, then runs one
    /// that includes everything written before this call.
    @discardableResult
    public func compact() async throws -> CompactionResult {
        if let running { _ = try? await running.value }
        if let running { return try await running.value }  // another caller started one meanwhile
        return try await startCompaction().value
    }

    @discardableResult
    private func startCompaction() -> Task<CompactionResult, any Error> {
        let task = Task { try await self.runCompaction() }
        running = task
        return task
    }

    private func runCompaction() async throws -> CompactionResult {
        defer { running = nil }
        let start = ContinuousClock.now
        guard let job = state.beginCompaction() else {
            return CompactionResult(mergedEdges: 0, removedEdges: 0, seconds: 0)
        }
        oldestUncompactedChange = nil
        let built = try await topology.build(job)
        state.finishCompaction(job, built)
        publish()
        if deltaSize > 0 { oldestUncompactedChange = .now }
        Self.returnFreedMemory()
        let result = CompactionResult(mergedEdges: built.mergedEdges, removedEdges: built.removedEdges,
                                      seconds: (ContinuousClock.now - start).seconds)
        compactionLock.withLock { $0 = ($0.count + 1, result.seconds) }
        return result
    }

    /// Compacts when the delta is older than the policy allows; returns whether it did.
    public func compactIfDue() async throws -> Bool {
        guard running == nil, let oldest = oldestUncompactedChange, deltaSize > 0,
              ContinuousClock.now - oldest >= policy.maxDeltaAge else { return false }
        try await compact()
        return true
    }

    /// Runs until cancelled, compacting when the age threshold passes.
    public nonisolated func runCompactionLoop(every interval: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            _ = try? await compactIfDue()
        }
    }

    /// Loading and compaction free large temporary arrays; glibc keeps such
    /// memory in the heap unless asked to give it back.
    static func returnFreedMemory() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }

    static func wallClockMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// The one owner of the igraph topology: igraph is not thread-safe, so every
/// call goes through this actor, on its own serial queue (compaction is long
/// and must not hold up the writer or the cooperative pool).
actor TopologyOwner {
    private let executor = SerialQueueExecutor(label: "graphd.igraph")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let topology: IgraphTopology

    init(_ topology: IgraphTopology) {
        self.topology = topology
    }

    func build(_ job: CompactionJob) throws -> CompactedBase {
        try job.build(topology: topology)
    }
}

/// A call run on another thread from the moment it is made; `result()` waits
/// for it. The writer overlaps with it what does not depend on it (the log's
/// acknowledgement, the in-memory preparation of a large batch).
final class BackgroundCall<Value: Sendable>: Sendable {
    private let outcome = Mutex<Result<Value, any Error>?>(nil)
    private let done = DispatchGroup()

    init(_ body: @escaping @Sendable () throws -> Value) {
        done.enter()
        DispatchQueue.global().async {
            let result = Result { try body() }
            self.outcome.withLock { $0 = result }
            self.done.leave()
        }
    }

    /// Waits for the call; returns its value or throws its error.
    func result() throws -> Value {
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Waits for the call; whether it returned.
    var succeeded: Bool {
        done.wait()
        return outcome.withLock { if case .success = $0 { true } else { false } }
    }
}
