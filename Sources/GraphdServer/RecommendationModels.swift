import BackgroundWork
import Foundation
import GraphCore
import GraphStore
import Recommendation
import Synchronization

/// The recommendation models graphd keeps (the graph filter's eigenvectors),
/// one per interaction spec, built off the request path: the first request for a spec waits
/// for its build; later ones use the model they find and, when the graph has
/// been compacted (or changed and the model is older than `maxStaleness`),
/// start a rebuild in the background.
public final class RecommendationModels: Sendable {
    typealias Key = InteractionSpec

    private struct Entry: Sendable {
        var model: RecommendationModel?
        var building: Task<RecommendationModel, any Error>?
        var lastUsed = ContinuousClock.now
    }

    private let entries = Mutex<[Key: Entry]>([:])
    public let maxStaleness: Duration
    /// Interaction specs with a model kept at once: each model holds eigenvectors
    /// for every item, so a client cycling through specs must not grow memory
    /// without bound. The least recently used one makes room.
    public let maxModels: Int

    /// Builds run as `.recommendationModel` jobs.
    let jobs: BackgroundJobs

    public init(jobs: BackgroundJobs, maxStaleness: Duration = .seconds(30), maxModels: Int = 4) {
        self.jobs = jobs
        self.maxStaleness = maxStaleness
        self.maxModels = maxModels
    }

    /// A model for `spec` on (or recently before) `snapshot`.
    func model(for spec: InteractionSpec, database: GraphDatabase) async throws -> RecommendationModel {
        let key = spec
        let snapshot = database.snapshot
        let (model, task) = try entries.withLock { table throws -> (RecommendationModel?, Task<RecommendationModel, any Error>?) in
            if table[key] == nil, table.count >= maxModels {
                guard let evict = table.filter({ $0.value.building == nil }).min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key else {
                    throw GraphError(.resourceExhausted, "\(maxModels) recommendation models are being built; retry when one is done")
                }
                table[evict] = nil
            }
            var entry = table[key] ?? Entry()
            entry.lastUsed = .now
            table[key] = entry
            if let model = entry.model, !isStale(model, snapshot: snapshot) { return (model, nil) }
            if entry.building == nil {
                entry.building = Task.detached(priority: .utility) { [self] in
                    defer { finishBuild(key) }
                    let built = try await build(spec: spec, on: database.snapshot)
                    entries.withLock { $0[key, default: Entry()].model = built }
                    return built
                }
                table[key] = entry
            }
            return (entry.model, entry.building)
        }
        if let model { return model }  // stale but usable: the rebuild runs in the background
        guard let task else { throw GraphError(.internal, "recommendation model: no model and no build in progress") }
        return try await task.value
    }

    /// Rebuilds, in the background, every model a compaction (or enough
    /// change) has made stale, so the next request finds a fresh one.
    func runRefreshLoop(database: GraphDatabase, every interval: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let snapshot = database.snapshot
            let stale = entries.withLock { table in
                table.compactMap { key, entry in
                    entry.building == nil && entry.model.map { isStale($0, snapshot: snapshot) } == true ? key : nil
                }
            }
            for spec in stale { _ = try? await model(for: spec, database: database) }
        }
    }

    /// Builds run one at a time as background jobs, never on the shared
    /// cooperative pool: a build takes seconds on a large graph, and several at
    /// once (a client cycling through specs) would otherwise hold every pool
    /// thread and stall unrelated requests behind them.
    private func build(spec: InteractionSpec, on snapshot: GraphSnapshot) async throws -> RecommendationModel {
        try await jobs.perform(.recommendationModel) { _ in
            try RecommendationModel(snapshot: snapshot, spec: spec, builtAtMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
    }

    private func finishBuild(_ key: Key) {
        entries.withLock { $0[key]?.building = nil }
    }

    private func isStale(_ model: RecommendationModel, snapshot: GraphSnapshot) -> Bool {
        if model.matrix.compactions != snapshot.compactions { return true }
        guard model.matrix.version != snapshot.version else { return false }
        let ageMs = Int64(Date().timeIntervalSince1970 * 1000) - model.builtAtMs
        return ageMs > Int64(maxStaleness.components.seconds * 1000)
    }

    /// Every model built so far, for Stats.
    func inventory() -> [(name: String, model: RecommendationModel)] {
        entries.withLock { entries in
            entries.compactMap { key, entry in
                entry.model.map { model in ("recommend/graph_filter \(model.matrix.label)", model) }
            }
        }
    }
}
