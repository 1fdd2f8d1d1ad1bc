"""AWS mode: the API handler's cold start and the consumer's time per SQS record.

Cold start, each in a fresh `python -X importtime` process, median of --runs:
  - `import engine.aws` (what Lambda imports at init: the standard library only), and
  - the first invocation's set-up (FastAPI app, routes, Mangum, settings; one GET /healthz),
  next to a bare FastAPI app behind Mangum answering the same GET (the baseline: the least
  the libraries allow). Printed: ms each, and dbvend / bare.

Consumer: --records requests accepted through the outbox (moto's SNS and SQS, in-process),
received from SQS and handed to engine.aws's consumer as Lambda's SQS events of 10 records, a
change per record in a local git repository. The same requests through the local queue's
worker in the same run are the baseline. Printed: ms per record each, and the ratio.

    python bench/bench_aws.py [--runs 5] [--records 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEALTH_EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/healthz",
    "rawQueryString": "",
    "headers": {"host": "x.execute-api.us-east-1.amazonaws.com"},
    "requestContext": {
        "http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
        "stage": "$default",
        "requestId": "r",
    },
    "isBase64Encoded": False,
}
DBVEND_FIRST_CALL = f"""
import time, json
t = time.perf_counter()
import engine.aws
t_import = time.perf_counter()
answer = engine.aws.api_handler({HEALTH_EVENT!r}, None)
t_call = time.perf_counter()
assert answer["statusCode"] in (200, 503), answer
print(json.dumps({{"import": t_import - t, "first_call": t_call - t_import}}))
"""
BARE_FIRST_CALL = f"""
import time, json
t = time.perf_counter()
from fastapi import FastAPI
from mangum import Mangum
app = FastAPI()
@app.get("/healthz")
def health() -> dict:
    return {{"status": "ok"}}
handler = Mangum(app, lifespan="off")
t_import = time.perf_counter()
answer = handler({HEALTH_EVENT!r}, None)
t_call = time.perf_counter()
assert answer["statusCode"] == 200, answer
print(json.dumps({{"import": t_import - t, "first_call": t_call - t_import}}))
"""


def cold(code: str, environment: dict[str, str]) -> tuple[dict[str, float], float]:
    """One fresh interpreter: the script's own timings, and engine.aws's import time per -X importtime."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
    )
    if result.returncode != 0:
        tail = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("import time:"))
        raise SystemExit(f"cold start failed:\n{tail[-3000:]}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    found = re.search(r"\|\s*(\d+) \| engine\.aws$", result.stderr, re.MULTILINE)
    return timings, (int(found.group(1)) / 1e6 if found else 0.0)


def cold_starts(runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        environment = {
            **os.environ,
            "DBVEND_DATA": scratch,
            "DBVEND_API_KEYS": "bench-key",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        dbvend = [cold(DBVEND_FIRST_CALL, environment) for _ in range(runs)]
        bare = [cold(BARE_FIRST_CALL, environment)[0] for _ in range(runs)]
    imports = statistics.median(t for _, t in dbvend) * 1000
    module = statistics.median(t["import"] for t, _ in dbvend) * 1000
    first = statistics.median(t["first_call"] for t, _ in dbvend) * 1000
    bare_total = statistics.median(t["import"] + t["first_call"] for t in bare) * 1000
    total = module + first
    print(f"API handler cold start, median of {runs} fresh processes:")
    print(f"  import engine.aws          {module:7.1f} ms  (-X importtime cumulative: {imports:.1f} ms)")
    print(f"  first invocation set-up    {first:7.1f} ms  (FastAPI app, Mangum, settings, ledger)")
    print(f"  dbvend total               {total:7.1f} ms")
    print(f"  bare FastAPI + Mangum      {bare_total:7.1f} ms  (baseline)")
    print(f"  ratio dbvend / bare        {total / bare_total:7.2f}x")


def consumer(records: int) -> None:
    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from engine import aws
    from engine.intake import accept_request
    from engine.queue.local import LocalQueue
    from engine.queue.worker import Worker
    from engine.settings import Settings
    from engine.store.ledger import Ledger
    from tests.support.aws_transport import Topology, lambda_event

    def raw(n: int) -> dict[str, Any]:
        return {"database_name": f"bench{n}", "database_engine": "postgres", "environment": "dev"}

    with tempfile.TemporaryDirectory() as scratch, mock_aws():
        topology = Topology()
        settings = Settings(
            data=Path(scratch) / "aws",
            queue="sqs",
            sns_topic_arn=topology.topic_arn,
            database_url=f"sqlite:///{scratch}/aws.sqlite3",
        )
        lambda_consumer = aws.Consumer(settings)
        assert lambda_consumer.outbox is not None
        for n in range(records):
            accept_request(raw(n), "api", "bench", lambda_consumer.ledger, lambda_consumer.backend,
                           outbox=lambda_consumer.outbox)  # fmt: skip
        lambda_consumer.handle_batch({"Records": []})  # the gate's checkov worker starts here
        lambda_consumer.gate.known()
        spent, handled = 0.0, 0
        while handled < records:
            messages = topology.receive(count=10)
            event = lambda_event(messages, topology.queue_arn)
            start = time.perf_counter()
            answer = lambda_consumer.handle_batch(event)
            spent += time.perf_counter() - start
            assert answer == {"batchItemFailures": []}, answer
            for message in messages:
                topology.sqs.delete_message(
                    QueueUrl=topology.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            handled += len(messages)
        sqs_ms = spent / records * 1000
        gate = lambda_consumer.gate

        ledger = Ledger.connect(f"sqlite:///{scratch}/local.sqlite3")
        from engine.gitops.local import LocalRepository

        repo = LocalRepository.open_or_create(Path(scratch) / "local-repo")
        for n in range(records):
            accept_request(raw(n), "api", "bench", ledger, repo)
        worker = Worker(ledger, LocalQueue(ledger), repo, gate, None)
        start = time.perf_counter()
        while worker.run_once():
            pass
        local_ms = (time.perf_counter() - start) / records * 1000
        assert len(repo.changes()) == records and len(lambda_consumer.backend.changes()) == records
        lambda_consumer.close()
    print(f"consumer, {records} records (SQS events of 10, moto in-process; policy gate, local git):")
    print(f"  SQS consumer (engine.aws)  {sqs_ms:7.1f} ms per record")
    print(f"  local queue worker         {local_ms:7.1f} ms per record  (baseline)")
    print(f"  ratio SQS / local          {sqs_ms / local_ms:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=50)
    args = parser.parse_args()
    cold_starts(args.runs)
    consumer(args.records)


if __name__ == "__main__":
    main()
