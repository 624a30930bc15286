// Every route is public, authenticated, admin or a dashboard page (SPEC §9). The public and admin routes are declared here, once;
// every other route lives on a group whose `AuthenticatedContext` answers 401 to anonymous callers. The inventory
// test reads the routes registered on the real router and fails on any route this list does not account for
// (a public route added without being declared here, a declared one that is gone, an admin route open to users).

enum RouteAccess: Sendable, Equatable {
    /// No account needed (health, documents, sign-in, the signal webhook whose secret is in the body).
    case `public`
    /// A signed-in user, acting on their own records only.
    case authenticated
    /// The admin role and a fresh TOTP code.
    case admin
    /// A dashboard page for a signed-in user (the session cookie): anonymous callers are sent to /login.
    case page
}

enum RouteInventory {
    /// `METHOD /path` with the router's `:parameter` spelling.
    static let publicRoutes: Set<String> = [
        "GET /healthz", "GET /readyz", "GET /openapi.yaml", "GET /.well-known/security.txt",
        "GET /.well-known/tradekeep/checkpoint", "GET /.well-known/tradekeep/audit-key", "GET /audit/log/checkpoint", "GET /audit/log/tile/**",
        "POST /api/v1/auth/register", "POST /api/v1/auth/totp/confirm", "POST /api/v1/auth/login", "POST /api/v1/auth/login/totp",
        "POST /api/v1/auth/refresh", "POST /api/v1/auth/password/forgot", "POST /api/v1/auth/password/reset",
        "GET /api/v1/auth/verify-email", "POST /api/v1/signals/:bot_id", "GET /api/v1/ws", "POST /api/v1/telegram/webhook",
    ]

    /// Dashboard pages anyone may load or post (their forms carry a CSRF token bound to the form cookie).
    static let anonymousPages: Set<String> = [
        "GET /static/:file", "GET /login", "POST /login", "POST /login/code", "GET /register", "POST /register",
        "POST /register/confirm", "GET /password/forgot", "POST /password/forgot", "GET /password/reset", "POST /password/reset",
    ]

    static let adminRoutes: Set<String> = [
        "GET /api/v1/admin/users", "POST /api/v1/admin/users/:id/lock", "POST /api/v1/admin/users/:id/unlock",
        "POST /api/v1/admin/halt", "POST /api/v1/admin/resume", "GET /api/v1/admin/alerts", "POST /api/v1/admin/anomaly/scan",
    ]

    /// How a route is declared; routes not declared public or admin must be authenticated.
    static func access(_ route: String) -> RouteAccess {
        if Self.publicRoutes.contains(route) || Self.anonymousPages.contains(route) { return .public }
        if Self.adminRoutes.contains(route) { return .admin }
        if Self.isDashboard(route) { return .page }
        return .authenticated
    }

    /// Whether a route is a dashboard page (HTML, documented in docs/USER-GUIDE.md rather than the OpenAPI document).
    static func isDashboard(_ route: String) -> Bool {
        let path = route.split(separator: " ", maxSplits: 1).last.map(String.init) ?? route
        return DashboardController.isPage(path) || path.hasPrefix("/static/")
    }
}
