/// Normalization of provider names and organization ids.
///
/// A provider is a lowercase slug `[a-z0-9][a-z0-9_.-]*` (input is lowercased first), with these
/// aliases folded to one name so that dashboards and prices agree:
///
/// | sent | stored |
/// |---|---|
/// | `bedrock`, `aws_bedrock`, `aws-bedrock`, `amazon_bedrock`, `aws.bedrock` | `aws` |
/// | `gemini`, `vertex`, `vertex_ai`, `vertex-ai`, `google_vertex`, `gcp.gemini`, `gcp.vertex_ai`, `gcp.gen_ai` | `google` |
/// | `azure_openai`, `azure-openai`, `azure.ai.openai`, `azure.ai.inference`, `az.ai.openai`, `az.ai.inference` | `azure` |
///
/// (The dotted names are OpenTelemetry's `gen_ai.provider.name` / `gen_ai.system` values.)
///
/// ```swift
/// ProviderName.normalize("Bedrock")   // "aws"
/// ProviderName.normalize("my llm")    // nil (space is not allowed)
/// ```
public enum ProviderName {
    /// Alias → canonical provider name.
    public static let aliases: [String: String] = [
        "bedrock": "aws", "aws_bedrock": "aws", "aws-bedrock": "aws", "amazon_bedrock": "aws",
        "gemini": "google", "vertex": "google", "vertex_ai": "google", "vertex-ai": "google", "google_vertex": "google",
        "azure_openai": "azure", "azure-openai": "azure",
        // OpenTelemetry GenAI semantic conventions (gen_ai.provider.name and the older gen_ai.system).
        "aws.bedrock": "aws", "gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google",
        "azure.ai.openai": "azure", "azure.ai.inference": "azure", "az.ai.openai": "azure", "az.ai.inference": "azure",
    ]

    /// ``aliases`` as byte arrays, so the hot path compares bytes instead of hashing a `String`.
    private static let aliasBytes: [([UInt8], String)] = aliases.map { (Array($0.key.utf8), $0.value) }

    /// The normalized provider name, or `nil` when the text is not a valid provider slug.
    public static func normalize(_ text: some StringProtocol) -> String? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { normalize(bytes: UnsafeBufferPointer($0)) }
    }

    /// Whether raw UTF-8 bytes are a valid provider slug; when they are not already the canonical
    /// spelling (upper case, or an alias), appends the canonical one to the empty `canonical`.
    /// The usual provider (`openai`) is checked without building a `String`.
    package static func normalize(bytes: UnsafeBufferPointer<UInt8>, into canonical: inout [UInt8]) -> Bool {
        let n = bytes.count
        guard n > 0, n <= 64 else { return false }
        var lowered = false
        for i in 0..<n {
            let c = bytes[i]
            switch c {
            case 0x61...0x7A, 0x30...0x39: continue
            case 0x41...0x5A: lowered = true
            case 0x5F, 0x2E, 0x2D: if i == 0 { return false }
            default: return false
            }
        }
        if !lowered && !aliasBytes.contains(where: { alias in alias.0.count == n && alias.0.withUnsafeBufferPointer { bytesEqual($0, bytes) } }) {
            return true
        }
        guard let name = normalize(bytes: bytes) else { return false }
        canonical.append(contentsOf: name.utf8)
        return true
    }

    /// The normalized provider name of raw UTF-8 bytes, or `nil` when they are not a valid slug.
    package static func normalize(bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let n = bytes.count
        guard n > 0, n <= 64 else { return nil }
        var lowered: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &lowered) { raw -> String? in
            for i in 0..<n {
                var c = bytes[i]
                if c >= 0x41 && c <= 0x5A { c |= 0x20 }
                let ok: Bool
                switch c {
                case 0x61...0x7A, 0x30...0x39: ok = true
                case 0x5F, 0x2E, 0x2D: ok = i > 0
                default: ok = false
                }
                guard ok else { return nil }
                raw[i] = c
            }
            let slug = UnsafeRawBufferPointer(rebasing: raw[0..<n]).bindMemory(to: UInt8.self)
            for (alias, canonical) in aliasBytes where alias.count == n {
                var same = true
                for i in 0..<n where alias[i] != slug[i] {
                    same = false
                    break
                }
                if same { return canonical }
            }
            return String(decoding: slug, as: UTF8.self)
        }
    }
}

/// Rules for organization ids.
///
/// An org id is 1–64 bytes of `[A-Za-z0-9._:-]` starting with a letter or digit (for example
/// `org_fcj9ju8z`, a UUID, or a Token Trackr `tenant-1`). Org ids appear in file and directory
/// names and in URLs, so anything else is rejected with `INVALID_VALUE`.
public enum OrgID {
    public static let maxLength = 64

    /// Whether `text` is an acceptable org id.
    public static func isValid(_ text: some StringProtocol) -> Bool {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { isValid(bytes: UnsafeBufferPointer($0)) }
    }

    package static func isValid(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 1, bytes.count <= maxLength else { return false }
        for (i, c) in bytes.enumerated() {
            switch c {
            case 0x61...0x7A, 0x41...0x5A, 0x30...0x39: continue
            case 0x5F, 0x2E, 0x3A, 0x2D: if i == 0 { return false }
            default: return false
            }
        }
        return true
    }
}
