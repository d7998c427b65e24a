/// Constants of the segment file format (schema/segment-format.md).
public enum SegmentFormat {
    /// `TTSEG`, two reserved zero bytes, then the format version.
    public static let magic: [UInt8] = Array("TTSEG".utf8) + [0, 0, 1]
    public static let version: UInt8 = 1
    public static let headerSize = 8
    /// u32 footer length, u32 footer CRC32C, 8-byte magic.
    public static let trailerSize = 16
    public static let zstdLevel: Int32 = 6

    /// How a column's bytes are laid out before zstd.
    public enum Encoding: UInt8, Sendable {
        /// Request ids. A mode byte: 0 = 16 raw bytes per row; 1 = every id is a v4 UUID: 14 bytes per
        /// row (all but bytes 6 and 8) then a little-endian bit stream of 10 bits per row (low nibble
        /// of byte 6 << 6 | low 6 bits of byte 8); the 6 fixed bits are restored on read.
        case raw16 = 1
        /// LEB128 unsigned varint per row.
        case uvarint = 2
        /// Zigzag varint of the difference from the previous row (first row: from 0).
        case deltaVarint = 3
        /// Zigzag varint of the difference from a prediction (see the column's doc).
        case residualVarint = 4
        /// Dictionary: uvarint entry count, entries (uvarint length + UTF-8), then one uvarint per row
        /// (0 = null, i + 1 = entry i).
        case dictionary = 5
        /// One uvarint per row (0 = null, length + 1) followed by the bytes.
        case nullableString = 6
        /// One byte per row.
        case byte = 7
        /// One tag byte per row (0 = null, 1 = 64 lowercase hex chars, 2 = other text), then the
        /// 32 raw bytes of every tag-1 row, then uvarint length + UTF-8 of every tag-2 row.
        case hash32 = 8
        /// The price hints block (see schema/segment-format.md).
        case priceHints = 9
        /// Provider given model: dictionary entries, then per model entry its usual provider entry,
        /// then per row uvarint 0 = the model's usual provider, else entry + 1.
        case providerByModel = 10
    }

    /// Column identifiers. Readers skip ids they do not know; ids are never reused.
    public enum Column: UInt16, CaseIterable, Sendable {
        case requestID = 1
        case requestIDText = 2
        case timestamp = 3
        case provider = 4
        case model = 5
        case inputTokens = 6
        case outputTokens = 7
        case cachedTokens = 8
        case totalTokens = 9
        case inputCost = 10
        case outputCost = 11
        case cachedCost = 12
        case totalCost = 13
        case costSource = 14
        case latencyMs = 15
        case timeToFirstTokenMs = 16
        case flags = 17
        case feature = 18
        case team = 19
        case project = 20
        case costCenter = 21
        case userID = 22
        case environment = 23
        case metadata = 24
        case cacheHitType = 25
        case originalModel = 26
        case routedByRule = 27
        case errorCode = 28
        case errorType = 29
        case errorMessage = 30
        case promptHash = 31
        case sdkVersion = 32
        case sdkLanguage = 33
        case hostname = 34
        case cloudProvider = 35
        case instanceID = 36
        case k8sPod = 37
        case k8sNamespace = 38
        case k8sNode = 39
        case priceHints = 40
        /// Latency + 1, 0 = not reported. Replaces ``latencyMs`` (written before latencies could
        /// be absent) in segments written since 2026-12.
        case latencyPlusOne = 41

        public var name: String {
            switch self {
            case .requestID: "request_id"
            case .requestIDText: "request_id_text"
            case .timestamp: "timestamp"
            case .provider: "provider"
            case .model: "model"
            case .inputTokens: "input_tokens"
            case .outputTokens: "output_tokens"
            case .cachedTokens: "cached_tokens"
            case .totalTokens: "total_tokens"
            case .inputCost: "input_cost"
            case .outputCost: "output_cost"
            case .cachedCost: "cached_cost"
            case .totalCost: "total_cost"
            case .costSource: "cost_source"
            case .latencyMs: "latency_ms"
            case .latencyPlusOne: "latency_ms_plus_one"
            case .timeToFirstTokenMs: "time_to_first_token_ms"
            case .flags: "flags"
            case .feature: "feature"
            case .team: "team"
            case .project: "project"
            case .costCenter: "cost_center"
            case .userID: "user_id"
            case .environment: "environment"
            case .metadata: "metadata"
            case .cacheHitType: "cache_hit_type"
            case .originalModel: "original_model"
            case .routedByRule: "routed_by_rule"
            case .errorCode: "error_code"
            case .errorType: "error_type"
            case .errorMessage: "error_message"
            case .promptHash: "prompt_hash"
            case .sdkVersion: "sdk_version"
            case .sdkLanguage: "sdk_language"
            case .hostname: "hostname"
            case .cloudProvider: "cloud_provider"
            case .instanceID: "instance_id"
            case .k8sPod: "k8s_pod"
            case .k8sNamespace: "k8s_namespace"
            case .k8sNode: "k8s_node"
            case .priceHints: "price_hints"
            }
        }
    }

    /// One entry of the footer's column directory.
    public struct ColumnEntry: Sendable, Equatable {
        public var id: UInt16
        public var encoding: UInt8
        public var offset: UInt64
        public var compressedLength: UInt32
        public var rawLength: UInt32
        public var checksum: UInt32
    }

    /// The footer: what a reader needs before touching any column.
    public struct Footer: Sendable, Equatable {
        public var rowCount: Int
        public var minTimestampMs: Int64
        public var maxTimestampMs: Int64
        public var orgID: String
        /// UTC day, `YYYY-MM-DD`.
        public var day: String
        public var columns: [ColumnEntry]
    }

    /// Per-1K-token rates used to predict costs; stored per (provider, model) in the segment.
    public struct Rates: Sendable, Equatable {
        public var inputPer1K: Int64
        public var outputPer1K: Int64
        public var cachedPer1K: Int64
        public init(inputPer1K: Int64, outputPer1K: Int64, cachedPer1K: Int64) {
            self.inputPer1K = inputPer1K
            self.outputPer1K = outputPer1K
            self.cachedPer1K = cachedPer1K
        }
        public static let zero = Rates(inputPer1K: 0, outputPer1K: 0, cachedPer1K: 0)
    }

    /// tokens × rate / 1000, rounded half to even, in 1e-10 USD units.
    @inline(__always)
    public static func predict(tokens: Int64, ratePer1K: Int64) -> Int64 {
        if ratePer1K == 0 || tokens == 0 { return 0 }
        let p = Int128(tokens) * Int128(ratePer1K)
        var q = p / 1000
        let r = p % 1000
        if r > 500 || (r == 500 && q % 2 != 0) { q += 1 }
        if r < -500 || (r == -500 && q % 2 != 0) { q -= 1 }
        if q > Int128(Int64.max) || q < Int128(Int64.min) { return 0 }
        return Int64(q)
    }
}
