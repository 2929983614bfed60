/// graphd's release version, reported by Health and Stats and by both executables.
public enum GraphdVersion {
    public static let string = "0.1.0"
}

/// The ttrpc service names of the graphd.v1 API.
public enum GraphdServiceName {
    public static let graph = "graphd.v1.Graph"
    public static let recommend = "graphd.v1.Recommend"
    public static let router = "graphd.v1.Router"
    public static let conversation = "graphd.v1.Conversation"
}

/// Every RPC graphd serves, by service: the one table of names the server
/// registers, the Swift client calls and the tests use (ttrpc addresses a call
/// by "service" and "method" strings).
public struct GraphdMethod: Hashable, Sendable, CustomStringConvertible {
    public let service: String
    public let method: String

    public init(_ service: String, _ method: String) {
        self.service = service
        self.method = method
    }

    /// "service/method", as logs and metrics show it.
    public var description: String { "\(service)/\(method)" }

    // Graph
    public static let health = GraphdMethod(GraphdServiceName.graph, "Health")
    public static let stats = GraphdMethod(GraphdServiceName.graph, "Stats")
    public static let defineTypes = GraphdMethod(GraphdServiceName.graph, "DefineTypes")
    public static let listTypes = GraphdMethod(GraphdServiceName.graph, "ListTypes")
    public static let addNodes = GraphdMethod(GraphdServiceName.graph, "AddNodes")
    public static let addEdges = GraphdMethod(GraphdServiceName.graph, "AddEdges")
    public static let removeNodes = GraphdMethod(GraphdServiceName.graph, "RemoveNodes")
    public static let removeEdges = GraphdMethod(GraphdServiceName.graph, "RemoveEdges")
    public static let getNode = GraphdMethod(GraphdServiceName.graph, "GetNode")
    public static let neighbors = GraphdMethod(GraphdServiceName.graph, "Neighbors")
    public static let listNodes = GraphdMethod(GraphdServiceName.graph, "ListNodes")
    public static let listEdges = GraphdMethod(GraphdServiceName.graph, "ListEdges")
    public static let embed = GraphdMethod(GraphdServiceName.graph, "Embed")
    public static let compact = GraphdMethod(GraphdServiceName.graph, "Compact")
    public static let snapshot = GraphdMethod(GraphdServiceName.graph, "Snapshot")
    public static let readSnapshot = GraphdMethod(GraphdServiceName.graph, "ReadSnapshot")

    // Recommend
    public static let recommend = GraphdMethod(GraphdServiceName.recommend, "Recommend")
    public static let personalizedPageRank = GraphdMethod(GraphdServiceName.recommend, "PersonalizedPageRank")

    // Router
    public static let route = GraphdMethod(GraphdServiceName.router, "Route")
    public static let feedback = GraphdMethod(GraphdServiceName.router, "Feedback")
    public static let addLLM = GraphdMethod(GraphdServiceName.router, "AddLLM")
    public static let listLLMs = GraphdMethod(GraphdServiceName.router, "ListLLMs")
    public static let removeLLM = GraphdMethod(GraphdServiceName.router, "RemoveLLM")
    public static let train = GraphdMethod(GraphdServiceName.router, "Train")
    public static let trainProgress = GraphdMethod(GraphdServiceName.router, "TrainProgress")
    public static let setTask = GraphdMethod(GraphdServiceName.router, "SetTask")
    public static let listTasks = GraphdMethod(GraphdServiceName.router, "ListTasks")

    // Conversation
    public static let retrieve = GraphdMethod(GraphdServiceName.conversation, "Retrieve")
    public static let trainReasoner = GraphdMethod(GraphdServiceName.conversation, "TrainReasoner")
    public static let addConversation = GraphdMethod(GraphdServiceName.conversation, "AddConversation")
    public static let trainReasonerProgress = GraphdMethod(GraphdServiceName.conversation, "TrainReasonerProgress")

    /// The methods that change the store: a replica refuses them (they go to the primary).
    public static let writes: Set<GraphdMethod> = [
        .defineTypes, .addNodes, .addEdges, .removeNodes, .removeEdges,
        .feedback, .addLLM, .removeLLM, .train, .setTask, .trainReasoner, .addConversation,
    ]

    public var isWrite: Bool { Self.writes.contains(self) }

    /// Every method, in the order above.
    public static let all: [GraphdMethod] = [
        .health, .stats, .defineTypes, .listTypes, .addNodes, .addEdges,
        .removeNodes, .removeEdges, .getNode, .neighbors, .listNodes, .listEdges,
        .embed, .compact, .snapshot, .readSnapshot, .recommend, .personalizedPageRank, .route, .feedback,
        .addLLM, .listLLMs, .removeLLM, .train, .trainProgress, .setTask,
        .listTasks, .retrieve, .trainReasoner, .addConversation, .trainReasonerProgress,
    ]
}

/// Conventions of graphd's replication on the wire, shared by the server and
/// every client.
public enum GraphdReplicationWire {
    /// ttrpc metadata of a read that must see at least this log sequence (a
    /// write reply's `log_sequence`): a replica waits for it up to the
    /// request's deadline, then answers UNAVAILABLE.
    public static let minLogSequenceKey = "min-log-sequence"
    /// A replica refuses a write with FAILED_PRECONDITION and a message that
    /// ends with this marker and the primary's address ("unix:PATH" or
    /// "tcp:HOST:PORT"): clients read it to send the write there.
    public static let primaryMarker = "send writes to the primary at "

    /// The primary's address in a replica's refusal, if the message names one.
    public static func primaryAddress(inRefusal message: String) -> String? {
        guard let range = message.range(of: primaryMarker, options: .backwards) else { return nil }
        let address = String(message[range.upperBound...])
        return address.isEmpty ? nil : address
    }
}
