import Foundation
import GraphdProto
import Logging
import Testing

@testable import GraphdServer

/// The server registers exactly the methods of the one table the Swift client
/// calls by (`GraphdMethod`), and each reaches a handler in process.
@Test func theServerRegistersExactlyTheMethodTable() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("methods-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let server = try GraphdServer(configuration: GraphdConfiguration(storePath: directory.appendingPathComponent("s.sqlite").path),
                                  logger: Logger(label: "test"))
    let registered = server.makeDispatcher().registeredMethods.map { "\($0.service)/\($0.method)" }
    let table = GraphdMethod.all.map(\.description)
    #expect(Set(table).count == table.count, "a method is listed twice")
    #expect(registered == table.sorted())
    await server.jobs.shutdown()
}
