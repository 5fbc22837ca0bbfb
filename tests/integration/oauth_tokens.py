#!/usr/bin/python3
"""A tiny stand-in identity provider for OAuth tests and manual trials:
RSA and EC P-256 signing keys generated on the spot (never committed), the
JWKS file Rampart reads ([oauth] jwks_file), and tokens minted with
python3-jwt (RS256, ES256) or by hand for the attacks python3-jwt refuses
to produce (alg none, HS256 keyed with the public key).

As a library (tests/integration/test_oauth.py):

    idp = Issuer("https://idp.test/realms/mail", "rampart-imap")
    idp.write_jwks("/path/jwks.json")
    token = idp.mint("alice")                      # RS256, valid for 5 min
    token = idp.mint("alice", alg="ES256", exp=-3600)

As a command, to try a server by hand (docs/security.md):

    oauth_tokens.py init DIR --issuer ISS --audience AUD   # keys + DIR/jwks.json
    oauth_tokens.py mint DIR USER [--alg ES256] [--ttl 300] [--claim NAME]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(kind):
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key, kid, **extra):
    """The public JWK of a private key, as a dict."""
    pub = key.public_key()
    text = RSAAlgorithm.to_jwk(pub) if isinstance(pub, rsa.RSAPublicKey) else ECAlgorithm.to_jwk(pub)
    jwk = json.loads(text)
    if jwk["kty"] == "EC":
        # RFC 7518 6.2.1.2: full-length coordinates (PyJWT 2.6 drops
        # leading zero bytes, one key in 128)
        nums = pub.public_numbers()
        jwk["x"], jwk["y"] = (b64url(v.to_bytes(32, "big")) for v in (nums.x, nums.y))
    jwk.update(kid=kid, use="sig", **extra)
    return jwk


class Issuer:
    """Signing keys for one issuer and audience; mints access tokens."""

    def __init__(self, issuer, audience, username_claim="preferred_username"):
        self.issuer = issuer
        self.audience = audience
        self.username_claim = username_claim
        self.keys = {"rsa1": new_key("RSA"), "ec1": new_key("EC")}

    def jwks(self, kids=None):
        kids = kids if kids is not None else list(self.keys)
        return {"keys": [public_jwk(self.keys[k], k) for k in kids]}

    def write_jwks(self, path, kids=None, text=None):
        """Writes the JWKS (or raw text) atomically, world-readable: the
        server reads it as its unprivileged run user."""
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text if text is not None else json.dumps(self.jwks(kids)))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def rotate(self, kid, kind="RSA"):
        self.keys[kid] = new_key(kind)

    def claims(self, user, exp=300, **over):
        now = int(time.time())
        c = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + exp,
             "sub": "id-" + user, self.username_claim: user, "scope": "openid email"}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def mint(self, user, alg=None, kid=None, exp=300, key=None, **over):
        """A signed JWT. alg defaults to the key type's (RS256 for rsa1,
        ES256 for ec1); key signs instead of the kid's own key (a forgery)."""
        kid = kid or ("ec1" if alg == "ES256" else "rsa1")
        alg = alg or ("ES256" if kid.startswith("ec") else "RS256")
        signer = key if key is not None else self.keys[kid]
        return jwt.encode(self.claims(user, exp, **over), signer, algorithm=alg,
                          headers={"kid": kid, "typ": "at+jwt"})

    def mint_none(self, user):
        """alg "none" (RFC 7519 6.1): no signature at all."""
        h = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        p = b64url(json.dumps(self.claims(user)).encode())
        return "%s.%s." % (h, p)

    def mint_hs256_confusion(self, user, kid="rsa1"):
        """HS256 with the RSA public key (PEM) as the HMAC secret: the
        classic alg-confusion forgery, which anyone holding the JWKS can
        make."""
        pem = self.keys[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        h = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        p = b64url(json.dumps(self.claims(user)).encode())
        sig = hmac.new(pem, ("%s.%s" % (h, p)).encode(), hashlib.sha256).digest()
        return "%s.%s.%s" % (h, p, b64url(sig))


def oauthbearer_message(token, authzid=None, host="127.0.0.1", port=993):
    """RFC 7628 3.1 client response (before SASL base64)."""
    gs2 = "n,a=%s," % authzid.replace("=", "=3D").replace(",", "=2C") if authzid else "n,,"
    return ("%s\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (gs2, host, port, token)).encode()


def xoauth2_message(user, token):
    return ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()


# ---- command line: keys kept in DIR, for trying a server by hand ----

def _save(directory, idp):
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for kid, key in idp.keys.items():
        with open(os.path.join(directory, kid + ".pem"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(os.path.join(directory, kid + ".pem"), 0o600)
    with open(os.path.join(directory, "issuer.json"), "w") as f:
        json.dump({"issuer": idp.issuer, "audience": idp.audience,
                   "username_claim": idp.username_claim}, f)
    idp.write_jwks(os.path.join(directory, "jwks.json"))


def _load(directory):
    with open(os.path.join(directory, "issuer.json")) as f:
        meta = json.load(f)
    idp = Issuer(meta["issuer"], meta["audience"], meta["username_claim"])
    for kid in list(idp.keys):
        with open(os.path.join(directory, kid + ".pem"), "rb") as f:
            idp.keys[kid] = serialization.load_pem_private_key(f.read(), None)
    return idp


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="generate keys and DIR/jwks.json")
    i.add_argument("dir")
    i.add_argument("--issuer", default="https://idp.example.test/realms/mail")
    i.add_argument("--audience", default="rampart-imap")
    i.add_argument("--claim", default="preferred_username", help="username claim")
    m = sub.add_parser("mint", help="print a token for USER")
    m.add_argument("dir")
    m.add_argument("user")
    m.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    m.add_argument("--ttl", type=int, default=300, help="seconds until exp (negative: expired)")
    a = ap.parse_args(argv)
    if a.cmd == "init":
        _save(a.dir, Issuer(a.issuer, a.audience, a.claim))
        print(os.path.join(a.dir, "jwks.json"))
    else:
        print(_load(a.dir).mint(a.user, alg=a.alg, exp=a.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
