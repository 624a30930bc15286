"""Drives scripts/soak: creates and starts the paper bots, then samples the server process every interval."""
import argparse
import csv
import http.client
import json
import os
import sys
import time
import urllib.parse

import pyotp

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--pid", type=int, required=True)
parser.add_argument("--data", required=True)
parser.add_argument("--minutes", type=float, default=60)
parser.add_argument("--bots", type=int, default=100)
parser.add_argument("--interval", type=float, default=60)
parser.add_argument("--out", default=None)
args = parser.parse_args()
url = urllib.parse.urlparse(args.base)
PASSWORD = "correct horse battery staple"
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def request(method, path, body=None, token=None):
    headers = {"X-Forwarded-For": "10.1.2.3"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else None)


status, body = request("POST", "/api/v1/auth/register", {"email": "soak@example.com", "password": PASSWORD})
assert status == 201, (status, body)
totp = pyotp.TOTP(body["totp_secret"])
status, _ = request("POST", "/api/v1/auth/totp/confirm", {"enrollment_token": body["enrollment_token"], "code": totp.now()})
assert status == 200
status, body = request("POST", "/api/v1/auth/login", {"email": "soak@example.com", "password": PASSWORD})
status, body = request("POST", "/api/v1/auth/login/totp", {"mfa_token": body["mfa_token"], "code": totp.at(time.time() + 30)})
assert status == 200, body
token = body["access_token"]
issued = time.time()

# A mix of grids (most of the order flow), DCA bots and signal bots, over the three paper markets.
symbols = [("BTCUSDT", 0.0002), ("ETHUSDT", 0.003), ("SOLUSDT", 0.05)]
for index in range(args.bots):
    symbol, quantity = symbols[index % 3]
    if index % 10 == 9:
        params = {"quote_amount": 6, "interval_seconds": 120, "take_profit_pct": 0.5, "safety_orders": 2, "safety_step_pct": 0.5}
        strategy = "dca"
    else:
        params = {"range_pct": 10, "levels": 20, "quantity": quantity}  # wide enough for an hour of random walk
        strategy = "grid"
    status, bot = request("POST", "/api/v1/bots", {"name": f"soak {index}", "strategy": strategy, "venue": "paper", "symbol": symbol, "params": params}, token)
    assert status == 201, (status, bot)
    status, started = request("POST", f"/api/v1/bots/{bot['id']}/start", None, token)
    assert status == 200, (status, started)


def sample(start):
    with open(f"/proc/{args.pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    with open(f"/proc/{args.pid}/io") as f:
        io = dict(line.strip().split(": ") for line in f)
    database = sum(os.path.getsize(os.path.join(args.data, name)) for name in os.listdir(args.data) if name.startswith("tradekeep.sqlite"))
    global token, issued
    if time.time() - issued > 600:  # access tokens live 15 minutes: sign in again
        # The current code: the last one used (at sign-in, one step ahead) is more than ten minutes old.
        status, body = request("POST", "/api/v1/auth/login", {"email": "soak@example.com", "password": PASSWORD})
        assert status == 200, (status, body)
        status, body = request("POST", "/api/v1/auth/login/totp", {"mfa_token": body["mfa_token"], "code": totp.now()})
        assert status == 200, (status, body)
        token, issued = body["access_token"], time.time()
    status, orders = request("GET", "/api/v1/orders", None, token)
    orders = orders if status == 200 else []
    fills = sum(1 for order in orders if order["status"] == "filled")
    status, bots = request("GET", "/api/v1/bots", None, token)
    assert status == 200, (status, bots)
    running = sum(1 for bot in (bots or []) if bot["status"] == "running")
    # Alerts (one rapid-fire episode per 30 minutes at most, however many orders): the scanner's output stays small.
    status, alerts = request("GET", "/api/v1/alerts?limit=200", None, token)
    alerts = len(alerts["alerts"]) if status == 200 else -1
    return {
        "minute": round((time.time() - start) / 60, 2),
        "rss_mib": round(rss / 1024, 1),
        "written_mib": round(int(io["write_bytes"]) / 2**20, 2),
        "database_mib": round(database / 2**20, 2),
        "orders": len(orders),
        "fills": fills,
        "running_bots": running,
        "alerts": alerts,
    }


start = time.time()
rows = [sample(start)]
print(",".join(rows[0].keys()))
print(",".join(str(value) for value in rows[0].values()), flush=True)
while time.time() - start < args.minutes * 60:
    time.sleep(args.interval)
    rows.append(sample(start))
    print(",".join(str(value) for value in rows[-1].values()), flush=True)
if args.out:
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)

# Rates over the second half, where start-up is behind: flat means the write rate does not grow with history.
half = [row for row in rows if row["minute"] >= rows[-1]["minute"] / 2]
if len(half) >= 2:
    minutes = half[-1]["minute"] - half[0]["minute"]
    print(f"second half: {(half[-1]['written_mib'] - half[0]['written_mib']) / minutes:.2f} MiB written/min, "
          f"RSS {half[0]['rss_mib']} → {half[-1]['rss_mib']} MiB, database {half[0]['database_mib']} → {half[-1]['database_mib']} MiB, "
          f"{half[-1]['fills'] - half[0]['fills']} fills, {half[-1]['running_bots']} bots running")
if rows[-1]["running_bots"] != args.bots:
    sys.exit(f"only {rows[-1]['running_bots']} of {args.bots} bots are running")
