// KeyPolicy on hand-made inspections: every refusal, in order, and the warn mode.

import Testing

@testable import Venues

@Suite struct KeyPolicyTests {
    static let policy = KeyPolicy(egressIPs: ["198.51.100.7", "198.51.100.8"])

    static func inspection(
        _ venue: VenueID = .binance,
        role: KeyInspection.Role = .tradingKey,
        canTrade: Bool = true,
        withdrawal: [String] = [],
        transfer: [String] = [],
        ip: IPRestriction = .addresses(["198.51.100.7"])
    ) -> KeyInspection {
        KeyInspection(
            venue: venue,
            role: role,
            permissions: ["trade"],
            canTrade: canTrade,
            withdrawalPermissions: withdrawal,
            transferPermissions: transfer,
            ipRestriction: ip
        )
    }

    static func code(_ decision: KeyDecision) -> String? {
        if case .rejected(let rejection) = decision { return rejection.code.rawValue }
        return nil
    }

    @Test("A trade-only key locked to the egress IPs is accepted without warnings")
    func accepted() {
        #expect(Self.policy.evaluate(Self.inspection()) == .accepted(warnings: []))
        #expect(Self.policy.evaluate(Self.inspection(ip: .addresses(["198.51.100.8/32", "198.51.100.7"]))) == .accepted(warnings: []))
        // Binance hides the list: accepted, with a warning saying what to check.
        guard case .accepted(let warnings) = Self.policy.evaluate(Self.inspection(ip: .restrictedUnlisted)) else {
            Issue.record("refused")
            return
        }
        #expect(warnings.count == 1 && warnings[0].message.contains("198.51.100.7, 198.51.100.8"))
    }

    @Test("Withdrawal beats transfer beats trading beats IPs; the message names the permission and the fix")
    func order() throws {
        let all = Self.inspection(canTrade: false, withdrawal: ["enableWithdrawals"], transfer: ["permitsUniversalTransfer"], ip: .unrestricted)
        guard case .rejected(let rejection) = Self.policy.evaluate(all) else {
            Issue.record("accepted")
            return
        }
        #expect(rejection.code == .withdrawalPermission)
        #expect(rejection.message.contains("enableWithdrawals"))
        #expect(rejection.message.contains("untick Enable Withdrawals"))
        #expect(rejection.message.contains("198.51.100.7, 198.51.100.8"))
        #expect(Self.code(Self.policy.evaluate(Self.inspection(canTrade: false, transfer: ["x"], ip: .unrestricted))) == "transfer_permission")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(canTrade: false, ip: .unrestricted))) == "trade_permission_missing")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(ip: .unrestricted))) == "ip_allowlist_missing")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(ip: .addresses([])))) == "ip_allowlist_missing")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(ip: .addresses(["198.51.100.7", "203.0.113.9"])))) == "ip_allowlist_mismatch")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(ip: .addresses(["198.51.100.0/24"])))) == "ip_allowlist_mismatch")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(.hyperliquid, role: .masterWallet, ip: .unknown))) == "master_wallet_key")
        #expect(Self.code(Self.policy.evaluate(Self.inspection(role: .unverifiable(reason: "No.")))) == "unverifiable_key")
        // A known withdrawal permission is named even when other parts of the answer are not understood.
        #expect(
            Self.code(Self.policy.evaluate(Self.inspection(role: .unverifiable(reason: "No."), withdrawal: ["withdraw-funds"])))
                == "withdrawal_permission"
        )
    }

    @Test("Under TRADEKEEP_IP_ALLOWLIST=warn IP problems become warnings; permission problems still refuse")
    func warnMode() {
        let warn = KeyPolicy(egressIPs: ["198.51.100.7"], ipAllowlist: .warn)
        guard case .accepted(let warnings) = warn.evaluate(Self.inspection(ip: .unrestricted)) else {
            Issue.record("refused")
            return
        }
        #expect(warnings.map(\.code) == [.ipAllowlistMissing])
        #expect(Self.code(warn.evaluate(Self.inspection(withdrawal: ["w"], ip: .unrestricted))) == "withdrawal_permission")
    }

    @Test("A venue that cannot report IP locks (Coinbase) is accepted with a warning even when allow-lists are required")
    func unknownIPs() {
        guard case .accepted(let warnings) = Self.policy.evaluate(Self.inspection(.coinbase, ip: .unknown)) else {
            Issue.record("refused")
            return
        }
        #expect(warnings.count == 1)
    }

    @Test("With no published egress IPs, an IP-locked key cannot match and the message says what the operator must set")
    func noEgress() {
        guard case .rejected(let rejection) = KeyPolicy(egressIPs: []).evaluate(Self.inspection()) else {
            Issue.record("accepted")
            return
        }
        #expect(rejection.code == .ipAllowlistMismatch)
        #expect(rejection.message.contains("TRADEKEEP_EGRESS_IPS"))
    }
}
