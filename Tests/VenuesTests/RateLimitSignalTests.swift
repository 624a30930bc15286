// How each venue's rate-limit answers are read: refusals to wait out, and usage headers that say the budget is spent.

import Foundation
import NIOHTTP1
import Testing

@testable import Venues

@Suite struct RateLimitSignalTests {
    static func response(_ status: HTTPResponseStatus, _ headers: HTTPHeaders = [:], body: String = "{}") -> VenueResponse {
        VenueResponse(status: status, headers: headers, body: Array(body.utf8))
    }

    @Test("429 and 418 are refusals for Retry-After seconds (1 s without it); other answers are not")
    func generic() {
        #expect(VenueTransport.retryAfterSignal(Self.response(.tooManyRequests, ["Retry-After": "7"])) == .refused(retryAfter: .seconds(7)))
        #expect(
            VenueTransport.retryAfterSignal(Self.response(.custom(code: 418, reasonPhrase: "I'm a teapot"), ["Retry-After": "120"]))
                == .refused(retryAfter: .seconds(120))
        )
        #expect(VenueTransport.retryAfterSignal(Self.response(.tooManyRequests)) == .refused(retryAfter: .seconds(1)))
        #expect(VenueTransport.retryAfterSignal(Self.response(.ok)) == nil)
    }

    @Test("Binance: X-MBX-USED-WEIGHT-1M at the limit pauses until the next minute")
    func binanceWeight() async {
        let client = BinanceClient(venue: .binanceUSDM, baseURL: "http://127.0.0.1:9", timePath: "/fapi/v1/time", client: .shared, weightLimit: 2400)
        let signal = client.transport.rateLimitSignal
        #expect(signal(Self.response(.ok, ["X-MBX-USED-WEIGHT-1M": "2399"])) == nil)
        guard case .exhausted(let pause) = signal(Self.response(.ok, ["X-MBX-USED-WEIGHT-1M": "2400"])) else {
            Issue.record("not exhausted")
            return
        }
        #expect(pause > .zero && pause <= .seconds(60))
    }

    @Test("Bybit: 10006 in a 200 answer is a refusal until X-Bapi-Limit-Reset-Timestamp; X-Bapi-Limit-Status 0 pauses; 403 is the IP limit")
    func bybit() {
        let reset = Int64(Date().timeIntervalSince1970 * 1000) + 2_000
        let headers: HTTPHeaders = ["X-Bapi-Limit-Reset-Timestamp": String(reset)]
        guard
            case .refused(let wait) = BybitVenue.rateLimitSignal(Self.response(.ok, headers, body: #"{"retCode":10006,"retMsg":"Too many visits!"}"#))
        else {
            Issue.record("10006 not a refusal")
            return
        }
        #expect(wait > .milliseconds(1_500) && wait <= .seconds(2))
        var spent = headers
        spent.add(name: "X-Bapi-Limit-Status", value: "0")
        guard case .exhausted = BybitVenue.rateLimitSignal(Self.response(.ok, spent, body: #"{"retCode":0}"#)) else {
            Issue.record("not exhausted")
            return
        }
        #expect(BybitVenue.rateLimitSignal(Self.response(.ok, ["X-Bapi-Limit-Status": "9"], body: #"{"retCode":0}"#)) == nil)
        // 403 is the IP ban: at least ten minutes, so never waited out inside a call.
        #expect(BybitVenue.rateLimitSignal(Self.response(.forbidden)) == .refused(retryAfter: .seconds(600)))
    }
}
