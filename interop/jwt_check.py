"""JWT interop with PyJWT: decode Tradekeep's access tokens, and forge tokens Tradekeep must judge."""
import base64
import json
import sys
import time

import jwt

request = json.load(sys.stdin)
key = base64.b64decode(request["key"])
answer = {"decoded": [], "tokens": {}}
for token in request.get("decode", []):
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "sid", "iat", "exp"]},
                            leeway=request.get("leeway", 0))
        header = jwt.get_unverified_header(token)
        answer["decoded"].append({"ok": True, "claims": claims, "alg": header["alg"]})
    except jwt.PyJWTError as error:
        answer["decoded"].append({"ok": False, "error": repr(error)})

claims = request.get("claims")
if claims:
    now = int(time.time())
    good = dict(claims, iat=now, exp=now + 600)
    no_iat = {k: v for k, v in good.items() if k != "iat"}
    expired = dict(claims, iat=now - 3600, exp=now - 60)
    answer["tokens"] = {
        "valid": jwt.encode(good, key, algorithm="HS256"),
        "hs512": jwt.encode(good, key, algorithm="HS512"),
        "none": jwt.encode(good, None, algorithm="none"),
        "no_iat": jwt.encode(no_iat, key, algorithm="HS256"),
        "expired": jwt.encode(expired, key, algorithm="HS256"),
        "wrong_key": jwt.encode(good, b"another key of thirty-two bytes!", algorithm="HS256"),
    }
json.dump(answer, sys.stdout)
