import GraphCore

/// Exact personalized PageRank by power iteration over a `WalkView`: the
/// reference the forward push is checked against, independent of igraph.
public enum PowerIterationPageRank {
    /// Dense scores for every node id; iterates until the L1 change of an
    /// iteration is below `tolerance` (or `maxIterations`).
    public static func scores(view: WalkView, seeds: [PPRSeed], restart: Double = PPRParameters.defaultRestart,
                              tolerance: Double = 1e-12, maxIterations: Int = 10_000) throws(PPRError) -> (scores: [Double], iterations: Int) {
        try PPRParameters(restart: restart).validate()
        let seeds = try PersonalizedPageRank.normalize(seeds, nodeCount: view.nodeCount)
        let n = view.nodeCount
        var x = [Double](repeating: 0, count: n)
        for seed in seeds { x[seed.node] = seed.weight }
        var next = [Double](repeating: 0, count: n)
        var iterations = 0
        while iterations < maxIterations {
            iterations += 1
            for i in 0..<n { next[i] = 0 }
            var dangling = 0.0
            for v in 0..<n where x[v] != 0 {
                let total = Double(view.rowWeight(UInt32(v)))
                if total <= 0 {
                    dangling += x[v]
                    continue
                }
                let scale = (1 - restart) * x[v] / total
                view.forEachStep(from: UInt32(v)) { u, w in next[Int(u)] += scale * Double(w) }
            }
            let restartMass = restart + (1 - restart) * dangling
            for seed in seeds { next[Int(seed.node)] += restartMass * seed.weight }
            var change = 0.0
            for i in 0..<n { change += abs(next[i] - x[i]) }
            swap(&x, &next)
            if change < tolerance { break }
        }
        return (x, iterations)
    }
}

private extension Array where Element == Double {
    subscript(node: UInt32) -> Double {
        get { self[Int(node)] }
        set { self[Int(node)] = newValue }
    }
}
