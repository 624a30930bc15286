// The baseline for scripts/bench-http: a Hummingbird hello-world from the same package mirror and build settings,
// so the server's own cost per request (middleware, logging, authentication) is measured side by side.
//   hello-world <port>

import Hummingbird

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8081
let router = Router()
router.get("/") { _, _ in "Hello, world!" }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
