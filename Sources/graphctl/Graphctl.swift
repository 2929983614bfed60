import ArgumentParser
import GraphdProto

@main
struct Graphctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphctl",
        abstract: "Operate a graphd daemon: inspect, load, query and benchmark its graph.",
        discussion: """
        Every command that talks to graphd takes --socket PATH (default: $GRAPHD_SOCKET, then \
        /tmp/graphd.sock) or --tcp HOST:PORT, and --format text|json. JSON goes to stdout, \
        logs and progress to stderr.

        Exit codes: 0 success; 64 usage error; 65 input rejected by the server (invalid, not \
        found, already exists, too large); 66 input file unreadable; 69 server unavailable; \
        70 server error; 75 deadline exceeded.

        Examples:
          graphctl health
          graphctl graph stats --format json
          graphctl import --format lightgcn train.txt
          graphctl node add user:alice --text "Alice"
          graphctl edge add interacted user:alice item:42 --weight 2
          graphctl neighbors user:alice --direction out --limit 20
          graphctl recommend user:alice --k 20 --explain
          graphctl ppr user:alice --top item=10
        """,
        version: GraphdVersion.string,
        subcommands: [
            GraphCommand.self, NodeCommand.self, EdgeCommand.self, NeighborsCommand.self,
            ImportCommand.self, ExportCommand.self, CompactCommand.self, SnapshotCommand.self, HealthCommand.self,
            RecommendCommand.self, PPRCommand.self, EmbedCommand.self, RouteCommand.self, FeedbackCommand.self,
            LLMCommand.self, TaskCommand.self, TrainCommand.self, ConverseCommand.self, ConversationCommand.self,
        ])
}
