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
