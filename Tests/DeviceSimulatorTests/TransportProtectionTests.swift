import Crypto
@testable import DeviceSimulator
import NIOCore
import NIOSSH
import Testing

/// The aes-ctr + hmac-sha2-256 transport protection on its own (the libssh2 and OpenSSH tests show it
/// interoperates; these pin the parts a short session does not reach).
@Suite("AES-CTR transport protection")
struct TransportProtectionTests {
    @Test("the 128-bit counter carries from the low into the high 64 bits")
    func counterCarry() throws {
        var counter = try CTRCounter(iv: [0, 0, 0, 0, 0, 0, 0, 1] + [UInt8](repeating: 0xFF, count: 8))
        counter.advance(blocks: 1)
        let expected = try CTRCounter(iv: [0, 0, 0, 0, 0, 0, 0, 2] + [UInt8](repeating: 0, count: 8))
        // Same nonce ⇒ same keystream.
        let key = SymmetricKey(size: .bits128)
        let zeros = [UInt8](repeating: 0, count: 16)
        #expect(
            try AESCTRHMACSHA256TransportProtection.keystream(zeros, key: key, counter: counter)
                == AESCTRHMACSHA256TransportProtection.keystream(zeros, key: key, counter: expected))
        #expect(throws: SimulatorTransportError.self) { try CTRCounter(iv: [1, 2, 3]) }
    }

    /// Keys as the other side sees them.
    static func keys(swapped: Bool, keySize: Int) -> NIOSSHSessionKeys {
        let ivA = [UInt8](repeating: 1, count: 16)
        let ivB = [UInt8](repeating: 2, count: 16)
        let encA = SymmetricKey(data: [UInt8](repeating: 3, count: keySize))
        let encB = SymmetricKey(data: [UInt8](repeating: 4, count: keySize))
        let macA = SymmetricKey(data: [UInt8](repeating: 5, count: 32))
        let macB = SymmetricKey(data: [UInt8](repeating: 6, count: 32))
        return swapped
            ? NIOSSHSessionKeys(
                initialInboundIV: ivB, initialOutboundIV: ivA, inboundEncryptionKey: encB, outboundEncryptionKey: encA,
                inboundMACKey: macB, outboundMACKey: macA)
            : NIOSSHSessionKeys(
                initialInboundIV: ivA, initialOutboundIV: ivB, inboundEncryptionKey: encA, outboundEncryptionKey: encB,
                inboundMACKey: macA, outboundMACKey: macB)
    }

    /// A plaintext packet: length ‖ padding length ‖ payload ‖ padding, a whole number of blocks.
    static func packet(_ payload: [UInt8]) -> ByteBuffer {
        var padding = 16 - (4 + 1 + payload.count) % 16
        if padding < 4 { padding += 16 }
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1 + payload.count + padding))
        buffer.writeInteger(UInt8(padding))
        buffer.writeBytes(payload)
        buffer.writeBytes([UInt8](repeating: 0xAB, count: padding))
        return buffer
    }

    @Test("packets round-trip across several sequence numbers; a flipped bit fails the MAC", arguments: [16, 32])
    func roundTrip(keySize: Int) throws {
        let sender: any NIOSSHTransportProtection =
            keySize == 16
            ? try AES128CTRTransportProtection(initialKeys: Self.keys(swapped: false, keySize: 16))
            : try AES256CTRTransportProtection(initialKeys: Self.keys(swapped: false, keySize: 32))
        let receiver: any NIOSSHTransportProtection =
            keySize == 16
            ? try AES128CTRTransportProtection(initialKeys: Self.keys(swapped: true, keySize: 16))
            : try AES256CTRTransportProtection(initialKeys: Self.keys(swapped: true, keySize: 32))
        for (sequence, size) in [(UInt32(3), 1), (4, 100), (5, 4000), (6, 15)] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            var wire = Self.packet(payload)
            let plaintextLength = wire.readableBytes
            try sender.encryptPacket(&wire, sequenceNumber: sequence)
            #expect(wire.readableBytes == plaintextLength + 32)
            try receiver.decryptFirstBlock(&wire)
            #expect(wire.getInteger(at: wire.readerIndex, as: UInt32.self) == UInt32(plaintextLength - 4))
            let decrypted = try receiver.decryptAndVerifyRemainingPacket(&wire, sequenceNumber: sequence)
            #expect(Array(decrypted.readableBytesView) == payload)
            #expect(wire.readableBytes == 0)
        }
        var tampered = Self.packet([1, 2, 3])
        try sender.encryptPacket(&tampered, sequenceNumber: 7)
        let last = tampered.writerIndex - 40
        tampered.setInteger(tampered.getInteger(at: last, as: UInt8.self)! ^ 1, at: last)
        try receiver.decryptFirstBlock(&tampered)
        #expect(throws: SimulatorTransportError.self) {
            _ = try receiver.decryptAndVerifyRemainingPacket(&tampered, sequenceNumber: 7)
        }
    }
}
