"""TOTP interop with pyotp: verify Tradekeep's codes, produce pyotp's, parse Tradekeep's otpauth URI."""
import json
import sys

import pyotp

request = json.load(sys.stdin)
answer = {"verified": [], "generated": [], "uri_secrets": []}
for case in request.get("verify", []):
    totp = pyotp.TOTP(case["secret"])
    # valid_window=0: the code must be for exactly this time step.
    answer["verified"].append(totp.verify(case["code"], for_time=case["time"], valid_window=0))
for case in request.get("generate", []):
    answer["generated"].append(pyotp.TOTP(case["secret"]).at(case["time"]))
for uri in request.get("uris", []):
    parsed = pyotp.parse_uri(uri)
    answer["uri_secrets"].append([parsed.secret, parsed.digits, parsed.interval, parsed.name, parsed.issuer])
json.dump(answer, sys.stdout)
