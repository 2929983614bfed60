import Synchronization
import Testing

import BackgroundWork

/// Versions are integers; a cached value may stand in for any later version
/// (the graph "only grew"), never for an earlier one.
@Suite struct RebuiltAsideTests {
    struct Failure: Error {}

    /// The graph as the rebuild aside reads it, and how many builds ran where.
    final class Source: Sendable {
        let version = Atomic<Int>(0)
        let builtAside = Atomic<Int>(0)
        let failAside = Atomic<Bool>(false)
        let failuresReported = Atomic<Int>(0)

        func rebuild() throws -> (version: Int, value: String) {
            builtAside.wrappingAdd(1, ordering: .relaxed)
            if failAside.load(ordering: .relaxed) { throw Failure() }
            let version = version.load(ordering: .relaxed)
            return (version, "aside \(version)")
        }
    }

    static func cache(reportingTo source: Source, jobs: BackgroundJobs = BackgroundJobs(label: "test")) -> RebuiltAside<Int, String> {
        RebuiltAside(jobs: jobs, kind: .routerView, mayStandIn: { cached, current in cached <= current },
                     failedAside: { _ in source.failuresReported.wrappingAdd(1, ordering: .relaxed) })
    }

    @Test func buildsFirstThenAnswersStaleWhileRebuildingAside() async throws {
        let source = Source()
        let cache = Self.cache(reportingTo: source)
        var builtHere = 0
        #expect(try cache.value(for: 0, build: { builtHere += 1; return "here 0" }, rebuild: source.rebuild) == "here 0")
        #expect(builtHere == 1)
        #expect(try cache.value(for: 0, build: { builtHere += 1; return "here 0" }, rebuild: source.rebuild) == "here 0")
        #expect(builtHere == 1, "the same version is served from the cache")

        // The graph grew: the old value answers at once, a rebuild aside replaces it.
        source.version.store(1, ordering: .relaxed)
        #expect(cache.canAnswer(for: 1))
        #expect(try cache.value(for: 1, build: { builtHere += 1; return "here 1" }, rebuild: source.rebuild) == "here 0")
        #expect(builtHere == 1)
        #expect(try await eventually { cache.cached?.version == 1 })
        #expect(try cache.value(for: 1, build: { builtHere += 1; return "here 1" }, rebuild: source.rebuild) == "aside 1")
        #expect(source.builtAside.load(ordering: .relaxed) == 1)
    }

    @Test func buildsOnTheCallersThreadWhenTheCachedValueCannotStandIn() throws {
        let source = Source()
        let cache = Self.cache(reportingTo: source)
        _ = try cache.value(for: 5, build: { "here 5" }, rebuild: source.rebuild)
        // An earlier version (something was removed): the cached value may not answer.
        #expect(!cache.canAnswer(for: 3))
        #expect(try cache.value(for: 3, build: { "here 3" }, rebuild: source.rebuild) == "here 3")
        #expect(cache.cached?.version == 3)
        #expect(source.builtAside.load(ordering: .relaxed) == 0)
    }

    @Test func aFailedRebuildAsideDropsTheValueAndIsReported() async throws {
        let source = Source()
        let cache = Self.cache(reportingTo: source)
        _ = try cache.value(for: 0, build: { "here 0" }, rebuild: source.rebuild)
        source.failAside.store(true, ordering: .relaxed)
        #expect(try cache.value(for: 1, build: { "here 1" }, rebuild: source.rebuild) == "here 0")
        #expect(try await eventually { cache.cached == nil })
        #expect(source.failuresReported.load(ordering: .relaxed) == 1)
        #expect(try cache.value(for: 1, build: { "here 1" }, rebuild: source.rebuild) == "here 1")
        #expect(throws: Failure.self) {
            _ = try cache.value(for: 0, build: { throw Failure() }, rebuild: source.rebuild)
        }
    }

    /// A write can start the rebuild itself: the next caller then finds the new
    /// value without having answered from the old one first.
    @Test func refreshAsideRebuildsBeforeAnyCallerAsks() async throws {
        let source = Source()
        let cache = Self.cache(reportingTo: source)
        cache.refreshAside(source.rebuild)
        try await Task.sleep(for: .milliseconds(50))
        #expect(source.builtAside.load(ordering: .relaxed) == 0, "nothing cached: the next caller builds")
        _ = try cache.value(for: 0, build: { "here 0" }, rebuild: source.rebuild)
        source.version.store(1, ordering: .relaxed)
        cache.refreshAside(source.rebuild)
        #expect(try await eventually { cache.cached?.version == 1 })
        var builtHere = false
        #expect(try cache.value(for: 1, build: { builtHere = true; return "here 1" }, rebuild: source.rebuild) == "aside 1")
        #expect(!builtHere && source.builtAside.load(ordering: .relaxed) == 1)
    }

    @Test func noRebuildStartsAfterTheJobsShutDown() async throws {
        let source = Source()
        let jobs = BackgroundJobs(label: "test")
        let cache = Self.cache(reportingTo: source, jobs: jobs)
        _ = try cache.value(for: 0, build: { "here 0" }, rebuild: source.rebuild)
        await jobs.shutdown()
        #expect(try cache.value(for: 1, build: { "here 1" }, rebuild: source.rebuild) == "here 0", "still answers from the cache")
        try await Task.sleep(for: .milliseconds(100))
        #expect(source.builtAside.load(ordering: .relaxed) == 0)
        #expect(cache.cached?.version == 0)
    }
}
