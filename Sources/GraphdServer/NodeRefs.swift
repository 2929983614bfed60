import GraphCore
import GraphdProto
import TTRPC

// Node references in requests and responses, shared by every service.

/// `field` names the request field in errors; it is built only for one (ingest
/// checks two references per edge).
func requireRef(type: String, key: String, field: @autoclosure () -> String) throws {
    if type.isEmpty { throw RPCError(.invalidArgument, "\(field()).type is empty") }
    if key.isEmpty { throw RPCError(.invalidArgument, "\(field()).key is empty") }
}

func nodeRef(_ ref: Graphd_V1_NodeRef, present: Bool, field: @autoclosure () -> String) throws -> NodeRefInput {
    guard present else { throw RPCError(.invalidArgument, "\(field()) is required") }
    try requireRef(type: ref.type, key: ref.key, field: field())
    return NodeRefInput(type: ref.type, key: ref.key)
}

func resolve(_ ref: Graphd_V1_NodeRef, present: Bool, field: @autoclosure () -> String, in snapshot: GraphSnapshot) throws -> UInt32 {
    let input = try nodeRef(ref, present: present, field: field())
    let type = try snapshot.schema.requireNodeType(input.type)
    guard let id = snapshot.nodes.id(of: NodeKey(type: type, key: input.key)) else {
        throw RPCError(.notFound, "node \(input.type)/\(input.key.prefix(200)) does not exist")
    }
    return id
}

func protoRef(_ input: NodeRefInput) -> Graphd_V1_NodeRef {
    var ref = Graphd_V1_NodeRef()
    ref.type = input.type
    ref.key = input.key
    return ref
}

func protoRef(_ id: UInt32, snapshot: GraphSnapshot) -> Graphd_V1_NodeRef {
    var ref = Graphd_V1_NodeRef()
    ref.type = snapshot.schema.nodeType(snapshot.nodes.type(of: id)).name
    ref.key = snapshot.nodes.key(of: id)
    return ref
}
