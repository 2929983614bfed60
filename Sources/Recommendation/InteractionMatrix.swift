import GraphCore
import MessagePassing

/// Which part of a graph holds the user–item interactions.
public struct InteractionSpec: Hashable, Sendable {
    public var userType: NodeTypeID
    public var itemType: NodeTypeID
    /// Edge types that count as an interaction (between a user and an item, either way round).
    public var edgeTypes: Set<EdgeTypeID>

    public init(userType: NodeTypeID, itemType: NodeTypeID, edgeTypes: Set<EdgeTypeID>) {
        self.userType = userType
        self.itemType = itemType
        self.edgeTypes = edgeTypes
    }

    /// The walk filter that keeps a walk on these users, items and edges.
    public var walkFilter: WalkFilter { WalkFilter(edgeTypes: edgeTypes, nodeTypes: [userType, itemType]) }
}

/// The user–item interactions of one snapshot as a sparse matrix (users ×
/// items, edge weights summed), with the node ids of both sides. Immutable.
public final class InteractionMatrix: Sendable {
    public let spec: InteractionSpec
    /// Node id of each user / item index.
    public let userNodes: [UInt32]
    public let itemNodes: [UInt32]
    /// Per node id (as of the snapshot): its item index, or -1.
    let itemIndexByNode: [Int32]
    /// users × items, rows sorted by item.
    public let byUser: SparseMatrix
    /// items × users, rows sorted by user.
    public let byItem: SparseMatrix
    /// Snapshot version and compaction count the matrix was read from.
    public let version: UInt64
    public let compactions: Int
    /// "user-item-interacted": the types it was built from, for people.
    public let label: String

    public var userCount: Int { userNodes.count }
    public var itemCount: Int { itemNodes.count }

    public init(snapshot: GraphSnapshot, spec: InteractionSpec) throws {
        let nodes = snapshot.nodes
        var userIndex = [Int32](repeating: -1, count: nodes.idCount)
        var itemIndex = [Int32](repeating: -1, count: nodes.idCount)
        var users: [UInt32] = [], items: [UInt32] = []
        for id in 0..<nodes.idCount where nodes.isLive(UInt32(id)) {
            let type = nodes.type(of: UInt32(id))
            if type == spec.userType {
                userIndex[id] = Int32(users.count)
                users.append(UInt32(id))
            } else if type == spec.itemType {
                itemIndex[id] = Int32(items.count)
                items.append(UInt32(id))
            }
        }
        var rows: [Int32] = [], columns: [Int32] = [], values: [Float] = []
        for (u, node) in users.enumerated() {
            snapshot.forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
                guard spec.edgeTypes.contains(edge.record.type) else { return true }
                let other = nodeIsSource ? edge.record.target : edge.record.source
                let item = itemIndex[Int(other)]
                if item >= 0 {
                    rows.append(Int32(u))
                    columns.append(item)
                    values.append(edge.record.weight)
                }
                return true
            }
        }
        self.spec = spec
        self.userNodes = users
        self.itemNodes = items
        self.itemIndexByNode = itemIndex
        self.byUser = try SparseMatrix(rowCount: users.count, columnCount: items.count, rows: rows, columns: columns, values: values)
        self.byItem = byUser.transposed()
        self.version = snapshot.version
        self.compactions = snapshot.compactions
        let schema = snapshot.schema
        self.label = ([schema.nodeType(spec.userType).name, schema.nodeType(spec.itemType).name]
            + spec.edgeTypes.sorted().map { schema.edgeType($0).name }).joined(separator: "-")
    }

    /// The item index of a node, if it was an item when the matrix was built.
    public func itemIndex(ofNode node: UInt32) -> Int? {
        guard Int(node) < itemIndexByNode.count else { return nil }
        let index = itemIndexByNode[Int(node)]
        return index >= 0 ? Int(index) : nil
    }

    /// `user`'s interactions as read from `snapshot` now (delta included), as
    /// (item index, weight) for the items this matrix knows.
    public func liveInteractions(of user: UInt32, in snapshot: GraphSnapshot) -> [(item: Int, weight: Float)] {
        var result: [(item: Int, weight: Float)] = []
        snapshot.forEachEdge(of: user, direction: .both) { edge, nodeIsSource in
            guard spec.edgeTypes.contains(edge.record.type) else { return true }
            let other = nodeIsSource ? edge.record.target : edge.record.source
            if let item = itemIndex(ofNode: other) { result.append((item, edge.record.weight)) }
            return true
        }
        return result
    }
}
