"""The Python half of scripts/bench-vault: pyca/cryptography Fernet on the same payloads."""
import json
import os
import time

from cryptography.fernet import Fernet


def measure(name, payload, body, seconds=1.5):
    for _ in range(200):
        body()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            body()
        count += 100
    rate = count / (time.perf_counter() - start)
    print(json.dumps({"implementation": "python-cryptography", "operation": name, "payload": payload, "ops_per_second": int(rate)}))


for size in (64, 1024):
    fernet = Fernet(Fernet.generate_key())
    data = os.urandom(size)
    measure("fernet_encrypt", size, lambda: fernet.encrypt(data))
    token = fernet.encrypt(data)
    measure("fernet_decrypt", size, lambda: fernet.decrypt(token))
