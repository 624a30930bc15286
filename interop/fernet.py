"""Fernet interop with pyca/cryptography: decrypt Tradekeep's tokens, produce tokens for Tradekeep."""
import base64
import json
import sys

from cryptography.fernet import Fernet, MultiFernet

request = json.load(sys.stdin)
answer = {"decrypted": [], "tokens": [], "rotated": None}
for case in request.get("decrypt", []):
    try:
        answer["decrypted"].append(base64.b64encode(Fernet(case["key"]).decrypt(case["token"].encode())).decode())
    except Exception as error:  # InvalidToken
        answer["decrypted"].append(None)
for case in request.get("encrypt", []):
    answer["tokens"].append(Fernet(case["key"]).encrypt(base64.b64decode(case["plaintext"])).decode())
if "rotate" in request:
    rotate = request["rotate"]
    multi = MultiFernet([Fernet(key) for key in rotate["keys"]])
    answer["rotated"] = multi.rotate(rotate["token"].encode()).decode()
json.dump(answer, sys.stdout)
