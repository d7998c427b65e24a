/// The version and commit of this binary: `tokentra --version`, the `Server` header,
/// `tokentra_build_info{version,commit}` and the `storage open` log line read them from here.
///
/// - ``version`` is the release version, kept in this one constant (bump it when releasing).
/// - ``commit`` is the git commit the binary was built from. SwiftPM cannot pass a string define
///   to the compiler, so `make release` (scripts/stamp-build.sh) writes the gitignored
///   `Sources/TokentraCore/Generated/BuildStamp.swift` with the output of `git rev-parse HEAD`
///   and compiles with `-DTOKENTRA_STAMPED`; any other build (a plain `swift build`, the tests)
///   reports `unknown`, never a guessed value.
public enum BuildInfo {
    public static let version = "0.1.0"

    #if TOKENTRA_STAMPED
    public static let commit = BuildStamp.commit
    #else
    public static let commit = "unknown"
    #endif

    /// `0.1.0 (commit 3960323a…)`, as `tokentra --version` prints it.
    public static var description: String { "\(version) (commit \(commit))" }
}
