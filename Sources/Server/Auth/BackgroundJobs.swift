// A queue of small jobs run after the response (mail for password resets), as a lifecycle Service.
// Handlers that must answer in the same time whatever the input enqueue their work here.

import Logging
import ServiceLifecycle

final class BackgroundJobs: Service, Sendable {
    typealias Job = @Sendable () async -> Void

    private let stream: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation
    private let logger: Logger

    init(logger: Logger) {
        (self.stream, self.continuation) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingNewest(10_000))
        self.logger = logger
    }

    func enqueue(_ job: @escaping Job) {
        if case .dropped = self.continuation.yield(job) {
            self.logger.warning("background queue full; a job was dropped")
        }
    }

    /// Run jobs one at a time; on graceful shutdown, finish the queued ones and stop.
    func run() async throws {
        await withGracefulShutdownHandler {
            for await job in self.stream {
                await job()
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }
}
