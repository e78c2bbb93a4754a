import BackupModels
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSH

/// Which device a listening socket serves.
enum ListenerTarget: Sendable {
    /// A device's own port.
    case device(DeviceID)
    /// The shared port: the login name selects the device.
    case shared
}

/// The per-connection state: which device the login selected. Event-loop bound.
final class ConnectionState {
    var device: SimulatedDevice?
    var loginName: String?
}

/// Checks passwords and public keys against the selected device.
final class DeviceAuthDelegate: NIOSSHServerUserAuthenticationDelegate {
    private let target: ListenerTarget
    private let registry: DeviceRegistry
    private let connection: ConnectionState

    init(target: ListenerTarget, registry: DeviceRegistry, connection: ConnectionState) {
        self.target = target
        self.registry = registry
        self.connection = connection
    }

    /// The device's user name, or (RouterOS) the user name followed by terminal options.
    static func loginMatches(_ login: String, _ device: SimulatedDevice) -> Bool {
        if login == device.username { return true }
        guard let separator = device.vendor.loginOptionsSeparator, let split = login.firstIndex(of: separator) else {
            return false
        }
        return login[..<split] == device.username
    }

    var supportedAuthenticationMethods: NIOSSHAvailableUserAuthenticationMethods { [.password, .publicKey] }

    func requestReceived(
        request: NIOSSHUserAuthenticationRequest, responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>
    ) {
        let device: SimulatedDevice? =
            switch target {
            case .device(let id): registry.device(id).flatMap { Self.loginMatches(request.username, $0) ? $0 : nil }
            case .shared: registry.device(forLogin: request.username)
            }
        guard let device, !device.faults.contains(.authFailure) else {
            if case .password = request.request { registry.count { $0.loginsFailed += 1 } }
            responsePromise.succeed(.failure)
            return
        }
        let accepted: Bool
        switch request.request {
        case .password(let password):
            accepted = device.password != nil && password.password == device.password
        case .publicKey(let offer):
            accepted = device.authorizedKeys.contains { (try? NIOSSHPublicKey(openSSHPublicKey: $0)) == offer.publicKey }
        default:
            accepted = false
        }
        if accepted {
            connection.device = device
            connection.loginName = request.username
            registry.count { $0.loginsSucceeded += 1 }
            responsePromise.succeed(.success)
        } else {
            if case .password = request.request { registry.count { $0.loginsFailed += 1 } }
            responsePromise.succeed(.failure)
        }
    }
}

/// Counts connections. Sits in front of the SSH handler, which does not pass `channelInactive` on.
final class ConnectionTracker: ChannelInboundHandler {
    typealias InboundIn = Any
    private let registry: DeviceRegistry

    init(registry: DeviceRegistry) {
        self.registry = registry
    }

    func channelActive(context: ChannelHandlerContext) {
        registry.count {
            $0.connectionsAccepted += 1
            $0.connectionsOpen += 1
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        registry.count { $0.connectionsOpen -= 1 }
        context.fireChannelInactive()
    }
}

/// Closes the connection on errors (after the SSH handler, which reports protocol errors downstream).
final class ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = Any
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("simulated device connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

/// Accepts the TCP connection and never answers (``DeviceFault/acceptThenSilence``): reads are dropped.
final class SilentHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// One SSH session channel (shell or exec) of a simulated device: feeds the CLI engine and plays its output
/// with the device's latency and faults, honouring back-pressure (each write completes before the next).
final class DeviceSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias InboundOut = Never
    typealias OutboundIn = Never
    typealias OutboundOut = SSHChannelData

    private let device: SimulatedDevice
    private let registry: DeviceRegistry
    private var engine: CLIEngine?
    private var context: ChannelHandlerContext?
    private var queue: [OutputItem] = []
    private var queueHead = 0
    private var busy = false
    private var finished = false
    private let dripChunk: Int?
    private let dripInterval: Duration
    private static let writeChunk = 32 * 1024

    private let loginName: String?

    init(device: SimulatedDevice, loginName: String?, registry: DeviceRegistry) {
        self.device = device
        self.loginName = loginName
        self.registry = registry
        var chunk: Int?
        var interval = Duration.zero
        for fault in device.faults {
            if case .slowDrip(let bytes, let every) = fault {
                chunk = max(1, bytes)
                interval = every
            }
        }
        self.dripChunk = chunk
        self.dripInterval = interval
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).assumeIsolated()
            .whenFailure { error in context.fireErrorCaught(error) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        finished = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        finished = true
        queue.removeAll()
        queueHead = 0
        context.fireChannelInactive()
    }

    private func makeEngine(exec: Bool) -> CLIEngine {
        let id = device.id
        let registry = registry
        let sessionRun = registry.nextSessionNumber()
        return CLIEngine(
            device: device,
            source: ConfigSource(next: {
                registry.count { $0.configsServed += 1 }
                return registry.nextRun(of: id) ?? (GeneratedConfig(lines: []), 0)
            }),
            sessionRun: sessionRun,
            exec: exec,
            loginName: loginName,
            now: {
                let now = Date().timeIntervalSince1970
                return (Int(now), Int((now - now.rounded(.down)) * 1000))
            })
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let request as SSHChannelRequestEvent.PseudoTerminalRequest:
            reply(request.wantReply, success: true, context: context)
        case let request as SSHChannelRequestEvent.EnvironmentRequest:
            reply(request.wantReply, success: true, context: context)
        case let request as SSHChannelRequestEvent.WindowChangeRequest:
            reply(request.wantReply, success: true, context: context)
        case let request as SSHChannelRequestEvent.ShellRequest:
            guard engine == nil else { return reply(request.wantReply, success: false, context: context) }
            reply(request.wantReply, success: true, context: context)
            registry.count { $0.sessionsStarted += 1 }
            let engine = makeEngine(exec: false)
            self.engine = engine
            enqueue(engine.start())
        case let request as SSHChannelRequestEvent.ExecRequest:
            guard engine == nil, device.vendor.supportsExec else {
                return reply(request.wantReply, success: false, context: context)
            }
            reply(request.wantReply, success: true, context: context)
            registry.count { $0.sessionsStarted += 1 }
            let engine = makeEngine(exec: true)
            self.engine = engine
            enqueue(engine.exec(request.command))
        case let request as SSHChannelRequestEvent.SubsystemRequest:
            reply(request.wantReply, success: false, context: context)
        case ChannelEvent.inputClosed:
            if let engine { enqueue(engine.inputClosed()) } else { context.close(promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func reply(_ wantReply: Bool, success: Bool, context: ChannelHandlerContext) {
        guard wantReply else { return }
        if success {
            context.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil)
        } else {
            context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .channel = message.type, case .byteBuffer(let buffer) = message.data, let engine else { return }
        enqueue(engine.receive(buffer.readableBytesView))
    }

    // MARK: - Playing the output

    private func enqueue(_ items: [OutputItem]) {
        guard !finished, !items.isEmpty else { return }
        queue.append(contentsOf: items)
        pump()
    }

    private func pump() {
        guard !busy, !finished, let context else { return }
        while queueHead < queue.count {
            let item = queue[queueHead]
            queueHead += 1
            if queueHead > 1024 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            switch item {
            case .bytes(let bytes) where bytes.isEmpty, .stderr(let bytes) where bytes.isEmpty:
                continue
            case .bytes(let bytes):
                return write(bytes, type: .channel, context: context)
            case .stderr(let bytes):
                return write(bytes, type: .stdErr, context: context)
            case .pause(let duration):
                busy = true
                context.eventLoop.assumeIsolated().scheduleTask(in: .init(duration)) { [self] in
                    busy = false
                    pump()
                }
                return
            case .hang:
                finished = true
                queue.removeAll()
                queueHead = 0
                return
            case .disconnect:
                finished = true
                queue.removeAll()
                queueHead = 0
                (context.channel.parent ?? context.channel).close(promise: nil)
                return
            case .endless(let bytes):
                guard !bytes.isEmpty else { continue }
                queueHead -= 1  // stays at the head: repeated until the channel goes away
                return write(bytes, type: .channel, context: context)
            case .exit(let status):
                finished = true
                queue.removeAll()
                queueHead = 0
                // Everything before was written (each write completed before this item was taken), so the
                // exit status and close cannot drop output still queued for the client's window.
                let channel = context.channel
                context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExitStatus(exitStatus: status))
                    .assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
                return
            }
        }
    }

    /// Writes `bytes` in chunks (drip-sized under ``DeviceFault/slowDrip``), each after the previous completed.
    private func write(_ bytes: [UInt8], type: SSHChannelData.DataType, context: ChannelHandlerContext) {
        writeChunks(bytes[...], type: type, context: context)
    }

    private func writeChunks(_ bytes: ArraySlice<UInt8>, type: SSHChannelData.DataType, context: ChannelHandlerContext)
    {
        guard !finished else { return }
        busy = true
        let size = dripChunk ?? Self.writeChunk
        let chunk = bytes.prefix(size)
        let rest = bytes.dropFirst(chunk.count)
        var buffer = context.channel.allocator.buffer(capacity: chunk.count)
        buffer.writeBytes(chunk)
        let future = context.writeAndFlush(wrapOutboundOut(SSHChannelData(type: type, data: .byteBuffer(buffer))))
        future.assumeIsolated().whenComplete { [self] result in
            guard case .success = result, !finished, let context = self.context else {
                busy = false
                return
            }
            let next = { [self] in
                if rest.isEmpty {
                    busy = false
                    pump()
                } else {
                    writeChunks(rest, type: type, context: context)
                }
            }
            if dripChunk != nil && dripInterval > .zero {
                context.eventLoop.assumeIsolated().scheduleTask(in: .init(dripInterval)) { next() }
            } else {
                next()
            }
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
