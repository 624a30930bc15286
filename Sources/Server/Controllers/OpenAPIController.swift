// Serves the OpenAPI 3.1 document of the HTTP API.

import Foundation
import Hummingbird

struct OpenAPIController {
    let document: ByteBuffer

    init() throws {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw APIError(.internalServerError, code: "internal_error", message: "openapi.yaml is missing from the build")
        }
        self.document = ByteBuffer(bytes: try Data(contentsOf: url))
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/openapi.yaml", use: self.openAPI)
    }

    @Sendable func openAPI(_ request: Request, context: AppRequestContext) -> Response {
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: self.document))
    }
}
