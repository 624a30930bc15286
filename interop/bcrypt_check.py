"""bcrypt interop with pyca/bcrypt: check Tradekeep's hashes, produce hashes for Tradekeep to check."""
import json
import sys

import bcrypt

request = json.load(sys.stdin)
answer = {"checked": [], "hashes": []}
for case in request.get("check", []):
    answer["checked"].append(bcrypt.checkpw(case["password"].encode(), case["hash"].encode()))
for case in request.get("hash", []):
    answer["hashes"].append(bcrypt.hashpw(case["password"].encode(), bcrypt.gensalt(rounds=case["cost"])).decode())
json.dump(answer, sys.stdout)
