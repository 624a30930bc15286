"""Create an active user (register, confirm TOTP), sign in, and print the access token. For scripts/fuzz-api."""
import http.client
import json
import sys
import time
import urllib.parse

import pyotp

base, email = sys.argv[1], sys.argv[2]
url = urllib.parse.urlparse(base)
PASSWORD = "correct horse battery staple fuzz"


def post(path, body):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read() or b"{}")
    assert response.status in (200, 201), (path, response.status, data)
    return data


registered = post("/api/v1/auth/register", {"email": email, "password": PASSWORD})
totp = pyotp.TOTP(registered["totp_secret"])
post("/api/v1/auth/totp/confirm", {"enrollment_token": registered["enrollment_token"], "code": totp.now()})
mfa = post("/api/v1/auth/login", {"email": email, "password": PASSWORD})["mfa_token"]
# Confirming spent the current step; the next one is accepted (±1 window).
tokens = post("/api/v1/auth/login/totp", {"mfa_token": mfa, "code": totp.at(time.time() + 30)})
print(tokens["access_token"])
