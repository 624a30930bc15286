// Each anomaly rule at, below and above its threshold, inside and outside the scan window.

import AuditLog
import Foundation
import Testing

@testable import Guard

@Suite struct AnomalyRulesTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let window = start..<start.addingTimeInterval(300)
    let user = UUID()
    let other = UUID()

    func at(_ seconds: TimeInterval) -> Date { Self.start.addingTimeInterval(seconds) }

    func orders(_ count: Int, every seconds: TimeInterval = 10, from: TimeInterval = 0, user: UUID? = nil) -> [ObservedEvent] {
        (0..<count).map { ObservedEvent(userID: user ?? self.user, action: .orderPlaced, ip: nil, time: self.at(from + Double($0) * seconds)) }
    }

    @Test("Rapid-fire: 10 orders in 5 minutes is fine, 11 and 12 are one alert; 11 spread over 6 minutes is fine")
    func rapidFire() {
        let thresholds = AnomalyThresholds()
        #expect(AnomalyRules.rapidFire(self.orders(10), window: Self.window, thresholds: thresholds).isEmpty)
        let eleven = AnomalyRules.rapidFire(self.orders(11), window: Self.window, thresholds: thresholds)
        #expect(eleven.count == 1)
        #expect(eleven.first?.kind == .rapidFireTrading && eleven.first?.userID == self.user && eleven.first?.details["orders"] == "11")
        #expect(eleven.first?.time == self.at(100))
        #expect(AnomalyRules.rapidFire(self.orders(12), window: Self.window, thresholds: thresholds).count == 1)
        #expect(AnomalyRules.rapidFire(self.orders(11, every: 36), window: Self.window, thresholds: thresholds).isEmpty)
        // Two accounts, each under the threshold: nothing; each over: one alert each.
        #expect(AnomalyRules.rapidFire(self.orders(6) + self.orders(6, user: self.other), window: Self.window, thresholds: thresholds).isEmpty)
        #expect(AnomalyRules.rapidFire(self.orders(11) + self.orders(11, user: self.other), window: Self.window, thresholds: thresholds).count == 2)
        // A burst that ended before the window was reported by the previous scan.
        #expect(AnomalyRules.rapidFire(self.orders(11, from: -200), window: Self.window, thresholds: thresholds).isEmpty)
        // … but one that goes on into the window is reported.
        #expect(AnomalyRules.rapidFire(self.orders(12, from: -105), window: Self.window, thresholds: thresholds).count == 1)
        var lower = thresholds
        lower.rapidFireOpens = 3
        #expect(AnomalyRules.rapidFire(self.orders(3), window: Self.window, thresholds: lower).isEmpty)
        #expect(AnomalyRules.rapidFire(self.orders(4), window: Self.window, thresholds: lower).count == 1)
    }

    @Test("New IP: a known address is fine, an unseen one is one alert, a first sign-up is not flagged")
    func newIP() {
        let known: [UUID: Set<String>] = [self.user: ["10.0.0.1"]]
        let login = { (ip: String, seconds: TimeInterval) in ObservedEvent(userID: self.user, action: .login, ip: ip, time: self.at(seconds)) }
        #expect(AnomalyRules.newIP([login("10.0.0.1", 10)], window: Self.window, knownIPs: known).isEmpty)
        let found = AnomalyRules.newIP([login("10.0.0.1", 10), login("10.9.9.9", 20), login("10.8.8.8", 30)], window: Self.window, knownIPs: known)
        #expect(found.count == 1)
        #expect(found.first?.details["ip"] == "10.9.9.9" && found.first?.kind == .newIPAddress)
        // A trade action counts too; an engine action (no IP) does not.
        let deploy = ObservedEvent(userID: self.user, action: .botDeployed, ip: "10.7.7.7", time: self.at(40))
        #expect(AnomalyRules.newIP([deploy], window: Self.window, knownIPs: known).count == 1)
        #expect(AnomalyRules.newIP(self.orders(3), window: Self.window, knownIPs: known).isEmpty)
        // A brand-new account: its registration is its first address, then its first login from there is known.
        let registered = ObservedEvent(userID: self.other, action: .registered, ip: "10.5.5.5", time: self.at(5))
        let firstLogin = ObservedEvent(userID: self.other, action: .login, ip: "10.5.5.5", time: self.at(50))
        #expect(AnomalyRules.newIP([registered, firstLogin], window: Self.window, knownIPs: [:]).isEmpty)
        // An address first seen just before the window is known inside it.
        #expect(AnomalyRules.newIP([login("10.4.4.4", -10), login("10.4.4.4", 10)], window: Self.window, knownIPs: known).isEmpty)
    }

    func failure(_ user: UUID?, ip: String, _ seconds: TimeInterval, reason: String = "password") -> ObservedEvent {
        ObservedEvent(userID: user, action: .loginFailed, ip: ip, details: ["reason": reason], time: self.at(seconds))
    }

    @Test("Credential stuffing from one IP: 4 accounts is fine, 5 and 6 are one operator alert; unknown emails count")
    func stuffingFromOneIP() {
        let thresholds = AnomalyThresholds()
        let four = (0..<4).map { self.failure(UUID(), ip: "10.1.1.1", Double($0)) }
        #expect(AnomalyRules.credentialStuffing(four, window: Self.window, thresholds: thresholds).isEmpty)
        let five = four + [self.failure(nil, ip: "10.1.1.1", 20)]
        let found = AnomalyRules.credentialStuffing(five, window: Self.window, thresholds: thresholds)
        #expect(found.count == 1 && found.first?.userID == nil && found.first?.subject == "ip:10.1.1.1")
        #expect(
            AnomalyRules.credentialStuffing(five + [self.failure(UUID(), ip: "10.1.1.1", 30)], window: Self.window, thresholds: thresholds).count == 1
        )
        // The same account five times is not stuffing (the lockout deals with it), nor are refusals of a locked one.
        let same = (0..<5).map { self.failure(self.user, ip: "10.1.1.2", Double($0)) }
        #expect(AnomalyRules.credentialStuffing(same, window: Self.window, thresholds: thresholds).isEmpty)
        let locked = (0..<6).map { self.failure(UUID(), ip: "10.1.1.3", Double($0), reason: "locked") }
        #expect(AnomalyRules.credentialStuffing(locked, window: Self.window, thresholds: thresholds).isEmpty)
        // Spread over more than the window (15 minutes): fine.
        let spread = (0..<5).map { self.failure(UUID(), ip: "10.1.1.4", Double($0) * 240 - 700) }
        #expect(AnomalyRules.credentialStuffing(spread, window: Self.window, thresholds: thresholds).isEmpty)
    }

    @Test("Credential stuffing on one account: 4 addresses is fine, 5 and 6 are one alert to its owner")
    func stuffingOnOneAccount() {
        let thresholds = AnomalyThresholds()
        let four = (0..<4).map { self.failure(self.user, ip: "10.2.0.\($0)", Double($0)) }
        #expect(AnomalyRules.credentialStuffing(four, window: Self.window, thresholds: thresholds).isEmpty)
        let five = four + [self.failure(self.user, ip: "10.2.0.9", 10)]
        let found = AnomalyRules.credentialStuffing(five, window: Self.window, thresholds: thresholds)
        #expect(found.count == 1 && found.first?.userID == self.user && found.first?.details["addresses"] == "5")
        #expect(
            AnomalyRules.credentialStuffing(five + [self.failure(self.user, ip: "10.2.0.10", 11)], window: Self.window, thresholds: thresholds).count
                == 1
        )
    }

    @Test("TOTP replay: none is fine, one is an alert, two on one account are one alert")
    func totpReplay() {
        let replay = { (seconds: TimeInterval) in ObservedEvent(userID: self.user, action: .totpReplay, ip: "10.3.3.3", time: self.at(seconds)) }
        #expect(
            AnomalyRules.totpReplay([ObservedEvent(userID: self.user, action: .login, ip: "10.3.3.3", time: self.at(1))], window: Self.window).isEmpty
        )
        #expect(AnomalyRules.totpReplay([replay(1)], window: Self.window).count == 1)
        #expect(AnomalyRules.totpReplay([replay(1), replay(2)], window: Self.window).count == 1)
        #expect(AnomalyRules.totpReplay([replay(-1)], window: Self.window).isEmpty)
    }

    @Test("Rejected keys: 2 in an hour is fine, 3 and 4 are one alert; 3 over more than an hour is fine")
    func rejectedKeys() {
        let thresholds = AnomalyThresholds()
        let rejected = { (count: Int, every: TimeInterval) in
            (0..<count).map {
                ObservedEvent(userID: self.user, action: .credentialRejected, ip: "10.4.0.1", time: self.at(250 - Double(count - 1 - $0) * every))
            }
        }
        #expect(AnomalyRules.rejectedKeys(rejected(2, 60), window: Self.window, thresholds: thresholds).isEmpty)
        #expect(AnomalyRules.rejectedKeys(rejected(3, 60), window: Self.window, thresholds: thresholds).count == 1)
        #expect(AnomalyRules.rejectedKeys(rejected(4, 60), window: Self.window, thresholds: thresholds).count == 1)
        #expect(AnomalyRules.rejectedKeys(rejected(3, 1_900), window: Self.window, thresholds: thresholds).isEmpty)
    }

    @Test("A bot stopped by a risk limit or a failure is one alert per bot; a stop by its owner is none")
    func botStopped() {
        let bot = UUID().uuidString.lowercased()
        let event = { (action: AuditAction, seconds: TimeInterval) in
            ObservedEvent(userID: self.user, action: action, ip: nil, details: ["bot_id": bot, "reason": "max drawdown"], time: self.at(seconds))
        }
        #expect(AnomalyRules.botStopped([event(.botStopped, 1)], window: Self.window).isEmpty)
        let risk = AnomalyRules.botStopped([event(.botRiskStop, 1), event(.botRiskStop, 2)], window: Self.window)
        #expect(risk.count == 1 && risk.first?.message.contains("max drawdown") == true)
        #expect(AnomalyRules.botStopped([event(.botFailed, 1)], window: Self.window).count == 1)
    }

    @Test("evaluate runs every rule")
    func evaluate() {
        let events = self.orders(11) + [ObservedEvent(userID: self.user, action: .totpReplay, ip: "10.3.3.3", time: self.at(1))]
        let kinds = AnomalyRules.evaluate(events.sorted { $0.time < $1.time }, window: Self.window, knownIPs: [:], thresholds: AnomalyThresholds())
            .map(\.kind)
        #expect(Set(kinds) == [.rapidFireTrading, .totpReplay])
    }
}
