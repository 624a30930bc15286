// RFC 9116 security.txt.

import Foundation
import Hummingbird

struct WellKnownController {
    let contact: String
    let canonicalURL: URL
    /// RFC 9116 asks for an Expires under a year ahead; computed per request so it never goes stale.
    static let validity: TimeInterval = 180 * 24 * 3600

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/.well-known/security.txt", use: self.securityTxt)
    }

    @Sendable func securityTxt(_ request: Request, context: AppRequestContext) -> Response {
        let text = Self.securityTxt(contact: self.contact, canonical: self.canonicalURL, now: Date())
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    static func securityTxt(contact: String, canonical: URL, now: Date) -> String {
        let expires = now.addingTimeInterval(validity).formatted(.iso8601)
        return """
            Contact: \(contact)
            Expires: \(expires)
            Preferred-Languages: en
            Canonical: \(canonical.absoluteString)

            """
    }
}
