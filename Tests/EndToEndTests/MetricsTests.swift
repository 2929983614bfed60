import Foundation
import GraphdClient
import GraphdProto
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 GET over a plain socket: (status code, body).
private func httpGet(port: Int, path: String) throws -> (Int, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw RPCError(.unavailable, "cannot connect to the metrics port") }
    // Never wait forever: a stuck response fails the test instead of hanging it.
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

@Test func metricsHealthAndReadinessOverHTTP() async throws {
    let scratch = Scratch()
    let port = freePort()
    let daemon = try Daemon(socket: scratch.path("mt.sock"), store: scratch.path("mt.sqlite"), extraArguments: ["--metrics", "127.0.0.1:\(port)"])
    try await daemon.waitUntilServing()
    let client = try await daemon.client()
    var add = Graphd_V1_AddEdgesRequest()
    add.edges = [makeEdge("interacted", ("user", "a"), ("item", "1")), makeEdge("interacted", ("user", "b"), ("item", "1"))]
    _ = try await client.addEdges(add)
    _ = try await client.stats()
    var missing = Graphd_V1_GetNodeRequest()
    missing.node = Graphd_V1_NodeRef(type: "user", key: "nobody")
    _ = try? await client.getNode(missing)
    // A router training job that fails (one LLM, no outcomes) shows in the training metrics.
    var llm = Graphd_V1_AddLLMRequest()
    llm.llm.name = "m1"
    llm.llm.description_p = "a model"
    _ = try await client.addLLM(llm)
    await expectCode(.failedPrecondition, "training without outcomes") { _ = try await client.trainRouter(Graphd_V1_TrainRouterRequest()) }
    await client.close()

    let (status, body) = try httpGet(port: port, path: "/metrics")
    #expect(status == 200)
    for expected in [
        #"graphd_requests_total{service="graphd.v1.Graph",method="Stats",status="OK"}"#,
        #"graphd_requests_total{service="graphd.v1.Graph",method="GetNode",status="NOT_FOUND"}"#,
        "graphd_request_duration_seconds_bucket", "graphd_requests_in_flight", "graphd_store_commit_seconds",
        "graphd_edges 2", #"graphd_nodes_by_type{type="user"} 2"#, "graphd_delta_edges 2", "graphd_compactions 0",
        #"graphd_training_running{model="router"} 0"#, #"graphd_training_failures_total{model="router"} 1"#,
    ] {
        #expect(body.contains(expected), "missing \(expected)")
    }
    #expect(try httpGet(port: port, path: "/healthz").0 == 200)
    #expect(try httpGet(port: port, path: "/readyz").0 == 200)
    #expect(try httpGet(port: port, path: "/nope").0 == 404)
    _ = await daemon.terminate()
}
