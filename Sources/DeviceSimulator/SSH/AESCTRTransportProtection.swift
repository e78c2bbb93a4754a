import Crypto
import CryptoExtras
import Foundation
import NIOCore
import NIOSSH

// aes128-ctr / aes256-ctr with hmac-sha2-256 (RFC 4344 + RFC 6668) for swift-nio-ssh, which ships only
// AES-GCM. libssh2 1.10 offers no AES-GCM, so without these schemes it cannot talk to the simulator.
//
// The facts that matter (ENGINEERING.md §3, verified against libssh2 1.10 on this machine):
// - the packet length is encrypted (`lengthEncrypted`), so the parser calls `decryptFirstBlock` once per packet
//   to learn the length and `decryptAndVerifyRemainingPacket` for the rest;
// - CTR's counter is the 128-bit big-endian IV and advances by one per 16-byte block across packets; it is reset
//   only by a rekey (`updateKeys`). swift-crypto's `AES._CTR` is stateless, so each call gets a nonce built from
//   the running counter;
// - the MAC is HMAC-SHA-256 over (uint32 big-endian sequence number ‖ the whole plaintext packet), appended
//   after the ciphertext ("encrypt-and-MAC", not the -etm variant).

/// The 128-bit big-endian CTR counter of one direction.
struct CTRCounter {
    private var high: UInt64
    private var low: UInt64

    init(iv: [UInt8]) throws {
        guard iv.count == 16 else { throw SimulatorTransportError.invalidIVSize(iv.count) }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for byte in iv[0..<8] { high = high << 8 | UInt64(byte) }
        for byte in iv[8..<16] { low = low << 8 | UInt64(byte) }
        self.high = high
        self.low = low
    }

    /// The counter block as a CTR nonce.
    func nonce() throws -> AES._CTR.Nonce {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
            bytes[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i)))
        }
        return try AES._CTR.Nonce(nonceBytes: bytes)
    }

    /// Moves the counter past `blocks` cipher blocks (the counter is one 128-bit integer).
    mutating func advance(blocks: Int) {
        let (sum, overflow) = low.addingReportingOverflow(UInt64(blocks))
        low = sum
        if overflow { high &+= 1 }
    }
}

/// Errors of the simulator's own transport protection (swift-nio-ssh's `NIOSSHError` cannot be built outside it).
enum SimulatorTransportError: Error, CustomStringConvertible {
    case invalidKeySize(expected: Int, got: Int)
    case invalidIVSize(Int)
    case invalidPacketLength(Int)
    case macMismatch
    case invalidPadding

    var description: String {
        switch self {
        case .invalidKeySize(let expected, let got): "AES-CTR: key of \(got) bytes, expected \(expected)"
        case .invalidIVSize(let size): "AES-CTR: IV of \(size) bytes, expected 16"
        case .invalidPacketLength(let length): "AES-CTR: packet of \(length) bytes is not a whole number of blocks"
        case .macMismatch: "hmac-sha2-256: the packet's MAC does not verify"
        case .invalidPadding: "AES-CTR: invalid padding length"
        }
    }
}

/// AES-CTR + HMAC-SHA-256. Subclassed once per key size; the class itself is never negotiated.
class AESCTRHMACSHA256TransportProtection {
    private static let macLength = 32
    private static let blockSize = 16

    private var inboundKey: SymmetricKey
    private var outboundKey: SymmetricKey
    private var inboundMACKey: SymmetricKey
    private var outboundMACKey: SymmetricKey
    private var inboundCounter: CTRCounter
    private var outboundCounter: CTRCounter

    class var cipherName: String { preconditionFailure("subclasses name the cipher") }
    class var keySizes: ExpectedKeySizes { preconditionFailure("subclasses give the key sizes") }

    required init(initialKeys: NIOSSHSessionKeys) throws {
        try Self.validate(initialKeys)
        inboundKey = initialKeys.inboundEncryptionKey
        outboundKey = initialKeys.outboundEncryptionKey
        inboundMACKey = initialKeys.inboundMACKey
        outboundMACKey = initialKeys.outboundMACKey
        inboundCounter = try CTRCounter(iv: initialKeys.initialInboundIV)
        outboundCounter = try CTRCounter(iv: initialKeys.initialOutboundIV)
    }

    private static func validate(_ keys: NIOSSHSessionKeys) throws {
        let expected = keySizes.encryptionKeySize
        for key in [keys.inboundEncryptionKey, keys.outboundEncryptionKey] where key.bitCount != expected * 8 {
            throw SimulatorTransportError.invalidKeySize(expected: expected, got: key.bitCount / 8)
        }
        for key in [keys.inboundMACKey, keys.outboundMACKey] where key.bitCount != macLength * 8 {
            throw SimulatorTransportError.invalidKeySize(expected: macLength, got: key.bitCount / 8)
        }
    }

    /// CTR-transforms `length` bytes of `buffer` at `index` in place with `counter`, then advances the counter.
    private static func transform(
        _ buffer: inout ByteBuffer, at index: Int, length: Int, key: SymmetricKey, counter: inout CTRCounter
    ) throws {
        guard length > 0 else { return }
        guard length % blockSize == 0, let view = buffer.viewBytes(at: index, length: length) else {
            throw SimulatorTransportError.invalidPacketLength(length)
        }
        let output = try AES._CTR.encrypt(view, using: key, nonce: counter.nonce())
        output.withUnsafeBytes { _ = buffer.setBytes($0, at: index) }
        counter.advance(blocks: length / blockSize)
    }

    /// `bytes` CTR-transformed with `counter` (for tests).
    static func keystream(_ bytes: [UInt8], key: SymmetricKey, counter: CTRCounter) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        var counter = counter
        try transform(&buffer, at: buffer.readerIndex, length: bytes.count, key: key, counter: &counter)
        return Array(buffer.readableBytesView)
    }

    private static func mac(
        sequenceNumber: UInt32, packet: ByteBuffer, at index: Int, length: Int, key: SymmetricKey
    ) -> HashedAuthenticationCode<SHA256> {
        var hmac = HMAC<SHA256>(key: key)
        withUnsafeBytes(of: sequenceNumber.bigEndian) { hmac.update(data: $0) }
        packet.withUnsafeReadableBytes { bytes in
            let start = index - packet.readerIndex
            hmac.update(data: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
        }
        return hmac.finalize()
    }
}

extension AESCTRHMACSHA256TransportProtection: NIOSSHTransportProtection {
    static var macName: String? { "hmac-sha2-256" }
    static var cipherBlockSize: Int { blockSize }
    var macBytes: Int { Self.macLength }
    var lengthEncrypted: Bool { true }

    func updateKeys(_ newKeys: NIOSSHSessionKeys) throws {
        try Self.validate(newKeys)
        inboundKey = newKeys.inboundEncryptionKey
        outboundKey = newKeys.outboundEncryptionKey
        inboundMACKey = newKeys.inboundMACKey
        outboundMACKey = newKeys.outboundMACKey
        inboundCounter = try CTRCounter(iv: newKeys.initialInboundIV)
        outboundCounter = try CTRCounter(iv: newKeys.initialOutboundIV)
    }

    func decryptFirstBlock(_ source: inout ByteBuffer) throws {
        // Called once per packet with at least one block readable: decrypt it in place so the parser can read the
        // length from the first four bytes.
        try Self.transform(
            &source, at: source.readerIndex, length: Self.blockSize, key: inboundKey, counter: &inboundCounter)
    }

    func decryptAndVerifyRemainingPacket(_ source: inout ByteBuffer, sequenceNumber: UInt32) throws -> ByteBuffer {
        // `source` is exactly one packet: length ‖ padding length ‖ payload ‖ padding ‖ MAC, first block in clear.
        let start = source.readerIndex
        let packetLength = source.readableBytes - Self.macLength
        guard packetLength >= Self.blockSize, packetLength % Self.blockSize == 0 else {
            throw SimulatorTransportError.invalidPacketLength(packetLength)
        }
        try Self.transform(
            &source, at: start + Self.blockSize, length: packetLength - Self.blockSize, key: inboundKey,
            counter: &inboundCounter)

        let expected = Self.mac(
            sequenceNumber: sequenceNumber, packet: source, at: start, length: packetLength, key: inboundMACKey)
        guard let received = source.viewBytes(at: start + packetLength, length: Self.macLength),
            expected == Data(received)  // HashedAuthenticationCode's == is constant-time
        else {
            throw SimulatorTransportError.macMismatch
        }

        guard let paddingLength = source.getInteger(at: start + 4, as: UInt8.self), paddingLength >= 4 else {
            throw SimulatorTransportError.invalidPadding
        }
        let payloadLength = packetLength - 5 - Int(paddingLength)
        guard payloadLength >= 0, let payload = source.getSlice(at: start + 5, length: payloadLength) else {
            throw SimulatorTransportError.invalidPadding
        }
        source.moveReaderIndex(forwardBy: source.readableBytes)
        return payload
    }

    func encryptPacket(_ destination: inout ByteBuffer, sequenceNumber: UInt32) throws {
        // The readable bytes are one whole plaintext packet (length included): MAC it, encrypt it, append the MAC.
        let start = destination.readerIndex
        let length = destination.readableBytes
        let mac = Self.mac(
            sequenceNumber: sequenceNumber, packet: destination, at: start, length: length, key: outboundMACKey)
        try Self.transform(&destination, at: start, length: length, key: outboundKey, counter: &outboundCounter)
        mac.withUnsafeBytes { _ = destination.writeBytes($0) }
    }
}

/// `aes128-ctr` with `hmac-sha2-256`.
final class AES128CTRTransportProtection: AESCTRHMACSHA256TransportProtection, _NIOSSHSendableMetatype {
    override class var cipherName: String { "aes128-ctr" }
    override class var keySizes: ExpectedKeySizes { .init(ivSize: 16, encryptionKeySize: 16, macKeySize: 32) }
}

/// `aes256-ctr` with `hmac-sha2-256`.
final class AES256CTRTransportProtection: AESCTRHMACSHA256TransportProtection, _NIOSSHSendableMetatype {
    override class var cipherName: String { "aes256-ctr" }
    override class var keySizes: ExpectedKeySizes { .init(ivSize: 16, encryptionKeySize: 32, macKeySize: 32) }
}

enum SimulatorTransportSchemes {
    /// swift-nio-ssh's AES-GCM schemes first (OpenSSH picks by its own order anyway), then AES-CTR for libssh2.
    static var all: [any NIOSSHTransportProtection.Type] {
        NIOSSH.Constants.bundledTransportProtectionSchemes.map { $0 } + [
            AES256CTRTransportProtection.self, AES128CTRTransportProtection.self,
        ]
    }
}
