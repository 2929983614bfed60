import CNats

/// A failure of the NATS C client or of a JetStream request: the client's
/// status, JetStream's error code when the server sent one, and the text.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    /// `natsStatus` as a number (NATS_OK is 0).
    public var status: Int32
    /// JetStream's API error code (`jsErrCode`), 0 when none.
    public var jetStreamCode: Int
    public var description: String

    init(_ status: natsStatus, code: jsErrCode = jsErrCode(rawValue: 0), _ what: String) {
        self.status = Int32(bitPattern: status.rawValue)
        jetStreamCode = Int(code.rawValue)
        var text = "\(what): \(String(cString: natsStatus_GetText(status)))"
        if code.rawValue != 0 { text += " (JetStream error \(code.rawValue))" }
        var lastStatus = NATS_OK
        if let detail = nats_GetLastError(&lastStatus), lastStatus == status {
            let detailText = String(cString: detail)
            if !detailText.isEmpty, !text.contains(detailText) { text += ": \(detailText)" }
        }
        description = text
    }

    /// A publish that named an expected last sequence the stream is past:
    /// another writer appended first (this one is deposed).
    public var isWrongLastSequence: Bool { jetStreamCode == Int(JSStreamWrongLastSequenceErr.rawValue) }

    /// The stream or the key does not exist.
    public var isNotFound: Bool {
        jetStreamCode == Int(JSStreamNotFoundErr.rawValue) || status == Int32(bitPattern: NATS_NOT_FOUND.rawValue)
    }

    /// Worth retrying after a moment: a timeout, no responders, JetStream
    /// "not enabled" while its cluster elects a leader, or "no suitable peers"
    /// while a starting cluster's servers find each other.
    public var isTransient: Bool {
        status == Int32(bitPattern: NATS_TIMEOUT.rawValue) || status == Int32(bitPattern: NATS_NO_RESPONDERS.rawValue)
            || jetStreamCode == Int(JSNotEnabledErr.rawValue) || jetStreamCode == Int(JSClusterNoPeersErr.rawValue)
    }
}

/// Runs a libnats call and throws its status when it is not NATS_OK.
@inline(__always)
func check(_ status: natsStatus, code: jsErrCode = jsErrCode(rawValue: 0), _ what: @autoclosure () -> String) throws(NATSError) {
    guard status == NATS_OK else { throw NATSError(status, code: code, what()) }
}

extension Duration {
    /// cnats mixes units: publish, fetch and request waits are milliseconds,
    /// consumer and stream settings (heartbeat, duplicate window, TTL) nanoseconds.
    var nanoseconds: Int64 { Int64(components.seconds) * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    /// At least 1: cnats reads 0 as "the default".
    var waitMilliseconds: Int64 { max(1, nanoseconds / 1_000_000) }
}
