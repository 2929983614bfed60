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

    /// Each user takes about one item in `sparsity`.
    init(users userCount: Int = 12, items itemCount: Int = 15, seed: UInt64 = 3, sparsity: UInt64 = 3) throws {
        var random = seed
        func next() -> UInt64 {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return random >> 33
        }
        var edges: [EdgeInput] = []
        dense = [[Float]](repeating: [Float](repeating: 0, count: itemCount), count: userCount)
        for u in 0..<userCount {
            for i in 0..<itemCount where next() % sparsity == 0 {
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
    let scorer = GraphFilterScorer(spectrum: try ItemSpectrum(matrix: matrix, dimensions: 0), parameters: .init(dimensions: 0, idealWeight: 0))
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
    let spectrum = try ItemSpectrum(matrix: matrix, dimensions: 4)
    let gram = try spectrum.basis.multiplied(by: spectrum.basis, transposeSelf: true)
    for a in 0..<4 { for b in 0..<4 { #expect(abs(gram[a, b] - (a == b ? 1 : 0)) < 1e-3) } }
}

/// P = R̃ᵀR̃ of the fixture, dense, and the item degrees.
private func denseOperator(_ f: Fixture, dense: [[Float]]) -> (operator: [[Double]], itemDegree: [Double]) {
    let userDegree = dense.map { Double($0.reduce(0, +)) }
    let itemDegree = (0..<f.items.count).map { i in dense.reduce(0.0) { $0 + Double($1[i]) } }
    func normalized(_ u: Int, _ i: Int) -> Double {
        dense[u][i] == 0 ? 0 : Double(dense[u][i]) / (userDegree[u] * itemDegree[i]).squareRoot()
    }
    let n = f.items.count
    var p = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n { for j in 0..<n { for u in dense.indices { p[i][j] += normalized(u, i) * normalized(u, j) } } }
    return (p, itemDegree)
}

/// The polynomial filter, by the dense formula D^β (p(P) + α·U Uᵀ) D^−β r: p
/// from the Chebyshev recurrence on the matrix L = I − 2P (no eigenvectors),
/// U the `idealDimensions` leading eigenvectors of P.
private func polynomialReference(_ f: Fixture, dense: [[Float]], row: [Float], parameters: PolynomialFilterScorer.Parameters,
                                 projector: [[Double]]) -> [Double] {
    let (p, itemDegree) = denseOperator(f, dense: dense)
    let n = f.items.count, order = parameters.order, beta = Double(parameters.degreeExponent)
    // ChebyCF's coefficients: the plateau at cos(kπ/K), paired with the nodes cos((K + 1.5 − j)π/(K + 1)).
    func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
    let target = (0...order).map { k -> Double in
        let x = round3(cos(Double(order - k) / Double(order) * .pi))
        let fall = pow(abs(x), Double(parameters.flatness)) / 2
        return round3(x < 0 ? 0.5 + fall : 0.5 - fall)
    }
    let nodes = (1...(order + 1)).map { j in cos((Double(order + 1) + 0.5 - Double(j)) / Double(order + 1) * .pi) }
    let coefficients = (0...order).map { k -> Double in
        let sum = zip(nodes, target).reduce(0.0) { $0 + cos(Double(k) * acos($1.0)) * $1.1 }
        return sum * 2 / Double(order + 1) / (k == 0 ? 2 : 1)
    }
    let input = (0..<n).map { i in itemDegree[i] > 0 ? Double(row[i]) * pow(itemDegree[i], -beta) : 0 }
    func laplacian(_ x: [Double]) -> [Double] { (0..<n).map { i in x[i] - 2 * (0..<n).reduce(0.0) { $0 + p[i][$1] * x[$1] } } }
    var (previous, current) = (input, laplacian(input))
    var output = (0..<n).map { coefficients[0] * previous[$0] + coefficients[1] * current[$0] }
    for k in stride(from: 2, through: order, by: 1) {
        let next = zip(laplacian(current), previous).map { 2 * $0 - $1 }
        (previous, current) = (current, next)
        for i in 0..<n { output[i] += coefficients[k] * current[i] }
    }
    for i in 0..<n { for j in 0..<n { output[i] += Double(parameters.idealWeight) * projector[i][j] * input[j] } }
    return (0..<n).map { i in itemDegree[i] > 0 ? output[i] * pow(itemDegree[i], beta) : 0 }
}

/// U Uᵀ for the `count` leading eigenvectors of the model's spectrum, in the fixture's item order.
private func leadingProjector(_ spectrum: ItemSpectrum, count: Int, _ f: Fixture, _ matrix: InteractionMatrix) throws -> [[Double]] {
    let index = try f.items.map { try #require(matrix.itemIndex(ofNode: $0)) }
    return index.map { i in index.map { j in (0..<count).reduce(0.0) { $0 + Double(spectrum.basis[i, $1] * spectrum.basis[j, $1]) } } }
}

@Test(arguments: [(8, Float(1.5), Float(0.4)), (4, Float(1.0), Float(0.5)), (12, Float(2.5), Float(0.2))])
func polynomialFilterMatchesTheDenseFormulaWhenEveryEigenvectorIsKept(order: Int, flatness: Float, beta: Float) throws {
    // More users than items: P has full rank, and all 10 eigenpairs are kept, so the filter is exact.
    let f = try Fixture(users: 24, items: 10, seed: 11)
    let matrix = try InteractionMatrix(snapshot: f.state.snapshot, spec: f.spec)
    let parameters = PolynomialFilterScorer.Parameters(order: order, flatness: flatness, dimensions: 10, idealWeight: 0.3,
                                                       idealDimensions: 3, degreeExponent: beta)
    let spectrum = try ItemSpectrum(matrix: matrix, dimensions: 10)
    #expect(spectrum.dimensions == 10)
    #expect(spectrum.eigenvalues.first.map { abs($0 - 1) < 1e-4 } == true, "P's largest eigenvalue is 1")
    let scorer = PolynomialFilterScorer(spectrum: spectrum, parameters: parameters)
    let projector = try leadingProjector(spectrum, count: 3, f, matrix)
    for u in 0..<f.users.count {
        let scores = scorer.scores(for: matrix.liveInteractions(of: f.users[u], in: f.state.snapshot))
        let expected = polynomialReference(f, dense: f.dense, row: f.dense[u],
                                           parameters: parameters, projector: projector)
        for i in 0..<f.items.count {
            let index = try #require(matrix.itemIndex(ofNode: f.items[i]))
            #expect(abs(Double(scores[index]) - expected[i]) < 2e-4 * max(1, abs(expected[i])), "user \(u) item \(i)")
        }
    }
}

@Test func polynomialResponseIsALowPassPlateau() throws {
    let f = try Fixture(users: 24, items: 10, seed: 11)
    let matrix = try InteractionMatrix(snapshot: f.state.snapshot, spec: f.spec)
    let scorer = PolynomialFilterScorer(spectrum: try ItemSpectrum(matrix: matrix, dimensions: 4))
    // ChebyCF's shape: ~1 at λ = 1, ½ at λ = ½, ~0 at λ = 0, rising in between.
    #expect(abs(scorer.response(at: 1) - 1) < 0.02)
    #expect(abs(scorer.response(at: 0.5) - 0.5) < 0.02)
    #expect(abs(scorer.response(at: 0)) < 0.02)
    let samples = stride(from: Float(0), through: 1, by: 0.05).map { scorer.response(at: $0) }
    #expect(zip(samples, samples.dropFirst()).allSatisfy { $0 < $1 + 1e-3 })
    // Below the kept eigenvalues the tail slope stands in for p: close to it there.
    let last = try #require(scorer.filter.spectrum.eigenvalues.last)
    for lambda in stride(from: Float(0), through: last, by: last / 10) {
        #expect(abs(scorer.response(at: lambda) - scorer.tailSlope * lambda) < 0.05, "λ = \(lambda)")
    }
}

@Test func aUsersNewEdgesCountInTheFiltersBeforeTheNextModelBuild() throws {
    var f = try Fixture(users: 24, items: 10, seed: 11)
    let model = try RecommendationModel(snapshot: f.state.snapshot, spec: f.spec, builtAtMs: 1,
                                        polynomial: .init(order: 8, flatness: 1.5, dimensions: 10, idealWeight: 0.2, idealDimensions: 3, degreeExponent: 0.4))
    let u = 0
    let user = f.users[u]
    let newItem = try #require((0..<f.items.count).first { f.dense[u][$0] == 0 })
    let before = try Recommender.recommend(RecommendationQuery(user: user, k: 10, scorer: .polynomialFilter), spec: f.spec, model: model,
                                           snapshot: f.state.snapshot, ppr: PersonalizedPageRank(), walks: WalkViewCache())
    #expect(before.contains { $0.node == f.items[newItem] })
    // The user interacts with one more item; the model is not rebuilt.
    f.state.apply(try f.state.planAddEdges([EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "u\(u)"),
                                                      target: NodeRefInput(type: "item", key: "i\(newItem)"), weight: 2, timestampMs: 2)],
                                           requireExistingNodes: false, nowMs: 2))
    let after = try Recommender.recommend(RecommendationQuery(user: user, k: 10, scorer: .polynomialFilter), spec: f.spec, model: model,
                                          snapshot: f.state.snapshot, ppr: PersonalizedPageRank(), walks: WalkViewCache())
    #expect(!after.contains { $0.node == f.items[newItem] }, "the item the user just took is left out at once")
    // The scores are the old model's filter applied to the user's new row (the
    // reference uses the old interactions for P and the new row as input).
    var row = f.dense[u]
    row[newItem] = 2
    let expected = polynomialReference(f, dense: f.dense, row: row, parameters: model.polynomialFilter.parameters,
                                       projector: try leadingProjector(model.spectrum, count: 3, f, model.matrix))
    for item in after {
        let i = try #require(f.items.firstIndex(of: item.node))
        #expect(abs(item.score - expected[i]) < 2e-4 * max(1, abs(expected[i])), "item \(i)")
    }
}

@Test func reachedOnlyScoringGivesTheFullScoresOfTheItemsReachedAndZeroElsewhere() throws {
    // Sparse enough that some items share no user with a user's items.
    let f = try Fixture(users: 30, items: 40, seed: 5, sparsity: 12)
    let matrix = try InteractionMatrix(snapshot: f.state.snapshot, spec: f.spec)
    let spectrum = try ItemSpectrum(matrix: matrix, dimensions: 12)
    var parameters = PolynomialFilterScorer.Parameters.defaults
    parameters.reachedItemsOnly = false
    let full = PolynomialFilterScorer(spectrum: spectrum, parameters: parameters)
    parameters.reachedItemsOnly = true
    let reached = PolynomialFilterScorer(spectrum: spectrum, parameters: parameters)
    let linearOnly = GraphFilterScorer(spectrum: spectrum, parameters: .init(dimensions: 0, idealWeight: 0))
    var unreachedSeen = 0
    for user in f.users {
        let row = matrix.liveInteractions(of: user, in: f.state.snapshot)
        let (all, some, linear) = (full.scores(for: row), reached.scores(for: row), linearOnly.scores(for: row))
        for i in all.indices {
            if linear[i] != 0 {
                #expect(abs(some[i] - all[i]) <= 1e-5 * max(1, abs(all[i])))
            } else {
                #expect(some[i] == 0)
                unreachedSeen += 1
            }
        }
    }
    #expect(unreachedSeen > 0, "the fixture has unreached items")
}
