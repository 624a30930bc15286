"""SigV4 interop with botocore: sign the same request and answer the canonical request and Authorization."""
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

request = json.load(sys.stdin)
answers = []
for case in request["cases"]:
    credentials = Credentials(case["access_key"], case["secret_key"], case.get("session_token"))
    aws = AWSRequest(method=case["method"], url=case["url"], data=case["body"].encode(), headers=case["headers"])
    aws.context["timestamp"] = case["amz_date"]
    aws.headers["X-Amz-Date"] = case["amz_date"]
    if case.get("session_token"):
        aws.headers["X-Amz-Security-Token"] = case["session_token"]
    auth = SigV4Auth(credentials, case["service"], case["region"])
    canonical = auth.canonical_request(aws)
    string_to_sign = auth.string_to_sign(aws, canonical)
    signature = auth.signature(string_to_sign, aws)
    answers.append({"canonical_request": canonical, "signature": signature})
json.dump({"answers": answers}, sys.stdout)
