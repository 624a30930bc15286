// C2SP signed notes on the spec's own example (../shared/vectors/venues.json) and round trips.

import Crypto
import Foundation
import Testing

@testable import AuditLog

@Suite struct SignedNoteTests {
    static var vector: [String: String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors/venues.json")
        let all = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any]
        return all?["c2sp_signed_note_ed25519"] as? [String: String] ?? [:]
    }

    @Test("The C2SP example: the vkey parses (its hash checks) and the example note's signature verifies")
    func specExample() throws {
        let vector = Self.vector
        let vkey = try #require(vector["vkey"])
        let key = try #require(NoteVerifierKey(vkey))
        #expect(key.name == "example.com/foo")
        #expect(key.text == vector["vkey"])
        let text = try #require(vector["note_text"])
        let signatureLine = try #require(vector["signature_line"])
        let note = text + "\n" + signatureLine + "\n"
        #expect(try SignedNote.open(note, verifiedBy: key) == vector["note_text"])
        // One changed character in the text, or another key, and it does not verify.
        #expect(throws: SignedNote.Failure.badSignature) {
            try SignedNote.open(note.replacingOccurrences(of: "example message", with: "example massage"), verifiedBy: key)
        }
        let other = NoteVerifierKey(name: "example.com/foo", publicKey: Curve25519.Signing.PrivateKey().publicKey)
        #expect(throws: SignedNote.Failure.noSignatureByKey) { try SignedNote.open(note, verifiedBy: other) }
        var tampered = vkey
        tampered.replaceSubrange(tampered.range(of: "530d903a")!, with: "530d903b")
        #expect(NoteVerifierKey(tampered) == nil)
    }

    @Test("Notes we sign open with our verifier key; malformed notes are refused")
    func roundTrip() throws {
        let key = try AuditSigningKey(seed: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        let note = try SignedNote.sign("tradekeep.example/audit\n42\nabc=\n", name: "tradekeep.example/audit", key: key)
        let verifier = NoteVerifierKey(name: "tradekeep.example/audit", publicKey: key.publicKey)
        #expect(try SignedNote.open(note, verifiedBy: verifier) == "tradekeep.example/audit\n42\nabc=\n")
        #expect(NoteVerifierKey(verifier.text) == verifier)
        #expect(throws: SignedNote.Failure.malformed) { try SignedNote.open("no signatures here\n", verifiedBy: verifier) }
    }
}
