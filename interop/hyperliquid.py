"""Hyperliquid signing interop with hyperliquid-python-sdk, eth-account and msgpack: what the official SDK produces.

Tested with hyperliquid-python-sdk==0.24.0, eth-account==0.13.7, msgpack==1.2.4 (Python 3.11).

Request (JSON on stdin), every key optional:
  sign:          [{private_key, build | action_json, nonce, vault_address, expires_after, is_mainnet}]
                 build is {kind: "order", orders: [...], grouping, builder} | {kind: "cancel", cancels: [{asset, oid}]}
                 | {kind: "cancelByCloid", cancels: [{asset, cloid}]}; the action is then built with the SDK's own code.
                 action_json is JSON text of the action (key order kept).
  recover:       [{action_json, nonce, vault_address, expires_after, is_mainnet, r, s, v}]
  typed_data:    [JSON text of a full EIP-712 message]
  msgpack:       [JSON text]
  keccak:        [hex]
  float_to_wire: [decimal text]
Answer (JSON on stdout): one list per request key; exits non-zero on any error.
"""
import json
import os
import sys

# This file's own name would shadow the SDK's "hyperliquid" package: drop its folder from the import path.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _here]

import msgpack  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_account.messages import encode_typed_data  # noqa: E402
from eth_utils import keccak, to_checksum_address  # noqa: E402
from hyperliquid.utils.signing import (  # noqa: E402
    action_hash,
    construct_phantom_agent,
    float_to_wire,
    l1_payload,
    order_request_to_order_wire,
    order_wires_to_order_action,
    recover_agent_or_user_from_l1_action,
    sign_l1_action,
)
from hyperliquid.utils.types import Cloid  # noqa: E402


def eip712_digest(full_message):
    signable = encode_typed_data(full_message=full_message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def build_action(build):
    kind = build["kind"]
    if kind == "order":
        wires = []
        for order in build["orders"]:
            if "tif" in order:
                order_type = {"limit": {"tif": order["tif"]}}
            else:
                trigger = order["trigger"]
                order_type = {"trigger": {"triggerPx": float(trigger["trigger_px"]), "isMarket": trigger["is_market"], "tpsl": trigger["tpsl"]}}
            request = {
                "coin": "unused",
                "is_buy": order["is_buy"],
                "sz": float(order["sz"]),
                "limit_px": float(order["limit_px"]),
                "order_type": order_type,
                "reduce_only": order["reduce_only"],
            }
            if order.get("cloid") is not None:
                request["cloid"] = Cloid.from_str(order["cloid"])
            wires.append(order_request_to_order_wire(request, order["asset"]))
        builder = build.get("builder")
        if builder is not None:
            # As Exchange.order does before building the action.
            builder = {"b": builder["b"].lower(), "f": builder["f"]}
        return order_wires_to_order_action(wires, builder, build.get("grouping", "na"))
    if kind == "cancel":
        # Exchange.bulk_cancel's literal, with the coin already resolved to its asset.
        return {"type": "cancel", "cancels": [{"a": cancel["asset"], "o": cancel["oid"]} for cancel in build["cancels"]]}
    if kind == "cancelByCloid":
        # Exchange.bulk_cancel_by_cloid's literal.
        return {
            "type": "cancelByCloid",
            "cancels": [{"asset": cancel["asset"], "cloid": Cloid.from_str(cancel["cloid"]).to_raw()} for cancel in build["cancels"]],
        }
    raise ValueError(f"unknown build kind {kind}")


def word(hex_or_int):
    value = int(hex_or_int, 16) if isinstance(hex_or_int, str) else hex_or_int
    return "0x" + value.to_bytes(32, "big").hex()


def sign(case):
    wallet = Account.from_key(case["private_key"])
    action = build_action(case["build"]) if "build" in case else json.loads(case["action_json"])
    vault, nonce, expires = case.get("vault_address"), case["nonce"], case.get("expires_after")
    connection_id = action_hash(action, vault, nonce, expires)
    digest = eip712_digest(l1_payload(construct_phantom_agent(connection_id, case["is_mainnet"])))
    signature = sign_l1_action(wallet, action, vault, nonce, expires, case["is_mainnet"])
    return {
        "address": wallet.address,
        "msgpack_hex": msgpack.packb(action).hex(),
        "action_hash": "0x" + connection_id.hex(),
        "digest": "0x" + digest.hex(),
        # The SDK's to_hex drops leading zeros; pad so byte strings compare.
        "r": word(signature["r"]),
        "s": word(signature["s"]),
        "v": signature["v"],
        "sdk_signature": signature,
    }


def recover(case):
    action = json.loads(case["action_json"])
    signature = {"r": case["r"], "s": case["s"], "v": case["v"]}
    address = recover_agent_or_user_from_l1_action(
        action, signature, case.get("vault_address"), case["nonce"], case.get("expires_after"), case["is_mainnet"]
    )
    return to_checksum_address(address)


def wire(text):
    try:
        return float_to_wire(float(text))
    except ValueError:
        return None


request = json.load(sys.stdin)
answer = {
    "signed": [sign(case) for case in request.get("sign", [])],
    "recovered": [recover(case) for case in request.get("recover", [])],
    "typed_data": ["0x" + eip712_digest(json.loads(text)).hex() for text in request.get("typed_data", [])],
    "msgpack": [msgpack.packb(json.loads(text)).hex() for text in request.get("msgpack", [])],
    "keccak": ["0x" + keccak(bytes.fromhex(data)).hex() for data in request.get("keccak", [])],
    "float_to_wire": [wire(text) for text in request.get("float_to_wire", [])],
}
json.dump(answer, sys.stdout)
