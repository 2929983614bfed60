import Foundation
import GraphdClient
import GraphdProto
import NIOSSL
import Testing

/// TCP bearer tokens, Unix peer uids and the startup rule for TCP.
@Suite(.serialized) struct SecurityTests {
    @Test func tcpRequestsNeedTheBearerToken() async throws {
        let scratch = Scratch()
        let tokenFile = scratch.path("token")
        try "s3cret-token-0123456789\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let port = freePort()
        let daemon = try Daemon(socket: scratch.path("s.sock"), store: scratch.path("s.sqlite"), tcpPort: port,
                                extraArguments: ["--tcp-token-file", tokenFile])
        try await daemon.waitUntilServing()
        let anonymous = try await GraphClient.connect(to: .tcp(host: "127.0.0.1", port: port))
        await expectCode(.unauthenticated, "no token") { _ = try await anonymous.stats() }
        let wrong = try await GraphClient.connect(to: .tcp(host: "127.0.0.1", port: port), bearerToken: "s3cret-token-0123456780")
        await expectCode(.unauthenticated, "wrong token") { _ = try await wrong.stats() }
        let right = try await GraphClient.connect(to: .tcp(host: "127.0.0.1", port: port), bearerToken: "s3cret-token-0123456789")
        #expect(try await right.stats().edges == 0)
        // The Unix socket needs no token.
        let local = try await daemon.client()
        #expect(try await local.health().status == .serving)
        for client in [anonymous, wrong, right, local] { await client.close() }
        // graphctl reads the token from a file.
        #expect(try run(Products.graphctl, ["graph", "stats", "--tcp", "127.0.0.1:\(port)", "--token-file", tokenFile]).status == 0)
        #expect(try run(Products.graphctl, ["graph", "stats", "--tcp", "127.0.0.1:\(port)"]).status != 0)
        // The refusal is logged without the payload.
        let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
        #expect(log.contains("request refused"))
        _ = await daemon.terminate()
    }

    @Test func tcpWithoutATokenIsRefusedAtStartUpUnlessInsecure() throws {
        let scratch = Scratch()
        let result = try run(Products.graphd, ["--socket", scratch.path("x.sock"), "--store", scratch.path("x.sqlite"),
                                               "--tcp", "127.0.0.1:\(freePort())"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--tcp-token-file"))
    }

    @Test func unixPeersOutsideTheAllowedUIDsAreDenied() async throws {
        let scratch = Scratch()
        let me = getuid()
        let denied = try Daemon(socket: scratch.path("d.sock"), store: scratch.path("d.sqlite"), extraArguments: ["--allow-uid", "\(me &+ 4242)"])
        // waitUntilServing relies on Health: it is denied too, so poll the socket file instead.
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: denied.socket) { try await Task.sleep(for: .milliseconds(25)) }
        try await Task.sleep(for: .milliseconds(100))
        let client = try await GraphClient.connect(to: .unix(path: denied.socket))
        await expectCode(.permissionDenied, "foreign uid") { _ = try await client.stats() }
        await client.close()
        _ = await denied.terminate()

        let allowed = try Daemon(socket: scratch.path("a.sock"), store: scratch.path("a.sqlite"), extraArguments: ["--allow-uid", "\(me)"])
        try await allowed.waitUntilServing()
        let ok = try await allowed.client()
        #expect(try await ok.stats().edges == 0)
        await ok.close()
        _ = await allowed.terminate()
    }

    @Test func connectionsBeyondTheLimitAreRefused() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"), extraArguments: ["--max-connections", "2"])
        try await daemon.waitUntilServing()
        /// A connection that got a slot: a closed connection (the readiness probe's, say)
        /// gives its slot back a moment after the client closed it.
        func admitted() async throws -> GraphClient? {
            for _ in 0..<50 {
                if let client = try? await daemon.client() {
                    if (try? await client.health()) != nil { return client }
                    await client.close()
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
        let first = try #require(try await admitted()), second = try #require(try await admitted())
        let third = try await daemon.client()
        await expectCode(.resourceExhausted, "third connection") { _ = try await third.health() }
        await third.close()
        // Closing one frees its slot.
        await second.close()
        let next = try await admitted()
        #expect(next != nil, "a freed slot was not reused")
        await next?.close()
        await first.close()
        _ = await daemon.terminate()
    }

    @Test func idleConnectionsAreClosed() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("i.sock"), store: scratch.path("i.sqlite"), extraArguments: ["--idle-timeout-seconds", "2"])
        try await daemon.waitUntilServing()
        // A connection that answers once. On a loaded machine (the whole suite runs in
        // parallel on two cores) the daemon can stall past the 2 s timeout between
        // accepting a connection and reading from it, and then rightly closes it: try again.
        var opened: GraphClient?
        for _ in 0..<5 where opened == nil {
            if let candidate = try? await daemon.client() {
                if (try? await candidate.health()) != nil { opened = candidate } else { await candidate.close() }
            }
        }
        let client = try #require(opened)
        // Idle for longer than the timeout: the server closes the connection.
        try await Task.sleep(for: .milliseconds(4000))
        do {
            _ = try await client.health()
            Issue.record("an idle connection was still open after the idle timeout")
        } catch let error as RPCError {
            #expect(error.code == .unavailable, "\(error)")
        }
        await client.close()
        _ = await daemon.terminate()
    }

    @Test func tlsOnTheTCPListener() async throws {
        let scratch = Scratch()
        let cert = scratch.path("cert.pem"), key = scratch.path("key.pem"), tokenFile = scratch.path("token")
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                                                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        try #require(made.status == 0, "openssl: \(made.stderr)")
        let token = "tls-test-token-0123456789"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let port = freePort()
        let daemon = try Daemon(socket: scratch.path("t.sock"), store: scratch.path("t.sqlite"), tcpPort: port,
                                extraArguments: ["--tcp-token-file", tokenFile, "--tls-cert", cert, "--tls-key", key])
        try await daemon.waitUntilServing()

        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        let client = try await GraphClient.connect(to: .tcp(host: "localhost", port: port), bearerToken: token, tls: trusting)
        #expect(try await client.health().status == .serving)
        // TLS does not replace the token.
        let tokenless = try await GraphClient.connect(to: .tcp(host: "localhost", port: port), tls: trusting)
        await expectCode(.unauthenticated, "TLS without the token") { _ = try await tokenless.stats() }
        await tokenless.close()
        await client.close()

        // Plain TCP to the TLS port, and TLS that does not trust this certificate, both fail:
        // at connect or at the first call, whichever the failed handshake reaches first.
        await #expect(throws: (any Error).self) {
            let plain = try await GraphClient.connect(to: .tcp(host: "127.0.0.1", port: port), defaultTimeout: .seconds(3), bearerToken: token)
            do { _ = try await plain.health() } catch { await plain.close(); throw error }
            await plain.close()
        }
        var untrusting = TLSConfiguration.makeClientConfiguration()
        untrusting.trustRoots = .certificates([])
        await #expect(throws: (any Error).self) {
            let stranger = try await GraphClient.connect(to: .tcp(host: "localhost", port: port), defaultTimeout: .seconds(3),
                                                         bearerToken: token, tls: untrusting)
            do { _ = try await stranger.health() } catch { await stranger.close(); throw error }
            await stranger.close()
        }

        // graphctl with --tls and the CA file.
        let health = try run(Products.graphctl, ["health", "--tcp", "localhost:\(port)", "--tls", "--tls-ca", cert, "--token-file", tokenFile])
        #expect(health.status == 0, "\(health.stderr)")

        // The Python client: TLS with the CA file and the token; without the CA, or without TLS, it fails.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let python = """
            import sys; sys.path.insert(0, sys.argv[1])
            from graphd_client import GraphdClient
            from graphd_client.errors import Unavailable
            port, ca, token = int(sys.argv[2]), sys.argv[3], sys.argv[4]
            with GraphdClient.tcp("localhost", port, token=token, tls=True, tls_ca=ca) as client:
                assert client.health().status == 1, "not serving"
            for kwargs in ({"tls": True}, {}):
                try:
                    GraphdClient.tcp("localhost", port, token=token, timeout=3, **kwargs).health()
                    raise SystemExit(f"connected with {kwargs}")
                except Unavailable:
                    pass
            print("python tls ok")
            """
        let pythonRun = try run("/usr/bin/env", ["python3", "-c", python, root.appendingPathComponent("clients/python").path,
                                                 String(port), cert, token])
        #expect(pythonRun.status == 0 && pythonRun.stdout.contains("python tls ok"), "\(pythonRun.stdout)\(pythonRun.stderr)")

        // The C client: TLS by name and by address with the CA file and the token; refused
        // without the token, with the system's roots, with a missing CA file, and in plain TCP.
        let cCheck = try run(try buildCClient(in: scratch) + "/check_tls", [String(port), cert, token])
        #expect(cCheck.status == 0 && cCheck.stdout.contains("tls checks passed"), "\(cCheck.stdout)\(cCheck.stderr)")
        _ = await daemon.terminate()
    }
}
