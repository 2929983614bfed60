import GraphInputs

/// One dialogue as graph inputs: its `conversation` node (text: one
/// "ROLE: text" line per turn), `mentions` edges to what it names (weight =
/// how many times, in order of first mention) and `recommended` edges to the
/// items recommended in it (each once). `graphctl import inspired` and the
/// Conversation service's AddConversation both write dialogues through it, so
/// a live dialogue looks to retrieval exactly like an imported one.
public struct ConversationRecord: Sendable {
    public struct Turn: Sendable {
        public var role: String
        public var text: String
        /// What the turn names, in order; a node named twice counts twice.
        public var mentioned: [NodeRefInput]
        /// The items this turn recommends (a recommender's turn).
        public var recommended: [NodeRefInput]

        public init(role: String, text: String, mentioned: [NodeRefInput], recommended: [NodeRefInput] = []) {
            self.role = role
            self.text = text
            self.mentioned = mentioned
            self.recommended = recommended
        }
    }

    public let conversation: NodeRefInput
    public let node: NodeInput
    public let edges: [EdgeInput]
    /// Distinct nodes mentioned.
    public let mentionCount: Int
    /// Items with a `recommended` edge, in order.
    public let recommended: [NodeRefInput]

    /// `alsoRecommended`: items recommended outside the turns (the one the seeker took, say).
    public init(key: String, turns: [Turn], alsoRecommended: [NodeRefInput] = []) {
        typealias S = ConversationSchema
        let conversation = NodeRefInput(type: S.conversation, key: key)
        var counts: [NodeRefInput: Int] = [:], order: [NodeRefInput] = []
        var recommended: [NodeRefInput] = [], seenRecommended = Set<NodeRefInput>()
        for turn in turns {
            for node in turn.mentioned {
                if counts[node] == nil { order.append(node) }
                counts[node, default: 0] += 1
            }
            for item in turn.recommended where seenRecommended.insert(item).inserted { recommended.append(item) }
        }
        for item in alsoRecommended where seenRecommended.insert(item).inserted { recommended.append(item) }
        self.conversation = conversation
        node = NodeInput(type: S.conversation, key: key, text: turns.map { "\($0.role): \($0.text)" }.joined(separator: "\n"))
        edges = order.map { EdgeInput(type: S.mentions, source: conversation, target: $0, weight: Double(counts[$0] ?? 1)) }
            + recommended.map { EdgeInput(type: S.recommended, source: conversation, target: $0) }
        mentionCount = order.count
        self.recommended = recommended
    }
}
