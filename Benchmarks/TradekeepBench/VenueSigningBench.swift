// Build-and-sign latency of one order request per venue (scripts/bench-venues prints it beside ccxt's).

import Crypto
import Foundation
import Vault
import Venues

/// Time `body` one call at a time; prints {"implementation","venue","iterations","mean_us","p50_us","p99_us"}.
func measureLatency(venue: String, iterations: Int, _ body: () async throws -> Void) async rethrows {
    for _ in 0..<min(200, iterations) { try await body() }  // warm up
    var samples: [Double] = []
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
        let start = ContinuousClock.now
        try await body()
        let elapsed = ContinuousClock.now - start
        samples.append(Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
    }
    samples.sort()
    let mean = samples.reduce(0, +) / Double(samples.count)
    let p50 = samples[samples.count / 2]
    let p99 = samples[min(samples.count - 1, samples.count * 99 / 100)]
    let row = String(
        format: #"{"implementation":"tradekeep","venue":"%@","iterations":%d,"mean_us":%.2f,"p50_us":%.2f,"p99_us":%.2f}"#,
        venue,
        iterations,
        mean,
        p50,
        p99
    )
    print(row)
}

/// The same order everywhere: BTCUSDT buy 0.001 @ 50000, client order id tk-bench-1.
func venueSigningBench(iterations: Int) async throws {
    let order = OrderRequest(
        symbol: "BTCUSDT",
        side: .buy,
        type: .limit,
        quantity: Decimal(string: "0.001")!,
        price: 50_000,
        clientOrderID: "tk-bench-1"
    )
    func text(_ string: String) -> SecretBytes { SecretBytes(copying: Array(string.utf8)) }
    let hmacKey = VenueCredentials(
        apiKey: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        secret: text("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")
    )
    let now = { Int64(Date().timeIntervalSince1970 * 1000) }

    try await measureLatency(venue: "binance-usdm", iterations: iterations) {
        _ = try BinanceFuturesVenue.signedOrderRequest(order, timestamp: now(), credentials: hmacKey)
    }
    try await measureLatency(venue: "bybit", iterations: iterations) {
        _ = try BybitVenue.signedOrderRequest(order, timestamp: now(), credentials: hmacKey)
    }
    // OKX, Kraken and Coinbase do not trade yet: their order requests are built here from the documented shapes
    // with the adapters' signing functions, so the signing cost is measured all the same.
    try await measureLatency(venue: "okx", iterations: iterations) {
        let body = #"{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"limit","sz":"0.001","px":"50000","clOrdId":"tkbench1"}"#
        let timestamp = OKXSigning.timestamp(milliseconds: now())
        _ = OKXSigning.signature(timestamp: timestamp, method: "POST", requestPath: "/api/v5/trade/order", body: body, secret: hmacKey.secret)
    }
    let krakenSecret = KrakenSigning.decodeSecret(text("kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="))!
    try await measureLatency(venue: "kraken", iterations: iterations) {
        let nonce = String(now())
        let body = "nonce=\(nonce)&ordertype=limit&pair=XBTUSD&price=50000&type=buy&volume=0.001&cl_ord_id=tk-bench-1"
        _ = KrakenSigning.signature(uriPath: "/0/private/AddOrder", nonce: nonce, postData: body, secret: krakenSecret)
    }
    let coinbaseKey = text(P256.Signing.PrivateKey().pemRepresentation)
    try await measureLatency(venue: "coinbase", iterations: iterations) {
        _ = try await CoinbaseAuth.token(
            keyName: "organizations/bench/apiKeys/bench",
            secret: coinbaseKey,
            method: "POST",
            host: "api.coinbase.com",
            path: "/api/v3/brokerage/orders",
            now: Date()
        )
    }
    if Secp256k1.isAvailable {
        let agent = VenueCredentials(
            apiKey: "0x0000000000000000000000000000000000000001",
            secret: text("0x0123456789012345678901234567890123456789012345678901234567890123")
        )
        let btc = OrderRequest(
            symbol: "BTC",
            side: .buy,
            type: .limit,
            quantity: Decimal(string: "0.001")!,
            price: 50_000,
            clientOrderID: "tk-bench-1"
        )
        try await measureLatency(venue: "hyperliquid", iterations: iterations) {
            _ = try HyperliquidVenue.signedOrderRequest(btc, asset: 0, nonce: UInt64(now()), isMainnet: true, credentials: agent)
        }
    }
}
