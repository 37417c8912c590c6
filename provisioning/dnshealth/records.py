"""The content of TXT records: DMARC and DKIM tag lists, and DKIM public keys (no DNS)."""

import base64

from accounts.models import DnsLevel

# Pure functions: `provisioning.dnshealth.mail` asks the DNS, these read what came back.
OK, WARNING, ERROR = DnsLevel.OK, DnsLevel.WARNING, DnsLevel.ERROR


def dkim_key(key: dict) -> tuple[str, str]:
    """(level, French sentence) for the tags of a DKIM key record."""
    kind = key.get("k", "rsa").lower()
    public = "".join(key.get("p", "").split())
    if key.get("v", "DKIM1") != "DKIM1":
        return ERROR, f"v={key['v']} au lieu de v=DKIM1."
    if not public:
        return ERROR, "la clé est révoquée (p= vide)."
    try:
        der = base64.b64decode(public, validate=True)
        bits = 256 if kind == "ed25519" and len(der) == 32 else rsa_key_bits(der)
    except ValueError:
        return ERROR, f"la clé (k={kind}) est illisible : p= n'est pas une clé publique valide."
    if kind == "ed25519":
        return (
            WARNING,
            "clé Ed25519 seule : Gmail et Microsoft ne la vérifient pas ; publiez aussi "
            "une clé RSA de 2048 bits.",
        )
    if kind != "rsa":
        return ERROR, f"type de clé k={kind} inconnu (rsa attendu)."
    if bits < 1024:
        return (
            ERROR,
            f"clé RSA de {bits} bits, trop courte : les destinataires l'ignorent "
            "(1024 au minimum, 2048 recommandés).",
        )
    if bits < 2048:
        return WARNING, f"clé RSA de {bits} bits : acceptée, mais 2048 bits sont recommandés."
    return OK, f"clé RSA de {bits} bits publiée."


def rsa_key_bits(der: bytes) -> int:
    """The modulus length of an RSA public key: SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey."""
    tag, body, _end = _der(der, 0)
    if tag != 0x30:
        raise ValueError("not a DER sequence")
    tag, first, after = _der(body, 0)
    if tag == 0x30:  # SubjectPublicKeyInfo: algorithm, then a BIT STRING holding RSAPublicKey
        if b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01" not in first:
            raise ValueError("not an rsaEncryption key")
        tag, bits, _end = _der(body, after)
        if tag != 0x03:
            raise ValueError("no BIT STRING")
        tag, body, _end = _der(bits[1:], 0)
        tag, first, _after = _der(body, 0)
    if tag != 0x02:
        raise ValueError("no modulus")
    return int.from_bytes(first, "big").bit_length()


def _der(data: bytes, position: int) -> tuple[int, bytes, int]:
    if position + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[position], data[position + 1]
    position += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[position : position + size], "big")
        position += size
    if position + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[position : position + length], position + length


def tags(text: str) -> dict:
    """`v=DMARC1; p=none` → {"v": "DMARC1", "p": "none"} (tag names lowercased)."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {name.strip().lower(): value.strip() for name, value in pairs}
