/// The value slot an accepted top-level key fills. Aliases share a slot.
enum EventField: UInt8, CaseIterable {
    case requestID, timestamp, org, provider, model
    case inputTokens, outputTokens, cachedTokens, totalTokens
    case inputCost, outputCost, cachedCost, totalCost
    case latencyMs, timeToFirstTokenMs
    case feature, team, project, costCenter, userID, environment, metadata
    case wasCached, cacheHitType, originalModel, routedByRule
    case isError, errorCode, errorType, errorMessage
    case promptHash, sdkVersion, sdkLanguage
    case hostname, cloudProvider, instanceID, k8sPod, k8sNamespace, k8sNode
    /// `cost_source` as written by `tokentra export`; honoured only on operator import.
    case costSource
    /// A nested host-metadata object (`host`, `host_metadata`, `hostMetadata`).
    case host
    /// `events`: only meaningful on a batch object; rejected with a clear message on an event.
    case events
}

/// One accepted top-level key: its spelling, slot, and whether it marks a Token Trackr event.
struct EventKey {
    var name: String
    var field: EventField
    var tokenTrackr: Bool = false
}

/// The accepted top-level keys, canonical names first (a key's index is its duplicate-detection bit).
let eventKeys: [EventKey] = [
    EventKey(name: "request_id", field: .requestID),
    EventKey(name: "timestamp", field: .timestamp),
    EventKey(name: "org_id", field: .org),
    EventKey(name: "provider", field: .provider),
    EventKey(name: "model", field: .model),
    EventKey(name: "input_tokens", field: .inputTokens),
    EventKey(name: "output_tokens", field: .outputTokens),
    EventKey(name: "cached_tokens", field: .cachedTokens),
    EventKey(name: "total_tokens", field: .totalTokens),
    EventKey(name: "input_cost", field: .inputCost),
    EventKey(name: "output_cost", field: .outputCost),
    EventKey(name: "cached_cost", field: .cachedCost),
    EventKey(name: "total_cost", field: .totalCost),
    EventKey(name: "latency_ms", field: .latencyMs),
    EventKey(name: "time_to_first_token_ms", field: .timeToFirstTokenMs),
    EventKey(name: "feature", field: .feature),
    EventKey(name: "team", field: .team),
    EventKey(name: "project", field: .project),
    EventKey(name: "cost_center", field: .costCenter),
    EventKey(name: "user_id", field: .userID),
    EventKey(name: "environment", field: .environment),
    EventKey(name: "metadata", field: .metadata),
    EventKey(name: "was_cached", field: .wasCached),
    EventKey(name: "cache_hit_type", field: .cacheHitType),
    EventKey(name: "original_model", field: .originalModel),
    EventKey(name: "routed_by_rule", field: .routedByRule),
    EventKey(name: "is_error", field: .isError),
    EventKey(name: "error_code", field: .errorCode),
    EventKey(name: "error_type", field: .errorType),
    EventKey(name: "error_message", field: .errorMessage),
    EventKey(name: "prompt_hash", field: .promptHash),
    EventKey(name: "sdk_version", field: .sdkVersion),
    EventKey(name: "sdk_language", field: .sdkLanguage),
    EventKey(name: "cost_source", field: .costSource),
    // Token Trackr (seed 003) spellings.
    EventKey(name: "tenant_id", field: .org, tokenTrackr: true),
    EventKey(name: "prompt_tokens", field: .inputTokens, tokenTrackr: true),
    EventKey(name: "completion_tokens", field: .outputTokens, tokenTrackr: true),
    EventKey(name: "hostname", field: .hostname),
    EventKey(name: "host_name", field: .hostname),
    EventKey(name: "cloud_provider", field: .cloudProvider),
    EventKey(name: "cloudProvider", field: .cloudProvider),
    EventKey(name: "instance_id", field: .instanceID),
    EventKey(name: "instanceId", field: .instanceID),
    EventKey(name: "k8s_pod", field: .k8sPod),
    EventKey(name: "k8s_pod_name", field: .k8sPod),
    EventKey(name: "kubernetes_pod", field: .k8sPod),
    EventKey(name: "kubernetes_pod_name", field: .k8sPod),
    EventKey(name: "pod_name", field: .k8sPod),
    EventKey(name: "k8s_namespace", field: .k8sNamespace),
    EventKey(name: "kubernetes_namespace", field: .k8sNamespace),
    EventKey(name: "pod_namespace", field: .k8sNamespace),
    EventKey(name: "k8s_node", field: .k8sNode),
    EventKey(name: "k8s_node_name", field: .k8sNode),
    EventKey(name: "kubernetes_node", field: .k8sNode),
    EventKey(name: "kubernetes_node_name", field: .k8sNode),
    EventKey(name: "node_name", field: .k8sNode),
    EventKey(name: "host", field: .host),
    EventKey(name: "host_metadata", field: .host),
    EventKey(name: "hostMetadata", field: .host),
    EventKey(name: "events", field: .events),
]

/// Keys accepted inside a nested `host` object, mapped to host slots. `k8s`/`kubernetes` is a
/// further nested object with `pod`/`pod_name`, `namespace`, `node`/`node_name`.
let hostObjectKeys: [String: EventField] = {
    var keys: [String: EventField] = [
        "name": .hostname, "cloud": .cloudProvider, "pod": .k8sPod, "namespace": .k8sNamespace, "node": .k8sNode,
    ]
    for key in eventKeys {
        switch key.field {
        case .hostname, .cloudProvider, .instanceID, .k8sPod, .k8sNamespace, .k8sNode: keys[key.name] = key.field
        default: break
        }
    }
    return keys
}()

/// Keys accepted inside a nested `k8s`/`kubernetes` object.
let kubernetesObjectKeys: [String: EventField] = [
    "pod": .k8sPod, "pod_name": .k8sPod, "name": .k8sPod,
    "namespace": .k8sNamespace, "pod_namespace": .k8sNamespace,
    "node": .k8sNode, "node_name": .k8sNode,
]

/// An open-addressing table from key bytes to an index into ``eventKeys``.
///
/// The hash mixes the key's 8-byte little-endian words, so a lookup costs a few multiplications
/// and one word-wise comparison; there is no allocation and no `String` is created.
///
/// `@unchecked Sendable`: all storage is written once in `init` and only read afterwards.
final class EventKeyTable: @unchecked Sendable {
    private static let slotBits = 9
    private static let slotCount = 1 << slotBits
    private static let maxWords = 5
    /// Per slot: key index + 1, or 0 when empty.
    private let slots: UnsafeMutablePointer<UInt8>
    /// Per key index: its bytes padded with zeros to 40 bytes, as 5 little-endian words.
    private let words: UnsafeMutablePointer<UInt64>
    private let lengths: UnsafeMutablePointer<Int>
    /// Per key index: its bytes followed by `"`, zero-padded to 48 bytes (6 words), how many
    /// words that takes, and the mask of the last word's used bytes.
    private let quoted: UnsafeMutablePointer<UInt64>
    private let quotedWords: UnsafeMutablePointer<Int>
    private let quotedMask: UnsafeMutablePointer<UInt64>
    /// Per key index: slot, and whether it marks a Token Trackr event.
    let fields: UnsafeMutablePointer<EventField>
    let tokenTrackr: UnsafeMutablePointer<Bool>
    /// Per key index: the spelling (for messages).
    let names: [String]
    let keyCount: Int

    static let shared = EventKeyTable(eventKeys)

    init(_ keys: [EventKey]) {
        precondition(keys.count < 128)
        names = keys.map(\.name)
        keyCount = keys.count
        slots = .allocate(capacity: Self.slotCount)
        slots.initialize(repeating: 0, count: Self.slotCount)
        words = .allocate(capacity: keys.count * Self.maxWords)
        words.initialize(repeating: 0, count: keys.count * Self.maxWords)
        lengths = .allocate(capacity: keys.count)
        quoted = .allocate(capacity: keys.count * 6)
        quoted.initialize(repeating: 0, count: keys.count * 6)
        quotedWords = .allocate(capacity: keys.count)
        quotedMask = .allocate(capacity: keys.count)
        fields = .allocate(capacity: keys.count)
        tokenTrackr = .allocate(capacity: keys.count)
        for (index, key) in keys.enumerated() {
            let bytes = Array(key.name.utf8)
            precondition(bytes.count <= 8 * Self.maxWords)
            var h = UInt64(bytes.count)
            var i = 0
            while i < bytes.count {
                var v: UInt64 = 0
                for j in 0..<8 where i + j < bytes.count { v |= UInt64(bytes[i + j]) << UInt64(8 * j) }
                words[index * Self.maxWords + i / 8] = v
                h = Self.mix(h, v)
                i += 8
            }
            (lengths + index).initialize(to: bytes.count)
            for (j, b) in (bytes + [0x22]).enumerated() { quoted[index * 6 + j / 8] |= UInt64(b) << UInt64(8 * (j % 8)) }
            let total = bytes.count + 1
            (quotedWords + index).initialize(to: (total + 7) / 8)
            (quotedMask + index).initialize(to: total % 8 == 0 ? ~0 : (1 << UInt64(8 * (total % 8))) - 1)
            (fields + index).initialize(to: key.field)
            (tokenTrackr + index).initialize(to: key.tokenTrackr)
            var slot = Int(truncatingIfNeeded: h >> UInt64(64 - Self.slotBits))
            while slots[slot] != 0 { slot = (slot + 1) & (Self.slotCount - 1) }
            slots[slot] = UInt8(index + 1)
        }
    }

    deinit {
        slots.deallocate()
        words.deallocate()
        lengths.deallocate()
        quoted.deallocate()
        quotedWords.deallocate()
        quotedMask.deallocate()
        fields.deallocate()
        tokenTrackr.deallocate()
    }

    @inline(__always)
    private static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 { (h ^ w) &* 0x9E37_79B9_7F4A_7C15 }

    /// Matches the raw bytes after an opening quote against keys `hint`, `hint + 1`, `hint + 2`.
    ///
    /// SDKs send fields in a fixed order close to the canonical one, so the key after the
    /// previous one usually matches. A match compares the key's bytes *and* the closing quote, so
    /// the string is exactly that key (keys contain no quote, backslash or control byte) and the
    /// caller can skip scanning it. Returns the key index, or nil (scan and ``lookup(_:count:readable:)``).
    @inline(__always)
    func matchHint(_ p: UnsafePointer<UInt8>, readable: Int, hint: Int) -> Int? {
        var k = hint
        let last = min(hint &+ 2, keyCount &- 1)
        while k <= last {
            let nWords = quotedWords[k]
            if readable >= nWords << 3 {
                let want = quoted + k &* 6
                let mask = quotedMask[k]
                var i = 0
                var matched = true
                while i < nWords {
                    var w = UnsafeRawPointer(p + (i << 3)).loadUnaligned(as: UInt64.self)
                    if i == nWords &- 1 { w &= mask }
                    if w != want[i] {
                        matched = false
                        break
                    }
                    i &+= 1
                }
                if matched { return k }
            }
            k &+= 1
        }
        return nil
    }

    /// The byte length of key `index`.
    @inline(__always)
    func length(_ index: Int) -> Int { lengths[index] }

    /// Looks up the key whose bytes are `p[0..<count]`; `readable` is how many bytes from `p` may
    /// be read (≥ count), which lets the last word be loaded whole and masked.
    @inline(never)
    func lookup(_ p: UnsafePointer<UInt8>, count: Int, readable: Int) -> Int? {
        if count == 0 || count > 8 * Self.maxWords { return nil }
        var h = UInt64(count)
        var local: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        let nWords = (count + 7) >> 3
        return withUnsafeMutableBytes(of: &local) { raw -> Int? in
            let have = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            var i = 0
            while i < nWords {
                let offset = i << 3
                let remaining = count - offset
                var w: UInt64
                if remaining >= 8 {
                    w = UnsafeRawPointer(p + offset).loadUnaligned(as: UInt64.self)
                } else if readable - offset >= 8 {
                    w = UnsafeRawPointer(p + offset).loadUnaligned(as: UInt64.self)
                    w &= (1 << UInt64(remaining &* 8)) &- 1
                } else {
                    w = 0
                    for j in 0..<remaining { w |= UInt64(p[offset + j]) << UInt64(8 * j) }
                }
                have[i] = w
                h = Self.mix(h, w)
                i += 1
            }
            var slot = Int(truncatingIfNeeded: h >> UInt64(64 - Self.slotBits))
            while true {
                let entry = slots[slot]
                if entry == 0 { return nil }
                let index = Int(entry) &- 1
                if lengths[index] == count {
                    let want = words + index &* Self.maxWords
                    var matched = true
                    var k = 0
                    while k < nWords {
                        if have[k] != want[k] {
                            matched = false
                            break
                        }
                        k += 1
                    }
                    if matched { return index }
                }
                slot = (slot &+ 1) & (Self.slotCount &- 1)
            }
        }
    }
}
