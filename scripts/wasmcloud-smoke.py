#!/usr/bin/env python3
"""The smoke checks of `make wasmcloud-check` (scripts/wasmcloud-check.sh), against the front of
a local wasmCloud lattice: users (register, log in, look up), the catalog (an admin creates and
stocks a product, which is read twice, the second time from the cache), and one order (paid:
stock taken, the order readable, its event recorded by order-events through messaging).

    wasmcloud-smoke.py FRONT_URL ADMIN_USERNAME ADMIN_PASSWORD POSTGRES_PORT
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

FRONT, ADMIN, ADMIN_PASSWORD, PG_PORT = sys.argv[1:5]


def call(method, path, body=None, token=None, headers=None):
    request = urllib.request.Request(FRONT + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def expect(what, status, answer, wanted):
    if status != wanted:
        sys.exit(f"FAILED {what}: {status} (wanted {wanted}) {answer}")
    print(f"  ok  {what}: {status}")
    return answer


def token(username, password):
    answer = expect(f"token for {username}", *call("POST", "/api/v1/auth/token", {"username": username, "password": password}), 200)
    return answer["access_token"]


def psql(database, sql):
    env = dict(os.environ, PGPASSWORD=os.environ["GALLEY_PG_PASSWORD"])
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", PG_PORT, "-U", "galley", "-d", database, "-tAc", sql],
                         env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


print("users")
username = f"wc_{uuid.uuid4().hex[:10]}"
user = expect("register", *call("POST", "/api/v1/users", {"username": username, "password": "a-good-password", "mobile": "13800138000"}), 201)
customer = token(username, "a-good-password")
found = expect("look up", *call("GET", f"/api/v1/users/{user['id']}", token=customer), 200)
assert found["username"] == username, found
expect("a duplicate username", *call("POST", "/api/v1/users", {"username": username.upper(), "password": "another-password", "mobile": "13800138000"}), 409)

print("catalog")
admin = token(ADMIN, ADMIN_PASSWORD)
product = expect("create a product", *call("POST", "/api/v1/products", {"name": f"Teapot {uuid.uuid4().hex[:6]}", "price": "3.00", "description": "wasmCloud"}, admin), 201)
expect("stock it", *call("PUT", f"/api/v1/inventory/{product['id']}", {"on_hand": 5}, admin), 200)
first = expect("read it", *call("GET", f"/api/v1/products/{product['id']}"), 200)
again = expect("read it again (the cache)", *call("GET", f"/api/v1/products/{product['id']}"), 200)
assert first == again and first["price"] == "3.00", (first, again)

print("an order")
order = expect("order 2, paid", *call("POST", "/api/v1/orders", {"items": [{"product_id": product["id"], "quantity": 2}], "payment_method": "pm_card_ok"},
                                       customer, {"idempotency-key": uuid.uuid4().hex}), 201)
assert order["status"] == 1 and order["amount"] == "6.00", order
read = expect("read the order", *call("GET", f"/api/v1/orders/{order['id']}", token=customer), 200)
assert read == order, (read, order)
on_hand = psql("inventory", f"SELECT on_hand FROM stock WHERE product_id = {int(product['id'])}")
assert on_hand == "3", on_hand
print("  ok  stock taken: 3 left")
for _ in range(100):
    if psql("notifications", f"SELECT count(*) FROM notifications WHERE order_id = '{order['id']}'") == "1":
        print("  ok  order-events recorded the order's event (wasmcloud:messaging)")
        break
    time.sleep(0.2)
else:
    sys.exit("FAILED: order-events recorded no event for the order")
print("wasmCloud smoke checks passed")
