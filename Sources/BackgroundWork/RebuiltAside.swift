import Synchronization

/// A value derived from the graph that takes milliseconds or more to build (an
/// entity index, a reasoner laid onto the graph, the router's predictor), cached
/// with the version of the graph it was built for.
///
/// A caller whose version differs from the cached one gets one of two answers:
/// - when the cached value may stand in for the caller's version (typically:
///   the graph only grew since), the cached value at once, while one rebuild
///   runs aside on a serial queue (starts at least `spacing` apart, so a stream
///   of writes coalesces into few rebuilds);
/// - otherwise (something the value names was removed, or a change must show
///   in the very next answer), a value built on the caller's thread first.
///
/// Builds on the caller's thread are serialised, so a burst of requests after
/// such a change pays for one build, not one each. Rebuilds aside are jobs of
/// one kind on the daemon's `BackgroundJobs`: none starts once it shuts down.
public final class RebuiltAside<Version: Equatable & Sendable, Value: Sendable>: Sendable {
    public typealias Entry = (version: Version, value: Value)

    private struct State {
        var entry: Entry?
        var rebuilding = false
        var lastStart: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    /// Held by a build on the caller's thread.
    private let buildLock = Mutex(())
    private let jobs: BackgroundJobs
    private let kind: BackgroundJobs.Kind
    private let spacing: Duration
    private let mayStandIn: @Sendable (_ cached: Version, _ current: Version) -> Bool
    private let failedAside: @Sendable (any Error) -> Void

    /// - Parameters:
    ///   - mayStandIn: whether a value built for `cached` may answer for `current` until the rebuild is done.
    ///   - failedAside: told when a rebuild aside failed; the cached value is dropped, so the next caller builds.
    ///   - jobs, kind: where rebuilds aside run.
    public init(jobs: BackgroundJobs, kind: BackgroundJobs.Kind, spacing: Duration = .zero,
         mayStandIn: @escaping @Sendable (_ cached: Version, _ current: Version) -> Bool,
         failedAside: @escaping @Sendable (any Error) -> Void = { _ in }) {
        self.jobs = jobs
        self.kind = kind
        self.spacing = spacing
        self.mayStandIn = mayStandIn
        self.failedAside = failedAside
    }

    /// The cached entry, whatever version it was built for.
    public var cached: Entry? { state.withLock { $0.entry } }

    /// Whether the cached value may answer for `version` without a build on the caller's thread.
    public func canAnswer(for version: Version) -> Bool {
        guard let entry = cached else { return false }
        return entry.version == version || mayStandIn(entry.version, version)
    }

    /// The value for `version`: the cached one when it was built for `version` or
    /// may stand in for it (then a rebuild starts aside, built by `rebuild`, which
    /// reads the graph as it is then); else `build()`, on this thread.
    public func value(for version: Version, build: () throws -> Value,
               rebuild: @escaping @Sendable () throws -> Entry) throws -> Value {
        if let entry = cached {
            if entry.version == version { return entry.value }
            if mayStandIn(entry.version, version) {
                startRebuild(rebuild)
                return entry.value
            }
        }
        return try buildLock.withLock { _ in
            // Another caller may have built it while this one waited.
            if let entry = cached, entry.version == version { return entry.value }
            let value = try build()
            state.withLock { $0.entry = (version, value) }
            return value
        }
    }

    /// Starts a rebuild aside now, for a write that later callers should see as
    /// soon as possible, rather than on the next caller's request. Nothing when no
    /// value is cached (the next caller builds one anyway).
    public func refreshAside(_ rebuild: @escaping @Sendable () throws -> Entry) {
        guard cached != nil else { return }
        startRebuild(rebuild)
    }

    /// Drops the cached value: the next caller builds.
    public func invalidate() { state.withLock { $0.entry = nil } }

    private func startRebuild(_ rebuild: @escaping @Sendable () throws -> Entry) {
        let now = ContinuousClock.now
        guard let wait = state.withLock({ state -> Duration? in
            guard !state.rebuilding else { return nil }
            state.rebuilding = true
            let start = max(now, (state.lastStart ?? now) + spacing)
            state.lastStart = start
            return start - now
        }) else { return }
        let scheduled = jobs.schedule(kind, after: wait) { [self] context in
            defer { state.withLock { $0.rebuilding = false } }
            guard !context.isCancelled else { return }
            do {
                let built = try rebuild()
                state.withLock { state in
                    // Unless a value for a newer graph, which this one could not stand in for, came meanwhile.
                    if let current = state.entry?.version, current != built.version, !mayStandIn(current, built.version) { return }
                    state.entry = built
                }
            } catch {
                invalidate()
                failedAside(error)
            }
        }
        if !scheduled { state.withLock { $0.rebuilding = false } }
    }
}
