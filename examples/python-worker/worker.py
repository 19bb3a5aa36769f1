#!/usr/bin/env python3
"""A workspace worker in Python: the whole worker protocol with grpcio.

It takes tasks of the kinds it is given (default ``ocr.document``), reads
each attached file, reports progress per file, stores two outputs (a
Markdown report and a JSON one, as an OCR worker stores its text and its
layout), and completes the task with the Markdown one as its output file.
A heartbeat that says the owner cancelled stops the work at once; a file
it cannot handle fails the task for good, anything else fails it
retryably (the service requeues it with backoff).

Configuration (environment):
  WORKER_CLIENT_ID, WORKER_CLIENT_SECRET  a service account with
      ``tasks.process`` (or ``tasks.process:ocr.*``), from
      ``auth-service create-service-account``
  AUTH_SERVICE_ADDR       host:port of auth-service (127.0.0.1:50051)
  WORKSPACE_SERVICE_ADDR  host:port of workspace-service (127.0.0.1:50052)
  WORKER_ID               the worker's name (python-worker-<pid>)
  WORKER_KINDS            comma-separated kinds to take (ocr.document)

Usage: ``python worker.py`` runs until interrupted; ``--once`` processes
at most one task and exits 0 if it completed one, 1 otherwise.
"""

import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

import grpc  # noqa: E402
from google.protobuf import json_format, struct_pb2  # noqa: E402

from auth.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from workspace.v1 import tasks_pb2, tasks_pb2_grpc  # noqa: E402

CHUNK = 1 << 20  # the largest chunk the service takes
LEASE_SECONDS = 60


class Cancelled(Exception):
    """The owner cancelled the task."""


class BadInput(Exception):
    """A file the worker cannot process: another attempt would not help."""


class Worker:
    def __init__(self):
        self.worker_id = os.environ.get("WORKER_ID", f"python-worker-{os.getpid()}")
        self.kinds = [
            k.strip()
            for k in os.environ.get("WORKER_KINDS", "ocr.document").split(",")
            if k.strip()
        ]
        self.client_id = os.environ["WORKER_CLIENT_ID"]
        self.client_secret = os.environ["WORKER_CLIENT_SECRET"]
        auth = grpc.insecure_channel(os.environ.get("AUTH_SERVICE_ADDR", "127.0.0.1:50051"))
        workspace = grpc.insecure_channel(
            os.environ.get("WORKSPACE_SERVICE_ADDR", "127.0.0.1:50052")
        )
        self.auth = auth_pb2_grpc.AuthServiceStub(auth)
        self.tasks = tasks_pb2_grpc.WorkerServiceStub(workspace)
        self._token = None
        self._token_until = 0.0

    def metadata(self):
        """The bearer token, fetched again 30 s before it expires."""
        if self._token is None or time.monotonic() >= self._token_until:
            response = self.auth.IssueServiceToken(
                auth_pb2.IssueServiceTokenRequest(
                    client_id=self.client_id, client_secret=self.client_secret
                )
            )
            self._token = response.access_token
            self._token_until = time.monotonic() + max(response.expires_in - 30, 1)
        return (("authorization", f"Bearer {self._token}"),)

    def heartbeat(self, task, fraction, message, partial=None):
        progress = tasks_pb2.TaskProgress(fraction=fraction, message=message)
        if partial is not None:
            progress.partial.CopyFrom(json_format.ParseDict(partial, struct_pb2.Value()))
        response = self.tasks.HeartbeatTask(
            tasks_pb2.HeartbeatTaskRequest(
                task_id=task.task_id,
                worker_id=self.worker_id,
                lease_seconds=LEASE_SECONDS,
                progress=progress,
            ),
            metadata=self.metadata(),
        )
        if response.cancel_requested:
            raise Cancelled()

    def read(self, task, file):
        chunks = []
        stream = self.tasks.ReadTaskFile(
            tasks_pb2.ReadTaskFileRequest(
                task_id=task.task_id, worker_id=self.worker_id, file_id=file.file_id
            ),
            metadata=self.metadata(),
        )
        for message in stream:
            if message.WhichOneof("part") == "chunk":
                chunks.append(message.chunk)
        data = b"".join(chunks)
        if hashlib.sha256(data).hexdigest() != file.sha256:
            raise RuntimeError(f"{file.filename}: the content read does not match its SHA-256")
        return data

    def upload(self, task, filename, mime_type, data):
        def messages():
            yield tasks_pb2.UploadTaskOutputRequest(
                metadata=tasks_pb2.UploadTaskOutputMetadata(
                    task_id=task.task_id,
                    worker_id=self.worker_id,
                    filename=filename,
                    mime_type=mime_type,
                )
            )
            for start in range(0, len(data), CHUNK):
                yield tasks_pb2.UploadTaskOutputRequest(chunk=data[start : start + CHUNK])

        return self.tasks.UploadTaskOutput(messages(), metadata=self.metadata()).output

    def process(self, task):
        if not task.files:
            raise BadInput("no file is attached to the task")
        reports = []
        for index, file in enumerate(task.files):
            data = self.read(task, file)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(f"{file.filename}: not UTF-8 text") from None
            report = {
                "file_id": file.file_id,
                "filename": file.filename,
                "bytes": len(data),
                "lines": len(text.splitlines()),
                "words": len(text.split()),
                "sha256": file.sha256,
            }
            reports.append(report)
            self.heartbeat(
                task,
                0.9 * (index + 1) / len(task.files),
                f"read {file.filename} ({index + 1} of {len(task.files)})",
                report,
            )
        stem = task.files[0].filename.rsplit(".", 1)[0]
        markdown = "\n".join(
            [f"# {task.query}", ""]
            + [f"- **{r['filename']}**: {r['lines']} lines, {r['words']} words" for r in reports]
        ).encode()
        document = self.upload(task, f"{stem}.report.md", "text/markdown", markdown)
        self.upload(
            task,
            f"{stem}.report.json",
            "application/json",
            json.dumps({"files": reports}, ensure_ascii=False).encode(),
        )
        result = json_format.ParseDict({"files": reports, "errors": []}, struct_pb2.Value())
        response = self.tasks.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                task_id=task.task_id,
                worker_id=self.worker_id,
                analysis="; ".join(f"{r['filename']}: {r['words']} words" for r in reports),
                result=result,
                output_file_id=document.file_id,
            ),
            metadata=self.metadata(),
        )
        return response.task

    def fail(self, task, message, retryable):
        self.tasks.FailTask(
            tasks_pb2.FailTaskRequest(
                task_id=task.task_id,
                worker_id=self.worker_id,
                error_message=message,
                retryable=retryable,
            ),
            metadata=self.metadata(),
        )

    def run_once(self):
        """Claims one task and processes it; returns what became of it."""
        claimed = self.tasks.ClaimTask(
            tasks_pb2.ClaimTaskRequest(
                worker_id=self.worker_id, lease_seconds=LEASE_SECONDS, kinds=self.kinds
            ),
            metadata=self.metadata(),
        )
        if not claimed.HasField("task"):
            return "idle"
        task = claimed.task
        print(f"processing {task.task_id} ({task.kind}, {len(task.files)} files)", flush=True)
        try:
            done = self.process(task)
            print(f"completed {done.task_id} with {len(done.outputs)} outputs", flush=True)
            return "completed"
        except Cancelled:
            print(f"cancelled by its owner: {task.task_id}", flush=True)
            return "cancelled"
        except BadInput as e:
            self.fail(task, str(e), retryable=False)
            return "failed"
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                # The lease is gone (cancelled, or ran out): nothing to report.
                print(f"stopped {task.task_id}: {e.details()}", flush=True)
                return "lost"
            self.fail(task, f"{e.code().name}: {e.details()}", retryable=True)
            return "failed"
        except Exception as e:  # noqa: BLE001 - any other error is worth a retry
            self.fail(task, f"{type(e).__name__}: {e}", retryable=True)
            return "failed"


def main():
    worker = Worker()
    if "--once" in sys.argv[1:]:
        # A task may still be on its way (the queue is fair, not instant):
        # claim for up to 10 s.
        deadline = time.monotonic() + 10
        while True:
            outcome = worker.run_once()
            if outcome != "idle" or time.monotonic() > deadline:
                print(outcome)
                return 0 if outcome == "completed" else 1
            time.sleep(0.2)
    print(f"python worker {worker.worker_id} taking {','.join(worker.kinds)}", flush=True)
    while True:
        try:
            if worker.run_once() == "idle":
                time.sleep(1)
        except grpc.RpcError as e:
            print(f"worker loop error: {e.code().name}: {e.details()}", file=sys.stderr, flush=True)
            time.sleep(1)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
