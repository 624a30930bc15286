// When a failed delivery (an alert, a relayed mail) is tried again: exponential backoff, then given up.

import Foundation

struct RetrySchedule: Sendable {
    /// The first retry's delay; each further one is `factor` times longer.
    var firstRetry: TimeInterval
    var factor: Double
    /// Attempts before the delivery is given up.
    var attempts: Int

    /// When to try again after `attempts` failed attempts (1 or more); nil: give up.
    func retryAt(after attempts: Int, now: Date) -> Date? {
        guard attempts < self.attempts else { return nil }
        return now.addingTimeInterval(self.firstRetry * pow(self.factor, Double(attempts - 1)))
    }
}
