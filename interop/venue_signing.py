"""Exchange request-signature interop: recompute Tradekeep's venue signatures with the exchanges' own SDKs.

Request (stdin, one JSON object):
    {"cases": [CASE, ...]}                  check each case with every SDK that applies
    {"mode": "vectors"}                     check /work/shared/vectors/venues.json (binance_spot_hmac, kraken_spot);
                                            optional "vectors_path" overrides where the file is looked for
Response (stdout, one JSON object):
    {"results": [{"index": i, "venue": v, "sdk": "<package==version and function>", "expected": <what the SDK
                  produced>, "ok": bool, ["note": str], ["checks": {name: bool}], ["vector": name]}, ...],
     "skipped": [{"index": i, "venue": v, "sdk": ..., "reason": str}, ...]}
    "skipped" lists SDK paths that could not be made to sign the identical string (never counted as a failure).
Exit 0 whatever the verdicts; exit 2 (message on stderr) for malformed input; exit 3 for a missing SDK.
`python3 venue_signing.py --self-test` generates cases the documented way (plain hmac/hashlib/cryptography),
checks them, checks that one-character changes fail, and prints 'N passed, N failed'.

CASE shapes (our Swift code produced "signature"):
    binance:  {"venue":"binance","secret","payload","signature":hex}            (optional "method")
    bybit:    {"venue":"bybit","api_key","secret","timestamp":ms,"recv_window","payload","signature":hex}
              (optional "method"; default POST when payload starts with "{", else GET)
    okx:      {"venue":"okx","secret","timestamp":"2020-12-08T09:08:57.715Z","method","request_path","body",
               "signature":base64}
    kraken:   {"venue":"kraken","secret_base64","nonce","post_data","uri_path","signature":base64}
    coinbase: {"venue":"coinbase","jwt","public_key_pem","key_name","method","host","path","algorithm":"ES256|EdDSA"}
              (optional "private_key_pem" (PEM, or base64 raw Ed25519 as Coinbase issues it) to also build the
               SDK's own JWT; optional "now" (unix seconds) and "leeway" (seconds, default 60) for time checks)

Signing rules, as each SDK implements them (python-binance 1.0.37, pybit 5.17.0, python-okx 0.4.4,
coinbase-advanced-py 1.8.4, PyJWT 2.10.1, ccxt 4.5.64 as pinned in requirements.txt -- the newest ccxt that installs
beside cryptography==48.0.0 -- and also checked with ccxt 4.5.90; sign() takes api as a string in 4.5.64 and as a
list in 4.5.90, handled by ccxt_sign()):
  binance  : hex(HMAC-SHA256(secret, query string exactly as sent)); python-binance SORTS params by key and
             percent-encodes only the symbol value before signing (and sends them in that order); ccxt puts
             timestamp FIRST, then params in insertion order, recvWindow (options default 10000) appended last.
  bybit v5 : hex(HMAC-SHA256(secret, timestamp + api_key + recv_window + payload)); payload = query string for GET,
             raw JSON body for POST. pybit builds GET as key-sorted k=v (unencoded) and POST as json.dumps() with
             ", "/": " separators; ccxt builds GET in insertion order and POST as compact JSON.
  okx      : base64(HMAC-SHA256(secret, timestamp + METHOD + request_path(+?query) + body)); timestamp is ISO-8601
             UTC with milliseconds and "Z" (utils.get_timestamp); body "" for GET. python-okx itself sends GET
             params unencoded in insertion order (empty values dropped) and POST bodies as json.dumps() WITH spaces;
             ccxt urlencodes GET params, writes compact JSON, and injects clOrdId+tag (its broker id) into POST
             trade/order bodies that lack clOrdId.
  kraken   : base64(HMAC-SHA512(b64decode(secret), uri_path + SHA256(nonce + post_data))) (ccxt; nonce first in
             the body; ccxt 4.5.90 uses incrementing_nonce() so a repeated nonce gets bumped, 4.5.64 uses nonce()).
  coinbase : coinbase-advanced-py jwt_generator.build_rest_jwt: PyJWT encode, header {alg, typ:"JWT", kid:key name,
             nonce: secrets.token_hex() (64 hex chars)}, claims {sub:key name, iss:"cdp", nbf, exp:nbf+120,
             uri:"METHOD host/path"}; key: PEM EC P-256 -> ES256, PEM/base64 Ed25519 (32 or 64 raw bytes) -> EdDSA.
             ccxt's coinbase differs: ES256 keys get the legacy claims {iss:"coinbase-cloud",
             aud:["retail_rest_api_proxy"], iat, uri}, Ed25519 keys {iss:"cdp", aud:["cdp_service"], iat, uris:[..]}.
"""
import base64
import contextlib
import copy
import hashlib
import hmac
import inspect
import json
import os
import socket
import sys
import time
from collections import OrderedDict
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit


class InputError(Exception):
    pass


class MissingSDK(Exception):
    pass


# --- no network, ever: every SDK call here is offline; make any attempt fail loudly ----------------------------------
def _no_network(*_args, **_kwargs):
    raise RuntimeError("venue_signing.py must not touch the network")


socket.socket.connect = _no_network
socket.socket.connect_ex = _no_network
socket.create_connection = _no_network
socket.getaddrinfo = _no_network

_REAL_STDOUT = sys.stdout
_SDKS = {}


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def sdk(name):
    """Import an SDK lazily (SDKs print and log; keep stdout clean); raise MissingSDK if it is not installed."""
    if name in _SDKS:
        return _SDKS[name]
    with contextlib.redirect_stdout(sys.stderr):
        try:
            if name == "binance":
                from binance.client import Client
                mod = (Client, "python-binance==" + _version("python-binance"))
            elif name == "pybit":
                from pybit import _helpers
                from pybit.unified_trading import HTTP
                mod = ((HTTP, _helpers), "pybit==" + _version("pybit"))
            elif name == "okx":
                from okx import utils
                mod = (utils, "python-okx==" + _version("python-okx"))
            elif name == "coinbase":
                from coinbase import jwt_generator
                mod = (jwt_generator, "coinbase-advanced-py==" + _version("coinbase-advanced-py"))
            elif name == "ccxt":
                import ccxt
                mod = (ccxt, "ccxt==" + ccxt.__version__)
            elif name == "jwt":
                import jwt
                mod = (jwt, "PyJWT==" + jwt.__version__)
            else:
                raise KeyError(name)
        except ImportError as error:
            raise MissingSDK(f"{name}: {error} (pip install -r interop/requirements.txt)") from error
    _SDKS[name] = mod
    return mod


def _field(case, key, kind=str, optional=False, default=None):
    if key not in case or case[key] is None:
        if optional:
            return default
        raise InputError(f"case is missing {key!r}: {json.dumps(case)[:200]}")
    value = case[key]
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind):
        raise InputError(f"case field {key!r} must be {kind.__name__}")
    return value


def _ordered_query(query):
    """Parse a query string into an OrderedDict, or None when a key repeats (cannot be a dict of params)."""
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    params = OrderedDict()
    for key, value in pairs:
        if key in params:
            return None
        params[key] = value
    return params


def ccxt_sign(exchange, path, api, method, params):
    """exchange.sign(): ccxt takes api as a list (['private']) in newer 4.5.x, a string ('private') in older ones."""
    default = inspect.signature(exchange.sign).parameters["api"].default
    return exchange.sign(path, api[0] if isinstance(default, str) and len(api) == 1 else api, method, params)


def _fixed_time_exchange(cls, config, millis):
    exchange = cls(config)
    exchange.nonce = lambda: millis
    exchange.milliseconds = lambda: millis
    exchange.seconds = lambda: millis // 1000
    return exchange


# --- binance ---------------------------------------------------------------------------------------------------------
def check_binance(case, out, skip):
    secret, payload, ours = _field(case, "secret"), _field(case, "payload"), _field(case, "signature")
    Client, version = sdk("binance")
    with contextlib.redirect_stdout(sys.stderr):
        client = Client(api_key="tradekeep-interop", api_secret=secret, ping=False)
    expected = client._hmac_signature(payload)
    out("binance", f"{version} BaseClient._hmac_signature(payload as sent)", expected, hmac.compare_digest(expected, ours))

    params = _ordered_query(payload)
    if params is None:
        skip("binance", f"{version} BaseClient._generate_signature", "payload repeats a key; not a dict of params")
    else:
        seen = []
        original = client._hmac_signature
        client._hmac_signature = lambda query: (seen.append(query), original(query))[1]
        try:
            generated = client._generate_signature(dict(params), uri_encode=False)
        finally:
            client._hmac_signature = original
        if seen and seen[0] == payload:
            out("binance", f"{version} BaseClient._generate_signature(params)", generated, hmac.compare_digest(generated, ours),
                note="payload is in python-binance's own order (keys sorted, only symbol percent-encoded)")
        else:
            skip("binance", f"{version} BaseClient._generate_signature",
                 "python-binance sorts params by key (and percent-encodes only symbol) before signing; it would sign "
                 f"{seen[0] if seen else '?'!r}, not our payload; compared the raw HMAC path instead")

    ccxt, ccxt_version = sdk("ccxt")
    for ccxt_id, api, path in (("binance", "private", "account"), ("binanceusdm", "fapiPrivate", "account")):
        name = f"{ccxt_version} {ccxt_id}.sign()"
        if params is None or "timestamp" not in params or not params["timestamp"].isdigit():
            skip("binance", name, "payload has no numeric timestamp (or repeats a key)")
            continue
        millis = int(params["timestamp"])
        rest = OrderedDict((k, v) for k, v in params.items() if k != "timestamp")
        exchange = _fixed_time_exchange(getattr(ccxt, ccxt_id), {"apiKey": "tradekeep-interop", "secret": secret}, millis)
        exchange.options["recvWindow"] = None  # only the recvWindow in our payload, if any
        signed = ccxt_sign(exchange, path, [api], "GET", rest)
        query, _, signature = signed["url"].split("?", 1)[1].rpartition("&signature=")
        if query != payload:
            skip("binance", name, "ccxt builds timestamp first, then params in order (urlencoded); it would sign "
                                  f"{query!r}, not our payload")
            continue
        out("binance", name, signature, hmac.compare_digest(signature, ours))


# --- bybit -----------------------------------------------------------------------------------------------------------
def check_bybit(case, out, skip):
    api_key, secret = _field(case, "api_key"), _field(case, "secret")
    timestamp, recv_window = _field(case, "timestamp"), _field(case, "recv_window")
    payload, ours = _field(case, "payload"), _field(case, "signature")
    method = _field(case, "method", optional=True, default="POST" if payload.lstrip().startswith("{") else "GET").upper()
    if not timestamp.isdigit() or not recv_window.isdigit():
        raise InputError("bybit timestamp and recv_window must be decimal integers")
    (HTTP, helpers), version = sdk("pybit")
    with contextlib.redirect_stdout(sys.stderr):
        session = HTTP(api_key=api_key, api_secret=secret, recv_window=int(recv_window))
    real_timestamp = helpers.generate_timestamp
    helpers.generate_timestamp = lambda: int(timestamp)
    try:
        headers = session._prepare_headers(payload, int(recv_window))
    finally:
        helpers.generate_timestamp = real_timestamp
    expected = headers["X-BAPI-SIGN"]
    same_headers = headers["X-BAPI-TIMESTAMP"] == timestamp and headers["X-BAPI-RECV-WINDOW"] == recv_window
    if method == "GET":
        params = _ordered_query(payload)
        would_send = session.prepare_payload("GET", dict(params)) if params is not None else None
    else:
        try:
            would_send = session.prepare_payload("POST", json.loads(payload, object_pairs_hook=OrderedDict))
        except ValueError:
            raise InputError("bybit POST payload is not JSON")
    note = ("pybit would send this exact payload" if would_send == payload else
            f"pybit itself would send {would_send!r} (GET: keys sorted; POST: json.dumps with spaces); the signature "
            "over our payload string is what is compared")
    out("bybit", f"{version} _V5HTTPManager._prepare_headers -> _auth -> generate_signature", expected,
        hmac.compare_digest(expected, ours) and same_headers, note=note)

    ccxt, ccxt_version = sdk("ccxt")
    name = f"{ccxt_version} bybit.sign()"
    exchange = _fixed_time_exchange(ccxt.bybit, {"apiKey": api_key, "secret": secret}, int(timestamp))
    exchange.options["recvWindow"] = int(recv_window)
    if method == "GET":
        params = _ordered_query(payload)
        if params is None:
            skip("bybit", name, "query repeats a key")
            return
        signed = ccxt_sign(exchange, "v5/order/realtime", ["private"], "GET", params)
        built = signed["url"].split("?", 1)[1] if "?" in signed["url"] else ""
    else:
        body = json.loads(payload, object_pairs_hook=OrderedDict)
        signed = ccxt_sign(exchange, "v5/order/create", ["private"], "POST", body)
        built = signed["body"]
    if built != payload:
        skip("bybit", name, f"ccxt would sign {built!r} (GET: insertion order, unencoded; POST: compact JSON), "
                            "not our payload")
        return
    out("bybit", name, signed["headers"]["X-BAPI-SIGN"], hmac.compare_digest(signed["headers"]["X-BAPI-SIGN"], ours))


# --- okx -------------------------------------------------------------------------------------------------------------
def _iso_to_millis(stamp):
    from datetime import datetime
    if not stamp.endswith("Z"):
        return None
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    from calendar import timegm
    return timegm(moment.timetuple()) * 1000 + moment.microsecond // 1000


def check_okx(case, out, skip):
    secret, timestamp, ours = _field(case, "secret"), _field(case, "timestamp"), _field(case, "signature")
    method, request_path = _field(case, "method").upper(), _field(case, "request_path")
    body = _field(case, "body", optional=True, default="")
    utils, version = sdk("okx")
    expected = utils.sign(utils.pre_hash(timestamp, method, request_path, body, False), secret).decode()
    out("okx", f"{version} okx.utils.sign(okx.utils.pre_hash(...))", expected, hmac.compare_digest(expected, ours))

    ccxt, ccxt_version = sdk("ccxt")
    name = f"{ccxt_version} okx.sign()"
    millis = _iso_to_millis(timestamp)
    parts = urlsplit(request_path)
    if not parts.path.startswith("/api/v5/"):
        skip("okx", name, "request_path is not under /api/v5/")
        return
    if millis is None:
        skip("okx", name, "timestamp is not YYYY-MM-DDTHH:MM:SS.mmmZ")
        return
    exchange = _fixed_time_exchange(ccxt.okx, {"apiKey": "k", "secret": secret, "password": "p"}, millis)
    path = parts.path[len("/api/v5/"):]
    if method == "GET":
        params = _ordered_query(parts.query)
        if params is None or body:
            skip("okx", name, "GET with a body or a repeated query key")
            return
    else:
        if parts.query:
            skip("okx", name, "ccxt puts POST params in the body, never in the query")
            return
        try:
            params = json.loads(body, object_pairs_hook=OrderedDict) if body else OrderedDict()
        except ValueError:
            raise InputError("okx body is not JSON")
        if not isinstance(params, dict):
            skip("okx", name, "JSON array bodies are not compared")
            return
    signed = ccxt_sign(exchange, path, ["private"], method, copy.deepcopy(params))
    built_path = signed["url"].split("okx.com", 1)[1] if "okx.com" in signed["url"] else signed["url"]
    if built_path != request_path or (signed["body"] or "") != body or signed["headers"]["OK-ACCESS-TIMESTAMP"] != timestamp:
        skip("okx", name, f"ccxt would sign path {built_path!r} body {signed['body']!r} (it urlencodes the query, "
                          "writes compact JSON, and adds clOrdId/tag to trade/order bodies that lack clOrdId)")
        return
    signature = signed["headers"]["OK-ACCESS-SIGN"]
    out("okx", name, signature, hmac.compare_digest(signature, ours))


# --- kraken ----------------------------------------------------------------------------------------------------------
def kraken_docs_signature(secret_base64, nonce, post_data, uri_path):
    digest = hashlib.sha256((nonce + post_data).encode()).digest()
    mac = hmac.new(base64.b64decode(secret_base64), uri_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def check_kraken(case, out, skip):
    secret, nonce = _field(case, "secret_base64"), _field(case, "nonce")
    post_data, uri_path, ours = _field(case, "post_data"), _field(case, "uri_path"), _field(case, "signature")
    try:
        base64.b64decode(secret, validate=True)
    except ValueError:
        raise InputError("kraken secret_base64 is not base64")
    ccxt, ccxt_version = sdk("ccxt")
    name = f"{ccxt_version} kraken.sign()"
    params = _ordered_query(post_data)
    if not uri_path.startswith("/0/private/"):
        skip("kraken", name, "uri_path is not /0/private/...")
    elif not nonce.isdigit() or params is None or list(params)[:1] != ["nonce"] or params["nonce"] != nonce:
        skip("kraken", name, "ccxt puts nonce=<nonce> first in the body; our post_data does not start with it")
    else:
        exchange = _fixed_time_exchange(ccxt.kraken, {"apiKey": "k", "secret": secret}, int(nonce))
        exchange.options["lastNonce"] = 0  # incrementing_nonce() would bump a repeated nonce
        rest = OrderedDict((k, v) for k, v in params.items() if k != "nonce")
        signed = ccxt_sign(exchange, uri_path[len("/0/private/"):], ["private"], "POST", rest)
        if signed["body"] != post_data:
            skip("kraken", name, f"ccxt would send and sign body {signed['body']!r}, not our post_data")
        else:
            signature = signed["headers"]["API-Sign"]
            out("kraken", name, signature, hmac.compare_digest(signature, ours))
    expected = kraken_docs_signature(secret, nonce, post_data, uri_path)
    out("kraken", "kraken docs algorithm (plain hashlib/hmac, second reference)", expected,
        hmac.compare_digest(expected, ours))


# --- coinbase --------------------------------------------------------------------------------------------------------
def _b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _coinbase_checks(jwt, token, public_key_pem, key_name, algorithm, uri, now, leeway):
    checks = OrderedDict()
    header, claims, verified = {}, {}, False
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, public_key_pem, algorithms=[algorithm],
                            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                                     "require": ["sub", "iss", "nbf", "exp", "uri"]})
        verified = True
    except Exception as error:  # PyJWT raises several kinds; any means "not verified"
        checks["error: " + type(error).__name__ + ": " + str(error)[:120]] = False
        try:
            header = jwt.get_unverified_header(token)
            claims = _b64url_json(token.split(".")[1])
        except Exception:
            pass
    nonce = header.get("nonce")
    checks["signature verifies with public key (PyJWT)"] = verified
    checks["header alg == algorithm"] = header.get("alg") == algorithm
    checks["header kid == key_name"] = header.get("kid") == key_name
    checks["header nonce is a hex string"] = isinstance(nonce, str) and len(nonce) > 0 and all(c in "0123456789abcdef" for c in nonce.lower())
    checks["claim sub == key_name"] = claims.get("sub") == key_name
    checks["claim iss == cdp"] = claims.get("iss") == "cdp"
    checks["claim uri == METHOD host+path"] = claims.get("uri") == uri
    nbf, exp = claims.get("nbf"), claims.get("exp")
    ints = isinstance(nbf, int) and isinstance(exp, int)
    checks["claim exp == nbf + 120"] = ints and exp == nbf + 120
    checks["claim nbf <= now (+leeway) and exp > now (-leeway)"] = ints and nbf <= now + leeway and exp > now - leeway
    return checks, header, claims


def check_coinbase(case, out, skip):
    token, public_key_pem = _field(case, "jwt"), _field(case, "public_key_pem")
    key_name, method = _field(case, "key_name"), _field(case, "method").upper()
    host, path, algorithm = _field(case, "host"), _field(case, "path"), _field(case, "algorithm")
    if algorithm not in ("ES256", "EdDSA"):
        raise InputError("coinbase algorithm must be ES256 or EdDSA")
    now = case.get("now", time.time())
    leeway = case.get("leeway", 60)
    if not isinstance(now, (int, float)) or not isinstance(leeway, (int, float)):
        raise InputError("coinbase now/leeway must be numbers")
    uri = f"{method} {host}{path}"
    jwt, jwt_version = sdk("jwt")
    checks, header, claims = _coinbase_checks(jwt, token, public_key_pem, key_name, algorithm, uri, now, leeway)
    out("coinbase", f"{jwt_version} jwt.decode (verify) + CDP header/claim rules", {"header": header, "claims": claims},
        all(checks.values()), checks=checks)

    generator, version = sdk("coinbase")
    name = f"{version} coinbase.jwt_generator.build_rest_jwt"
    private_key = case.get("private_key_pem")
    if not private_key:
        skip("coinbase", name, "no private_key_pem in the case, so the SDK cannot build its own JWT")
    else:
        sdk_uri = generator.format_jwt_uri(method, path) if host == "api.coinbase.com" else uri
        try:
            sdk_token = generator.build_rest_jwt(sdk_uri, key_name, private_key)
        except Exception as error:
            out("coinbase", name, {"error": str(error)[:300]}, False)
        else:
            sdk_checks, sdk_header, sdk_claims = _coinbase_checks(jwt, sdk_token, public_key_pem, key_name, algorithm, uri,
                                                                  time.time(), leeway)
            varying = {"nonce", "nbf", "exp"}
            compare = OrderedDict()
            compare["our JWT passes the PyJWT/CDP checks"] = all(checks.values())
            compare["SDK token passes the same checks"] = all(sdk_checks.values())
            compare["header key set identical"] = sorted(header) == sorted(sdk_header)
            compare["claim key set identical"] = sorted(claims) == sorted(sdk_claims)
            compare["header values identical except nonce"] = all(
                header.get(k) == sdk_header.get(k) for k in set(header) | set(sdk_header) if k not in varying)
            compare["claim values identical except nbf/exp"] = all(
                claims.get(k) == sdk_claims.get(k) for k in set(claims) | set(sdk_claims) if k not in varying)
            compare["nonce lengths identical"] = len(str(header.get("nonce", ""))) == len(str(sdk_header.get("nonce", "")))
            out("coinbase", name, {"jwt": sdk_token, "header": sdk_header, "claims": sdk_claims}, all(compare.values()),
                checks=compare)
    ccxt, ccxt_version = sdk("ccxt")
    skip("coinbase", f"{ccxt_version} coinbase.create_auth_token",
         "not comparable: ccxt signs ES256 keys with the legacy claim set (iss coinbase-cloud, aud "
         "retail_rest_api_proxy, iat) and Ed25519 keys with aud cdp_service + uris list")


CHECKERS = {"binance": check_binance, "bybit": check_bybit, "okx": check_okx, "kraken": check_kraken,
            "coinbase": check_coinbase}


def run_cases(cases, labels=None):
    results, skipped = [], []
    for index, case in enumerate(cases):
        if not isinstance(case, dict) or case.get("venue") not in CHECKERS:
            raise InputError(f"case {index}: not an object with venue in {sorted(CHECKERS)}")
        extra = {"vector": labels[index]} if labels else {}

        def out(venue, name, expected, ok, **more):
            results.append(dict(index=index, venue=venue, sdk=name, expected=expected, ok=bool(ok), **extra, **more))

        def skip(venue, name, reason):
            skipped.append(dict(index=index, venue=venue, sdk=name, reason=reason, **extra))

        try:
            with contextlib.redirect_stdout(sys.stderr):
                CHECKERS[case["venue"]](case, out, skip)
        except (InputError, MissingSDK):
            raise
        except (KeyError, TypeError, ValueError, UnicodeError) as error:
            raise InputError(f"case {index} ({case['venue']}): {type(error).__name__}: {error}") from error
    return {"results": results, "skipped": skipped}


def vector_cases(path=None):
    candidates = [Path(path)] if path else [
        Path(os.environ.get("TRADEKEEP_VECTORS", "")) if os.environ.get("TRADEKEEP_VECTORS") else None,
        Path(__file__).resolve().parents[2] / "shared" / "vectors" / "venues.json",
        Path("/work/shared/vectors/venues.json")]
    for candidate in filter(None, candidates):
        if candidate.is_file():
            vectors = json.loads(candidate.read_text())
            break
    else:
        raise InputError("venues.json not found (looked at " + ", ".join(str(c) for c in candidates if c) + ")")
    cases, labels = [], []
    binance = vectors["binance_spot_hmac"]
    for i, entry in enumerate(binance["cases"]):
        cases.append({"venue": "binance", "secret": binance["secret"], "payload": entry["payload"],
                      "signature": entry["signature_hex"]})
        labels.append(f"binance_spot_hmac[{i}]")
    kraken = vectors["kraken_spot"]
    cases.append({"venue": "kraken", "secret_base64": kraken["secret_base64"], "nonce": kraken["nonce"],
                  "post_data": kraken["post_data"], "uri_path": kraken["uri_path"], "signature": kraken["api_sign"]})
    labels.append("kraken_spot")
    return cases, labels


# --- self-test: inputs made the documented way, with plain Python --------------------------------------------------
def _flip(text, position=-2):
    """Change one character of text (at position), keeping the alphabet plausible."""
    chars = list(text)
    c = chars[position]
    chars[position] = {"0": "1", "a": "b", "A": "B"}.get(c, "0" if c != "0" else "1")
    return "".join(chars)


def _documented_jwt(private_key, algorithm, key_name, uri, nbf, nonce):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = {"alg": algorithm, "kid": key_name, "nonce": nonce, "typ": "JWT"}
    claims = {"sub": key_name, "iss": "cdp", "nbf": nbf, "exp": nbf + 120, "uri": uri}
    signing_input = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
    if algorithm == "ES256":
        r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = private_key.sign(signing_input.encode())
    return signing_input + "." + b64(signature)


def self_test_cases():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    def hmac_hex(key, message):
        return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()

    def hmac_b64(key, message):
        return base64.b64encode(hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()).decode()
    cases = []  # (label, case, mutations [(label, case)])
    secret = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    ts = "1700000000123"
    for label, payload in [
        ("binance sorted (python-binance order)", f"price=50000&quantity=0.001&recvWindow=5000&side=BUY&symbol=BTCUSDT&timeInForce=GTC&timestamp={ts}&type=LIMIT"),
        ("binance timestamp-first (ccxt order)", f"timestamp={ts}&symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000&newClientOrderId=tk-1&recvWindow=5000"),
        ("binance our order (timestamp last)", f"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=50000&recvWindow=5000&timestamp={ts}"),
    ]:
        case = {"venue": "binance", "secret": secret, "payload": payload, "signature": hmac_hex(secret, payload)}
        cases.append((label, case, [("signature flipped", dict(case, signature=_flip(case["signature"]))),
                                    ("payload flipped", dict(case, payload=payload.replace("0.001", "0.002")))]))

    key, recv = "XXXXXXXXXXXXXXXXXX", "5000"
    for label, payload in [
        ("bybit GET", "category=linear&symbol=BTCUSDT&settleCoin=USDT"),
        ("bybit GET sorted (pybit order)", "category=linear&settleCoin=USDT&symbol=BTCUSDT"),
        ("bybit POST compact (ccxt form)", '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"50000","orderLinkId":"tk-1"}'),
        ("bybit POST spaced (pybit form)", '{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "50000"}'),
    ]:
        case = {"venue": "bybit", "api_key": key, "secret": secret, "timestamp": ts, "recv_window": recv,
                "payload": payload, "signature": hmac_hex(secret, ts + key + recv + payload)}
        cases.append((label, case, [("signature flipped", dict(case, signature=_flip(case["signature"]))),
                                    ("timestamp changed", dict(case, timestamp=str(int(ts) + 1)))]))

    okx_secret, okx_ts = "22582BD0CFF14C41EDBF1AB98506286D", "2020-12-08T09:08:57.715Z"
    for label, method, path, body in [
        ("okx GET with query", "GET", "/api/v5/account/balance?ccy=BTC", ""),
        ("okx GET no query", "GET", "/api/v5/account/config", ""),
        ("okx POST order", "POST", "/api/v5/trade/order",
         '{"instId":"BTC-USDT-SWAP","tdMode":"cross","clOrdId":"tk1","side":"buy","ordType":"limit","px":"50000","sz":"0.001"}'),
    ]:
        case = {"venue": "okx", "secret": okx_secret, "timestamp": okx_ts, "method": method, "request_path": path,
                "body": body, "signature": hmac_b64(okx_secret, okx_ts + method + path + body)}
        cases.append((label, case, [("signature flipped", dict(case, signature=_flip(case["signature"], 3))),
                                    ("path changed", dict(case, request_path=path.replace("v5/", "v5//")))]))

    kraken_secret = base64.b64encode(hashlib.sha512(b"tradekeep kraken test").digest()).decode()
    nonce = "1700000000456"
    post = f"nonce={nonce}&ordertype=limit&pair=XBTUSD&price=50000&type=buy&volume=0.001&cl_ord_id=tk-1"
    uri = "/0/private/AddOrder"
    digest = hashlib.sha256((nonce + post).encode()).digest()
    sig = base64.b64encode(hmac.new(base64.b64decode(kraken_secret), uri.encode() + digest, hashlib.sha512).digest()).decode()
    case = {"venue": "kraken", "secret_base64": kraken_secret, "nonce": nonce, "post_data": post, "uri_path": uri, "signature": sig}
    cases.append(("kraken AddOrder", case, [("signature flipped", dict(case, signature=_flip(sig, 5))),
                                           ("uri changed", dict(case, uri_path="/0/private/AddOrdes"))]))

    now = int(time.time())
    key_name = "organizations/0f5c3b4e-0000-4000-8000-000000000001/apiKeys/7d6e0a1b-0000-4000-8000-000000000002"
    for algorithm, private in (("ES256", ec.generate_private_key(ec.SECP256R1())), ("EdDSA", ed25519.Ed25519PrivateKey.generate())):
        private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8 if algorithm == "EdDSA"
                                            else serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()
        public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        target = "GET api.coinbase.com/api/v3/brokerage/key_permissions"
        token = _documented_jwt(private, algorithm, key_name, target, now, os.urandom(32).hex())
        case = {"venue": "coinbase", "jwt": token, "public_key_pem": public_pem, "key_name": key_name, "method": "GET",
                "host": "api.coinbase.com", "path": "/api/v3/brokerage/key_permissions", "algorithm": algorithm,
                "private_key_pem": private_pem}
        wrong_uri = _documented_jwt(private, algorithm, key_name, target + "s", now, os.urandom(32).hex())
        cases.append((f"coinbase {algorithm}", case, [
            ("jwt signature flipped", dict(case, jwt=_flip(token, -3))),
            ("jwt for another uri", dict(case, jwt=wrong_uri)),
        ]))
        if algorithm == "EdDSA":  # Coinbase hands out Ed25519 secrets as base64(seed + public key), 64 bytes
            raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
            pub = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            cases.append(("coinbase EdDSA, SDK given base64 64-byte secret",
                          dict(case, private_key_pem=base64.b64encode(raw + pub).decode()), []))
    return cases


def self_test():
    passed = failed = 0

    def verdict(condition, message):
        nonlocal passed, failed
        if condition:
            passed += 1
        else:
            failed += 1
            print("FAIL:", message, file=sys.stderr)
    for label, case, mutations in self_test_cases():
        answer = run_cases([case])
        verdict(answer["results"] and all(r["ok"] for r in answer["results"]),
                f"{label}: {json.dumps(answer)[:2000]}")
        print(f"{label}: " + ", ".join(f"{r['sdk']}={'ok' if r['ok'] else 'NOT OK'}" for r in answer["results"]) +
              ("; skipped: " + ", ".join(s["sdk"] for s in answer["skipped"]) if answer["skipped"] else ""))
        for mutation, broken in mutations:
            bad = run_cases([broken])
            verdict(bad["results"] and not any(r["ok"] for r in bad["results"]),
                    f"{label} / {mutation} should fail everywhere: {json.dumps(bad)[:2000]}")
    answer = run_cases(*vector_cases())
    verdict(len(answer["results"]) >= 4 and all(r["ok"] for r in answer["results"]), f"vectors: {json.dumps(answer)[:3000]}")
    print("vectors: " + ", ".join(f"{r['vector']} {r['sdk']}={'ok' if r['ok'] else 'NOT OK'}" for r in answer["results"]))
    kraken_names = {r["sdk"] for r in answer["results"] if r["vector"] == "kraken_spot" and r["ok"]}
    verdict(any("kraken.sign()" in n for n in kraken_names), "kraken_spot vector must pass through ccxt kraken.sign()")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        try:
            return self_test()
        except MissingSDK as error:
            print(f"venue_signing.py: missing SDK: {error}", file=sys.stderr)
            return 3
    try:
        try:
            request = json.load(sys.stdin)
        except ValueError as error:
            raise InputError(f"stdin is not JSON: {error}")
        if not isinstance(request, dict):
            raise InputError("request must be a JSON object")
        if request.get("mode") == "vectors":
            answer = run_cases(*vector_cases(request.get("vectors_path")))
        elif "mode" in request:
            raise InputError(f"unknown mode {request['mode']!r} (only 'vectors')")
        elif isinstance(request.get("cases"), list):
            answer = run_cases(request["cases"])
        else:
            raise InputError('request needs "cases": [...] or "mode": "vectors"')
    except InputError as error:
        print(f"venue_signing.py: malformed input: {error}", file=sys.stderr)
        return 2
    except MissingSDK as error:
        print(f"venue_signing.py: missing SDK: {error}", file=sys.stderr)
        return 3
    json.dump(answer, _REAL_STDOUT)
    _REAL_STDOUT.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
