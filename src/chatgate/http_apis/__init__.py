"""API tools: operations of external HTTP APIs (`[[apis]]` in `CHATGATE_CONFIG`) as tools.

Not to be confused with `chatgate.api`, the service's own HTTP endpoints. Two processes use this
package, and the modules split along that line::

    API process (start-up and per request)         tool server (one user, one request)
    ─────────────────────────────────────────      ──────────────────────────────────────────
    config                [[apis]] settings         catalog     read the compiled catalog
    openapi_documents     fetch / read OpenAPI      client      one call: build, guard, send, shape
      └─ openapi          operations → specs          ├─ styles, request_bodies  arguments → wire
           ├─ openapi_bodies  request bodies          ├─ guard       SSRF: origin + path prefix only
           ├─ schemas         JSON Schema             ├─ retries     when to retry, how long to wait
           └─ naming          names, descriptions     ├─ responses   what the model sees of an answer
      └─ catalog          write the catalog           └─ redaction   keep the credential out of it
    parent                catalog, secrets,   ──▶   errors      failures safe to show the model
      │                   the per-user handoff      (through the environment: `chatgate.spawn` names)
      ├─ credential_store users' credentials (DB)
      └─ crypto           AES-256-GCM, key rotation
    operations            one operation as plain data (both sides)

The API process compiles the catalog once at start-up and hands each tool server only its own user's
credentials, through the environment (`parent.ApiService.api_environment`).
"""
