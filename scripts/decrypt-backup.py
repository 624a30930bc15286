#!/usr/bin/env python3
"""Decrypt a Tradekeep backup with nothing but Python's `cryptography` Fernet (docs/BACKUP-FORMAT.md).

    scripts/decrypt-backup.py KEYFILE BACKUP OUT

KEYFILE is the data folder's backup.key; OUT is a directory (created) that receives the backup's files:
database.sqlite (or tables.jsonl for PostgreSQL), jwt.key, audit-signing.key, kek-keyring.json.
Every check that `tradekeep restore` makes is made here too; on any failure nothing is written.
"""
import hashlib
import json
import os
import struct
import sys
import uuid

from cryptography.fernet import Fernet, InvalidToken


def fail(message):
    sys.exit(f"decrypt-backup: {message}")


def main():
    if len(sys.argv) != 4:
        fail("usage: decrypt-backup.py KEYFILE BACKUP OUT")
    key_file, backup_file, out = sys.argv[1:]
    fernet = Fernet(open(key_file, "rb").read().strip())
    lines = [line for line in open(backup_file, "rb").read().split(b"\n") if line]
    if not lines:
        fail("empty file")

    def open_line(index):
        try:
            return fernet.decrypt(lines[index])
        except InvalidToken:
            fail(f"line {index + 1} does not decrypt: wrong key, or the file is damaged")

    header = json.loads(open_line(0))
    if header.get("format") != "tradekeep-backup" or header.get("version") != 1:
        fail("not a Tradekeep backup (format 1)")
    backup_id = uuid.UUID(header["backup_id"]).bytes
    payload = bytearray()
    for index in range(1, len(lines)):
        plain = open_line(index)
        if plain.startswith(b"{"):
            trailer = json.loads(plain)
            if trailer["backup_id"] != header["backup_id"]:
                fail(f"line {index + 1} belongs to another backup")
            if trailer["chunks"] != index - 1 or trailer["bytes"] != len(payload) or index != len(lines) - 1:
                fail("lines are missing, reordered or trailing")
            if hashlib.sha256(payload).hexdigest() != trailer["sha256"]:
                fail("checksum mismatch")
            break
        if plain[:16] != backup_id:
            fail(f"line {index + 1} belongs to another backup")
        if struct.unpack(">Q", plain[16:24])[0] != index - 1:
            fail(f"line {index + 1} is out of order")
        payload += plain[24:]
    else:
        fail("truncated: the final line is missing")

    files, offset = [], 0
    while offset < len(payload):
        (name_length,) = struct.unpack(">I", payload[offset:offset + 4])
        name = payload[offset + 4:offset + 4 + name_length].decode()
        offset += 4 + name_length
        (length,) = struct.unpack(">Q", payload[offset:offset + 8])
        offset += 8
        if "/" in name or name in (".", "..") or offset + length > len(payload):
            fail("malformed content")
        files.append((name, bytes(payload[offset:offset + length])))
        offset += length

    os.makedirs(out, mode=0o700, exist_ok=True)
    for name, content in files:
        descriptor = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
    print(f"backup {header['backup_id']} ({header['database']}, made {header['created_at']}): " + ", ".join(name for name, _ in files))


if __name__ == "__main__":
    main()
