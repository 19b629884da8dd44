// CLIPTokenizer and the pure-Swift gunzip it reads its vocabulary with.
import Foundation
import LatticeIO
import Testing

@testable import LatticeFixtures
@testable import LatticeModels

@Suite("CLIP tokenizer")
struct CLIPTokenizerTests {
    static let vocabURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/clip-bpe-vocab-16e6.txt.gz")

    // Produced by Python's gzip module: a stored block and a fixed-Huffman block with matches.
    static let stored: [UInt8] = [
        31, 139, 8, 0, 0, 0, 0, 0, 0, 255, 1, 14, 0, 241, 255, 104, 101, 108, 108, 111, 44, 32,
        108, 97, 116, 116, 105, 99, 101, 73, 62, 149, 228, 14, 0, 0, 0,
    ]
    static let fixed: [UInt8] = [
        31, 139, 8, 0, 0, 0, 0, 0, 2, 255, 75, 76, 74, 78, 68, 66, 0, 163, 140, 39, 211, 15, 0, 0,
        0,
    ]

    @Test func gunzipStoredAndFixedBlocks() throws {
        #expect(try Gzip.decompress(Self.stored) == Array("hello, lattice".utf8))
        #expect(try Gzip.decompress(Self.fixed) == Array("abcabcabcabcabc".utf8))
        // Two members back to back decode as their concatenation (as gzip -d does).
        #expect(
            try Gzip.decompress(Self.stored + Self.fixed)
                == Array("hello, latticeabcabcabcabcabc".utf8))
    }

    @Test func gunzipRejectsCorruptData() {
        var badCRC = Self.fixed
        badCRC[badCRC.count - 8] ^= 1
        #expect(throws: LatticeError.self) { try Gzip.decompress(badCRC) }
        #expect(throws: LatticeError.self) { try Gzip.decompress(Array(Self.fixed.prefix(15))) }
        #expect(throws: LatticeError.self) { try Gzip.decompress(Array("plain text".utf8)) }
    }

    @Test func missingVocabularyIsAClearError() {
        let url = URL(fileURLWithPath: "/nonexistent/bpe_simple_vocab_16e6.txt.gz")
        do {
            _ = try CLIPTokenizer(bpeVocabularyURL: url)
            Issue.record("expected an error")
        } catch let e as LatticeError {
            #expect(e.kind == .io && e.message.contains(url.path))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func vocabularyLayout() throws {
        let tok = try CLIPTokenizer(bpeVocabularyURL: Self.vocabURL)
        #expect(tok.encoder.count == 49408)
        #expect(tok.bosTokenId == 49406 && tok.eosTokenId == 49407 && tok.padTokenId == 49407)
        #expect(tok.encoder["!"] == 0 && tok.encoder["!</w>"] == 256)
    }

    @Test func normalisationAndPreTokenisation() throws {
        let tok = try CLIPTokenizer(bpeVocabularyURL: Self.vocabURL)
        // Case and whitespace runs do not matter (lowercase, \s+ -> " ").
        #expect(tok.tokenize("A  Red\tChair\n") == tok.tokenize("a red chair"))
        // Digits are split one by one; contractions are their own words.
        #expect(
            CLIPTokenizer.preTokenize("8k 2024 don't") == [
                "8", "k", "2", "0", "2", "4", "don", "'t",
            ])
        #expect(CLIPTokenizer.preTokenize("hi!! (ok)") == ["hi", "!!", "(", "ok", ")"])
        // Special-token text maps to the special ids.
        #expect(tok.tokenize("<|endoftext|>") == [49407])
        #expect(tok.encode("") == [49406, 49407])
    }

    @Test func truncationAndPadding() throws {
        let tok = try CLIPTokenizer(bpeVocabularyURL: Self.vocabURL, maxLength: 8)
        let (ids, mask) = tok(["a a a a a a a a a a", "a"])
        let a = tok.tokenize("a")[0]
        #expect(
            ids.toInts() == [49406] + [Int](repeating: a, count: 6) + [49407]
                + [49406, a, 49407] + [Int](repeating: 49407, count: 5))
        #expect(mask.toInts() == [Int](repeating: 1, count: 8) + [1, 1, 1, 0, 0, 0, 0, 0])
    }
}
