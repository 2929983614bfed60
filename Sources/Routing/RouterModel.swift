import Foundation
import MessagePassing

/// A trained router: the GNN's tensors and what they were trained with.
/// Serialised as a small JSON header followed by the tensors as
/// little-endian Float32, so graphd keeps it in its store.
public struct RouterModel: Sendable, Equatable {
    public struct Header: Codable, Sendable, Equatable {
        public var format = 1
        public var dimension: Int
        /// The text embedder the node features came from; routed text must use the same.
        public var embedder: String
        public var training: RouterTrainingConfig
        public var shapes: [[Int]]
        public var epochs: Int
        public var bestEpoch: Int
        public var validationLoss: Float
        public var priorOnlyValidationLoss: Float
        public var trainedAtMs: Int64
    }

    public var header: Header
    public var parameters: RouterParameters

    public init(result: RouterTrainingResult, embedder: String, training: RouterTrainingConfig, trainedAtMs: Int64) {
        parameters = result.parameters
        header = Header(dimension: result.parameters.dimension, embedder: embedder, training: training,
                        shapes: result.parameters.tensors.map { [$0.rowCount, $0.columnCount] },
                        epochs: result.epochs, bestEpoch: result.bestEpoch, validationLoss: result.validationLoss,
                        priorOnlyValidationLoss: result.priorOnlyValidationLoss, trainedAtMs: trainedAtMs)
    }

    static let magic: [UInt8] = Array("GRTR".utf8)

    public func serialized() throws -> [UInt8] {
        try TensorArchive.encode(magic: Self.magic, header: header, tensors: parameters.tensors)
    }

    public init(serialized bytes: [UInt8]) throws(RoutingError) {
        do {
            let (header, tensors) = try TensorArchive.decode(bytes, magic: Self.magic) { (header: Header) in
                guard header.format == 1, header.shapes.count == RouterParameters.names.count,
                      header.shapes.allSatisfy({ $0.count == 2 && $0[0] <= 1 << 16 && $0[1] <= 1 << 16 }) else { return nil }
                return header.shapes.map { ($0[0], $0[1]) }
            }
            self.header = header
            parameters = RouterParameters(tensors: tensors)
        } catch {
            throw RoutingError(.internalError, "stored router model is unreadable: \(error.description)")
        }
    }
}
