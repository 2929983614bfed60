import Foundation
import GraphAlgorithms
import GraphCore
import Testing
@testable import Recommendation

/// A small weighted user–item graph and its dense interaction matrix.
private struct Fixture {
    var state = GraphState()
    var users: [UInt32] = []
    var items: [UInt32] = []
    var dense: [[Float]] = []  // users × items
    var spec: InteractionSpec

    init(users userCount: Int = 12, items itemCount: Int = 15, seed: UInt64 = 3) throws {
        var random = seed
        func next() -> UInt64 {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return random >> 33
        }
        var edges: [EdgeInput] = []
        dense = [[Float]](repeating: [Float](repeating: 0, count: itemCount), count: userCount)
        for u in 0..<userCount {
            for i in 0..<itemCount where next() % 3 == 0 {
                let weight = Float(1 + next() % 3)
                dense[u][i] = weight
                edges.append(EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "u\(u)"),
                                       target: NodeRefInput(type: "item", key: "i\(i)"), weight: Double(weight), timestampMs: 1))
            }
        }
        state.apply(try state.planAddEdges(edges, requireExistingNodes: false, nowMs: 1))
        let schema = state.schema
        spec = InteractionSpec(userType: try schema.requireNodeType("user"), itemType: try schema.requireNodeType("item"),
                               edgeTypes: [try schema.requireEdgeType("interacted")])
        let nodes = state.snapshot.nodes
        users = (0..<userCount).map { nodes.id(of: NodeKey(type: spec.userType, key: "u\($0)")) ?? UInt32.max }
        items = (0..<itemCount).map { nodes.id(of: NodeKey(type: spec.itemType, key: "i\($0)")) ?? UInt32.max }
    }
}

@Test func rp3BetaMatchesTheMatrixFormula() throws {
    let f = try Fixture()
    let view = f.state.snapshot.walkView(f.spec.walkFilter)
    let parameters = RP3Beta.Parameters(alpha: 0.7, beta: 0.3)
    let userDegree = f.dense.map { $0.reduce(0, +) }
    let itemDegree = (0..<f.items.count).map { i in f.dense.reduce(Float(0)) { $0 + $1[i] } }
    for (u, user) in f.users.enumerated() where userDegree[u] > 0 {
        // P_ui^α · P_iu^α · P_ui^α, then / d(j)^β.
        var expected = [Float](repeating: 0, count: f.items.count)
        for i in 0..<f.items.count where f.dense[u][i] > 0 {
            let first = pow(f.dense[u][i] / userDegree[u], parameters.alpha)
            for v in 0..<f.users.count where f.dense[v][i] > 0 {
                let second = pow(f.dense[v][i] / itemDegree[i], parameters.alpha)
                for j in 0..<f.items.count where f.dense[v][j] > 0 {
                    expected[j] += first * second * pow(f.dense[v][j] / userDegree[v], parameters.alpha)
                }
            }
        }
        for j in expected.indices where itemDegree[j] > 0 { expected[j] /= pow(itemDegree[j], parameters.beta) }
        let itemType = f.spec.itemType
        let scores = RP3Beta(parameters: parameters).scores(user: user, view: view) { f.state.snapshot.nodes.type(of: $0) == itemType }
        var got = [Float](repeating: 0, count: f.items.count)
        for (node, score) in scores { got[f.items.firstIndex(of: node)!] = score }
        for j in expected.indices { #expect(abs(got[j] - expected[j]) <= 1e-5 * max(1, expected[j]), "user \(u) item \(j)") }
        // Contributions add up to the score.
        for j in expected.indices where expected[j] > 0 {
            let shares = RP3Beta(parameters: parameters).contributions(to: f.items[j], user: user, view: view)
            let total = shares.reduce(Float(0)) { $0 + $1.share }
            #expect(abs(total * pow(itemDegree[j], -parameters.beta) - expected[j]) <= 1e-4 * max(1, expected[j]))
        }
    }
}

@Test func graphFilterLinearPartIsTheNormalisedItemItemProduct() throws {
    let f = try Fixture(seed: 8)
    let matrix = try InteractionMatrix(snapshot: f.state.snapshot, spec: f.spec)
    let scorer = try GraphFilterScorer(matrix: matrix, parameters: .init(dimensions: 0, idealWeight: 0))
    let userDegree = f.dense.map { $0.reduce(0, +) }
    let itemDegree = (0..<f.items.count).map { i in f.dense.reduce(Float(0)) { $0 + $1[i] } }
    func normalized(_ u: Int, _ i: Int) -> Float {
        f.dense[u][i] == 0 ? 0 : f.dense[u][i] / (userDegree[u] * itemDegree[i]).squareRoot()
    }
    for u in 0..<f.users.count {
        let row = matrix.liveInteractions(of: f.users[u], in: f.state.snapshot)
        let scores = scorer.scores(for: row)
        for j in 0..<f.items.count {
            // r_u · R̃ᵀ · R̃ (r_u with the raw weights).
            var expected: Float = 0
            for i in 0..<f.items.count where f.dense[u][i] > 0 {
                for v in 0..<f.users.count { expected += f.dense[u][i] * normalized(v, i) * normalized(v, j) }
            }
            let index = try #require(matrix.itemIndex(ofNode: f.items[j]))
            #expect(abs(scores[index] - expected) < 1e-4, "user \(u) item \(j)")
        }
    }
    // With the ideal filter on, the eigenvectors are orthonormal.
    let full = try GraphFilterScorer(matrix: matrix, parameters: .init(dimensions: 4, idealWeight: 0.3))
    let gram = try full.basis.multiplied(by: full.basis, transposeSelf: true)
    for a in 0..<4 { for b in 0..<4 { #expect(abs(gram[a, b] - (a == b ? 1 : 0)) < 1e-3) } }
}
