// huggingface/transformers==5.23.0:src/transformers/models/clip/tokenization_clip.py (CLIPTokenizer
// as built from the openai BPE merges; cross-checked with open_clip's simple_tokenizer.py).
import Foundation
import LatticeIO
import LatticeTensor

/// Byte-level BPE tokenizer of CLIP: NFC, whitespace collapsing and lowercasing, CLIP's
/// pre-tokenisation pattern, then BPE with a `</w>` end-of-word marker.
public final class CLIPTokenizer: Sendable {
    /// Token id of `<|startoftext|>`.
    public let bosTokenId: Int
    /// Token id of `<|endoftext|>` (also the padding id, as in the hub tokenizer).
    public let eosTokenId: Int
    /// Padding id (`<|endoftext|>`, not 0 as in open_clip).
    public let padTokenId: Int
    /// Context length: sequences are truncated and padded to this many ids.
    public let maxLength: Int
    /// Token string -> id.
    public let encoder: [String: Int]
    /// Merge pair (joined with a space) -> rank (lower merges first).
    let mergeRanks: [String: Int]
    /// Byte -> printable stand-in character (GPT-2 `bytes_to_unicode`).
    let byteEncoder: [Character]

    /// Number of merges CLIP keeps from the vocabulary file (49152 - 256 - 2).
    static let mergeCount = 49152 - 256 - 2

    /// Loads the gzipped (or plain) merges file `bpe_simple_vocab_16e6.txt[.gz]`.
    public convenience init(bpeVocabularyURL url: URL, maxLength: Int = 77) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw LatticeError(
                .io,
                "CLIP BPE vocabulary not found at \(url.path) (expected open_clip's "
                    + "bpe_simple_vocab_16e6.txt.gz)")
        }
        let raw: [UInt8]
        do {
            raw = [UInt8](try Data(contentsOf: url))
        } catch {
            throw LatticeError(.io, "cannot read CLIP BPE vocabulary \(url.path): \(error)")
        }
        let bytes =
            raw.starts(with: [0x1f, 0x8b]) ? try Gzip.decompress(raw, source: url.path) : raw
        // Split on bytes: splitting a 3 MB String by Character (grapheme clusters) is slow.
        var merges: [String] = []
        merges.reserveCapacity(Self.mergeCount)
        var lineStart = 0
        var lineIndex = 0
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
            if lineIndex > 0 && lineIndex <= Self.mergeCount {
                merges.append(String(decoding: bytes[lineStart..<i], as: UTF8.self))
            }
            lineIndex += 1
            lineStart = i + 1
            if lineIndex > Self.mergeCount { break }
        }
        guard merges.count == Self.mergeCount else {
            throw LatticeError(
                .invalidFile,
                "\(url.path): \(merges.count) merge lines, expected a header and at least "
                    + "\(Self.mergeCount) merges")
        }
        try self.init(merges: merges, maxLength: maxLength, source: url.path)
    }

    /// Builds the vocabulary from merge lines (`"a b"`), in rank order.
    public init(merges: [String], maxLength: Int = 77, source: String = "merges") throws {
        let byteEncoder = Self.bytesToUnicode()
        var vocab: [String] = Self.byteOrder.map { String(byteEncoder[Int($0)]) }
        vocab += vocab.map { $0 + "</w>" }
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, line) in merges.enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw LatticeError(
                    .invalidFile, "\(source): merge \(rank + 1) '\(line)' is not 'a b'")
            }
            ranks[line] = rank
            vocab.append(String(parts[0] + parts[1]))
        }
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        var encoder: [String: Int] = [:]
        encoder.reserveCapacity(vocab.count)
        for (id, token) in vocab.enumerated() where encoder[token] == nil { encoder[token] = id }
        self.encoder = encoder
        self.mergeRanks = ranks
        self.byteEncoder = byteEncoder
        self.bosTokenId = vocab.count - 2
        self.eosTokenId = vocab.count - 1
        self.padTokenId = vocab.count - 1
        self.maxLength = maxLength
    }

    /// The bytes that map to themselves in `bytes_to_unicode`, in vocabulary order, followed
    /// by the remaining bytes (which map to U+0100 and up).
    static let byteOrder: [UInt8] = {
        let printable =
            Array(UInt8(ascii: "!")...UInt8(ascii: "~")) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let set = Set(printable)
        return printable + (0...255).map { UInt8($0) }.filter { !set.contains($0) }
    }()

    /// GPT-2's reversible byte -> character table (no whitespace or control characters).
    static func bytesToUnicode() -> [Character] {
        var table = [Character](repeating: " ", count: 256)
        var extra: UInt32 = 0
        let printable = Set(byteOrder.prefix(188))
        for b in byteOrder {
            let scalar: UInt32
            if printable.contains(b) {
                scalar = UInt32(b)
            } else {
                scalar = 256 + extra
                extra += 1
            }
            // Scalars 0x21...0x143 are all valid, so the fallback never fires.
            table[Int(b)] = Character(Unicode.Scalar(scalar) ?? " ")
        }
        return table
    }

    // MARK: Normalisation and pre-tokenisation

    /// NFC, every whitespace run -> one space, lowercase (the hub tokenizer's normalizer).
    static func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var inSpace = false
        for s in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            if s.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
            } else {
                out.append(s)
                inSpace = false
            }
        }
        return String(out).lowercased()
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static let specialTokens = ["<|startoftext|>", "<|endoftext|>"]
    static let contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]

    /// Splits normalised text as CLIP's pattern
    /// `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`,
    /// keeping the matches (alternatives tried in order at each position, as the regex does)
    /// and dropping everything between them (whitespace).
    static func preTokenize(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var words: [String] = []
        var i = 0
        func starts(with p: String, at i: Int) -> Bool {
            let ps = Array(p.unicodeScalars)
            return i + ps.count <= s.count && Array(s[i..<(i + ps.count)]) == ps
        }
        func take(_ j: Int) {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[i..<j])
            words.append(String(v))
            i = j
        }
        outer: while i < s.count {
            for literal in specialTokens + contractions where starts(with: literal, at: i) {
                take(i + literal.unicodeScalars.count)
                continue outer
            }
            var j = i
            if isLetter(s[i]) {
                while j < s.count && isLetter(s[j]) { j += 1 }
                take(j)
            } else if isNumber(s[i]) {
                take(i + 1)
            } else if !s[i].properties.isWhitespace {
                while j < s.count && !s[j].properties.isWhitespace && !isLetter(s[j])
                    && !isNumber(s[j])
                {
                    j += 1
                }
                take(j)
            } else {
                i += 1
            }
        }
        return words
    }

    // MARK: BPE

    /// BPE of one pre-tokenised word (already byte-mapped): repeatedly merges the adjacent pair
    /// of lowest rank, all its occurrences left to right, until no pair has a rank.
    func bpe(_ word: [Character]) -> [String] {
        guard !word.isEmpty else { return [] }
        var parts = word.map { String($0) }
        parts[parts.count - 1] += "</w>"
        while parts.count > 1 {
            var best: (rank: Int, index: Int)? = nil
            for k in 0..<(parts.count - 1) {
                if let r = mergeRanks[parts[k] + " " + parts[k + 1]], r < (best?.rank ?? Int.max) {
                    best = (r, k)
                }
            }
            guard let best else { break }
            let first = parts[best.index]
            let second = parts[best.index + 1]
            var merged: [String] = []
            var k = 0
            while k < parts.count {
                if k + 1 < parts.count && parts[k] == first && parts[k + 1] == second {
                    merged.append(first + second)
                    k += 2
                } else {
                    merged.append(parts[k])
                    k += 1
                }
            }
            parts = merged
        }
        return parts
    }

    /// Token ids of `text` without BOS/EOS and without truncation.
    public func tokenize(_ text: String) -> [Int] {
        var ids: [Int] = []
        for word in Self.preTokenize(Self.normalize(text)) {
            if word == Self.specialTokens[0] {
                ids.append(bosTokenId)
                continue
            }
            if word == Self.specialTokens[1] {
                ids.append(eosTokenId)
                continue
            }
            let mapped = Array(word.utf8).map { byteEncoder[Int($0)] }
            // Every BPE piece is in the vocabulary by construction (bytes, bytes</w>, merges).
            ids += bpe(mapped).compactMap { encoder[$0] }
        }
        return ids
    }

    /// `[BOS] + tokens + [EOS]`, untruncated (`tokenizer(prompt)["input_ids"]`).
    public func encode(_ text: String) -> [Int] {
        [bosTokenId] + tokenize(text) + [eosTokenId]
    }

    /// Batch encoding as `tokenizer(prompts, max_length:, padding="max_length",
    /// truncation=True)`: BOS + at most `maxLength - 2` tokens + EOS, padded with
    /// `<|endoftext|>`. Returns `input_ids` and `attention_mask`, both [n, maxLength] int32.
    public func callAsFunction(_ prompts: [String]) -> (inputIds: Tensor, attentionMask: Tensor) {
        var ids: [Int32] = []
        var mask: [Int32] = []
        for prompt in prompts {
            let tokens = tokenize(prompt).prefix(maxLength - 2)
            let row = [bosTokenId] + tokens + [eosTokenId]
            ids +=
                row.map { Int32($0) }
                + [Int32](repeating: Int32(padTokenId), count: maxLength - row.count)
            mask +=
                [Int32](repeating: 1, count: row.count)
                + [Int32](repeating: 0, count: maxLength - row.count)
        }
        return (
            Tensor(int32: ids, shape: [prompts.count, maxLength]),
            Tensor(int32: mask, shape: [prompts.count, maxLength])
        )
    }
}
