"""What runs only on a developer's machine or in the tests, never in Azure.

- `host`: the local HTTP host that serves the registered functions (`python -m trackly serve`).
- `database`: the embedded PostgreSQL used when no DATABASE_URL is set.
- `azurite`: starts Azurite (the Blob Storage emulator from npm).
- `webpubsub`: a local Azure Web PubSub service (REST + WebSocket), the stand-in for Azure's.
- `loopback`: free ports on 127.0.0.1.
- `demo`: the demo accounts and issues seeded into a local database.

function_app.py and the domain packages never import from here; tests/foundation/test_layering.py
keeps it so.
"""
