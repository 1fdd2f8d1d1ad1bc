"""The baseline for bench_api.py: one FastAPI endpoint shaped like /provision-rds, nothing behind it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/provision-rds", status_code=202)
async def provision_rds(request: Request) -> dict[str, Any]:
    await request.json()
    return {
        "message": "Request accepted",
        "sns_message_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
    }
