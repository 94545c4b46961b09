"""Builders and clients shared by the tests; the conftest.py files hold fixtures only.

- ``paths``: where the repository and the shared photos are.
- ``stores``: the store backends (SQLite, PostgreSQL) and a fresh store's settings on each.
- ``auth``: cheap password hashing, users with tokens, bearer headers, a hand-moved clock.
- ``clients``: FastAPI's TestClient (imported once, quietly), clients with a token, and a real
  uvicorn server on a loopback port.
- ``faces``: faces that stand in for the face model (a fake one, or a photo's, found once).
- ``events``: a site with a member, recorded events, door alerts, a local webhook receiver.
- ``seed``: seeded stores: the two-tenant API world and the three-site chain.
- ``leaks``: everything a flow left behind, as text, to search for secrets and personal data.
"""
