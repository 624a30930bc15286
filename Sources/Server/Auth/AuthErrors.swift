// The API errors of the auth routes (API.md's codes), each with a message a person can act on.

import Foundation
import HTTPTypes
import Hummingbird

extension APIError {
    static let invalidCredentials = APIError(.unauthorized, code: "invalid_credentials", message: "The email or password is wrong.")
    static let invalidToken = APIError(
        .unauthorized,
        code: "invalid_token",
        message: "This token is invalid, expired or already used. Start the flow again."
    )
    static let invalidTOTP = APIError(
        .unauthorized,
        code: "invalid_totp",
        message: "The code is wrong or was already used. Enter the current code from your authenticator app."
    )
    static let refreshReused = APIError(
        .unauthorized,
        code: "refresh_reused",
        message: "This refresh token was already used, so the session was ended for your safety. Sign in again."
    )
    static let emailTaken = APIError(
        .conflict,
        code: "email_taken",
        message: "An account with this email already exists. Sign in, or reset the password."
    )
    static let invalidEmail = APIError(.unprocessableContent, code: "invalid_email", message: "Enter a valid email address.")
    static let stepUpRequired = APIError(
        .forbidden,
        code: "step_up_required",
        message: "This action needs a current TOTP code: send `totp_code` in the body or an X-TOTP-Code header."
    )
    static let stepUpFailed = APIError(.forbidden, code: "invalid_totp", message: "The TOTP code is wrong or was already used.")
    static let wrongPassword = APIError(.forbidden, code: "invalid_password", message: "The current password is wrong.")
    static let accountDisabled = APIError(.forbidden, code: "account_disabled", message: "This account is disabled. Contact the administrator.")
    static let adminRequired = APIError(.forbidden, code: "forbidden", message: "This route is for administrators.")
    static let csrfCheckFailed = APIError(
        .forbidden,
        code: "csrf_check_failed",
        message: "Refresh needs a same-origin Origin header or an X-Requested-With header."
    )

    /// As many attempts as the lockout allows are being checked right now: this one waits its turn (no lock, nothing
    /// counted). Only concurrent guessing, or a crowd of devices signing in at the same instant, meets it.
    static let attemptsInProgress = APIError(
        .tooManyRequests,
        code: "rate_limited",
        message: "Other sign-in attempts for this account are being checked. Try again in a second.",
        headers: [.retryAfter: "1"]
    )

    static func accountLocked(until: Date, now: Date) -> APIError {
        let seconds = max(1, Int(until.timeIntervalSince(now).rounded()))
        return APIError(
            HTTPResponse.Status(code: 423, reasonPhrase: "Locked"),
            code: "account_locked",
            message: "Too many failed attempts: the account is locked for \((seconds + 59) / 60) more minute(s). The owner has been emailed.",
            headers: [.retryAfter: String(seconds)]
        )
    }

    static func weakPassword(code: String, message: String) -> APIError {
        APIError(.unprocessableContent, code: code, message: message)
    }
}
