# The values pinned in proto/tests/golden_audit.rs, computed without Assent's
# code (run: python3 proto/tests/golden/audit_vectors.py; needs pyca/cryptography).
# SHA-256 from hashlib; XChaCha20-Poly1305 = HChaCha20 subkey + ChaCha20-Poly1305
# (draft-irtf-cfrg-xchacha), using pyca/cryptography for the latter.
import hashlib, struct
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

def rotl(v, c): return ((v << c) & 0xffffffff) | (v >> (32 - c))
def qr(s, a, b, c, d):
    s[a]=(s[a]+s[b])&0xffffffff; s[d]=rotl(s[d]^s[a],16)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]=rotl(s[b]^s[c],12)
    s[a]=(s[a]+s[b])&0xffffffff; s[d]=rotl(s[d]^s[a],8)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]=rotl(s[b]^s[c],7)
def hchacha20(key, nonce16):
    s = [0x61707865,0x3320646e,0x79622d32,0x6b206574] + list(struct.unpack('<8I', key)) + list(struct.unpack('<4I', nonce16))
    for _ in range(10):
        qr(s,0,4,8,12); qr(s,1,5,9,13); qr(s,2,6,10,14); qr(s,3,7,11,15)
        qr(s,0,5,10,15); qr(s,1,6,11,12); qr(s,2,7,8,13); qr(s,3,4,9,14)
    return struct.pack('<8I', *(s[0:4] + s[12:16]))
# draft-irtf-cfrg-xchacha-03 section 2.2.1 test vector
kv = bytes(range(32)); nv = bytes.fromhex('000000090000004a0000000031415927')
assert hchacha20(kv, nv).hex() == '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc'
def xseal(key, nonce24, aad, pt):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b'\0'*4 + nonce24[16:], pt, aad)

DOMAIN = b'assent/1 audit'
key = bytes(range(32))
host = '00000006' + b'H-1234'.hex()
session = '11'*32
p0 = ''.join(['0000000000000000', '0000018f12345678', '00'*32, '04', host, session, '02', '01'])
p0 = bytes.fromhex(p0)
h0 = hashlib.sha256(DOMAIN + p0).digest()
p1 = ''.join(['0000000000000001', '0000018f12345a60', h0.hex(), '0a', host, session, '00000008' + b'finished'.hex()])
p1 = bytes.fromhex(p1)
h1 = hashlib.sha256(DOMAIN + p1).digest()
n0 = bytes(range(0x40, 0x58)); n1 = bytes(range(0x60, 0x78))
c0 = xseal(key, n0, DOMAIN + struct.pack('>Q', 0), p0)
c1 = xseal(key, n1, DOMAIN + struct.pack('>Q', 1), p1)
print('len p0', len(p0), 'p1', len(p1))
print('hash0', h0.hex()); print('hash1', h1.hex())
print('nonce0', n0.hex()); print('nonce1', n1.hex())
print('ct0', len(c0), c0[:-16].hex(), 'tag', c0[-16:].hex())
print('ct1', len(c1), c1[:-16].hex(), 'tag', c1[-16:].hex())
