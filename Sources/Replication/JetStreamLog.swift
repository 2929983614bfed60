import CNats
#if canImport(Glibc)
import Glibc
#endif

/// One entry of the log: its stream sequence and the bytes the writer appended.
public struct LogEntry: Sendable, Equatable {
    public var sequence: UInt64
    public var payload: [UInt8]
}

/// graphd's replicated log: one JetStream stream on one subject. The primary
/// appends; every graphd reads it in order from the sequence after the last
/// one it applied.
public final class JetStreamLog: Sendable {
    public let client: NATSClient
    public let stream: String
    public let subject: String

    /// Opens the stream, creating it (file storage, `replicas` copies) when missing.
    /// - Parameter duplicateWindow: how long JetStream remembers message ids to drop a repeated append.
    public init(client: NATSClient, stream: String, replicas: Int = 1, duplicateWindow: Duration = .seconds(120)) throws(NATSError) {
        self.client = client
        self.stream = stream
        subject = "graphd.log.\(stream)"
        guard !stream.isEmpty, stream.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "*")
                                                           && $0 != UInt8(ascii: ">") }) else {
            throw NATSError(NATS_INVALID_ARG, "stream name '\(stream)' must be printable ASCII without spaces, '.', '*' or '>'")
        }
        var code = jsErrCode(rawValue: 0)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        let status = js_GetStreamInfo(&info, client.jetStream, stream, nil, &code)
        if status == NATS_OK {
            defer { jsStreamInfo_Destroy(info) }
            let subjects = info.map { info in
                (0..<Int(info.pointee.Config.pointee.SubjectsLen)).compactMap { info.pointee.Config.pointee.Subjects[$0].map { String(cString: $0) } }
            } ?? []
            guard subjects.contains(subject) else {
                throw NATSError(NATS_ERR, "stream \(stream) exists with subjects \(subjects), not \(subject): another application's stream?")
            }
            return
        }
        guard code == JSStreamNotFoundErr || status == NATS_NOT_FOUND else {
            throw NATSError(status, code: code, "cannot read stream \(stream)")
        }
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        var created: UnsafeMutablePointer<jsStreamInfo>?
        code = jsErrCode(rawValue: 0)
        let addStatus = stream.withCString { name in
            NATSClient.withCStrings([subject]) { subjects, count in
                config.Name = name
                config.Subjects = subjects
                config.SubjectsLen = Int32(count)
                config.Storage = js_FileStorage
                config.Replicas = Int64(replicas)
                config.Duplicates = duplicateWindow.nanoseconds
                return js_AddStream(&created, client.jetStream, &config, nil, &code)
            }
        }
        try check(addStatus, code: code, "cannot create stream \(stream)")
        jsStreamInfo_Destroy(created)
    }

    /// The sequence of the last entry in the stream (0 when empty).
    public func lastSequence() throws(NATSError) -> UInt64 {
        var code = jsErrCode(rawValue: 0)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        try check(js_GetStreamInfo(&info, client.jetStream, stream, nil, &code), code: code, "cannot read stream \(stream)")
        defer { jsStreamInfo_Destroy(info) }
        return info?.pointee.State.LastSeq ?? 0
    }

    /// Appends `payload` and returns its sequence once the stream acknowledged it.
    /// - Parameters:
    ///   - expectedLastSequence: refused (`isWrongLastSequence`) unless the stream's
    ///     last entry has this sequence: a writer that lost its lease cannot append
    ///     after another one started. (0 sets no expectation: JetStream reads it as none.)
    ///   - messageID: repeated appends with the same id within the duplicate window
    ///     are stored once (`duplicate` is true on the repeats). With an id, an
    ///     append whose answer was lost is retried safely.
    ///   - maxWait: how long one attempt waits for the stream's acknowledgement.
    ///   - retryFor: how long transient failures are retried: a stream leader
    ///     election answers NO_RESPONDERS or "JetStream not enabled" for a few
    ///     seconds. A timed-out attempt is retried only with a `messageID` (it may
    ///     have been stored).
    public func append(_ payload: [UInt8], expectedLastSequence: UInt64? = nil, messageID: String? = nil,
                       maxWait: Duration = .seconds(2), retryFor: Duration = .seconds(15)) throws(NATSError) -> (sequence: UInt64, duplicate: Bool) {
        let deadline = ContinuousClock.now + retryFor
        while true {
            do {
                return try appendOnce(payload, expectedLastSequence: expectedLastSequence, messageID: messageID, maxWait: maxWait)
            } catch {
                let ambiguous = error.status == Int32(bitPattern: NATS_TIMEOUT.rawValue) && messageID == nil
                guard error.isTransient, !ambiguous, ContinuousClock.now < deadline else { throw error }
                usleep(100_000)
            }
        }
    }

    private func appendOnce(_ payload: [UInt8], expectedLastSequence: UInt64?, messageID: String?,
                            maxWait: Duration) throws(NATSError) -> (sequence: UInt64, duplicate: Bool) {
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = maxWait.waitMilliseconds
        if let expectedLastSequence { options.ExpectLastSeq = expectedLastSequence }
        let idCopy = messageID.map { strdup($0) }
        defer { idCopy.map { free($0) } }
        if let idCopy { options.MsgId = UnsafePointer(idCopy) }
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(rawValue: 0)
        let status = payload.withUnsafeBytes { bytes in
            js_Publish(&ack, client.jetStream, subject, bytes.baseAddress, Int32(bytes.count), &options, &code)
        }
        try check(status, code: code, "append to stream \(stream)")
        defer { jsPubAck_Destroy(ack) }
        guard let ack else { throw NATSError(NATS_ERR, "append to stream \(stream): no acknowledgement") }
        return (ack.pointee.Sequence, ack.pointee.Duplicate)
    }

    /// The name of the server that leads the stream now (nil outside a cluster).
    public func leader() throws(NATSError) -> String? {
        var code = jsErrCode(rawValue: 0)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        try check(js_GetStreamInfo(&info, client.jetStream, stream, nil, &code), code: code, "cannot read stream \(stream)")
        defer { jsStreamInfo_Destroy(info) }
        return info?.pointee.Cluster?.pointee.Leader.map { String(cString: $0) }
    }

    /// Reads the log in order from `sequence` (1: from the start).
    public func read(from sequence: UInt64, heartbeat: Duration = .seconds(1)) throws(NATSError) -> LogReader {
        try LogReader(log: self, from: max(1, sequence), heartbeat: heartbeat)
    }

}

/// An ordered JetStream consumer of the log: entries in sequence order, none
/// skipped; the client recreates the consumer by itself after a gap or a
/// server failure (an ordered consumer keeps no state on the server).
public final class LogReader: @unchecked Sendable {
    private let subscription: OpaquePointer
    public let log: JetStreamLog

    init(log: JetStreamLog, from sequence: UInt64, heartbeat: Duration) throws(NATSError) {
        self.log = log
        var options = jsSubOptions()
        jsSubOptions_Init(&options)
        options.Ordered = true
        options.Config.DeliverPolicy = js_DeliverByStartSequence
        options.Config.OptStartSeq = sequence
        // The default heartbeat lets a failover stall the reader for ~15 s.
        options.Config.Heartbeat = heartbeat.nanoseconds
        var subscription: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        try check(js_SubscribeSync(&subscription, log.client.jetStream, log.subject, nil, &options, &code), code: code,
                  "cannot read stream \(log.stream) from sequence \(sequence)")
        guard let subscription else { throw NATSError(NATS_ERR, "cannot read stream \(log.stream)") }
        self.subscription = subscription
    }

    deinit {
        natsSubscription_Unsubscribe(subscription)
        natsSubscription_Destroy(subscription)
    }

    /// The next entry, or nil when none came within `timeout`.
    public func next(timeout: Duration) throws(NATSError) -> LogEntry? {
        var message: OpaquePointer?
        let status = natsSubscription_NextMsg(&message, subscription, timeout.waitMilliseconds)
        if status == NATS_TIMEOUT { return nil }
        try check(status, "reading stream \(log.stream)")
        guard let message else { return nil }
        defer { natsMsg_Destroy(message) }
        var metadata: UnsafeMutablePointer<jsMsgMetaData>?
        try check(natsMsg_GetMetaData(&metadata, message), "an entry of stream \(log.stream) without metadata")
        defer { jsMsgMetaData_Destroy(metadata) }
        let sequence = metadata?.pointee.Sequence.Stream ?? 0
        let length = Int(natsMsg_GetDataLength(message))
        let payload: [UInt8] = length == 0 ? [] : natsMsg_GetData(message).map { data in
            Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: length))
        } ?? []
        return LogEntry(sequence: sequence, payload: payload)
    }
}
