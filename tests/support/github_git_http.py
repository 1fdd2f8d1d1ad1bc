"""Git's smart HTTP protocol for the fake GitHub, served by git's own `git http-backend` (a CGI).

GitHub serves a repository at https://github.com/<owner>/<repo>.git; the fake serves it at
<url>/<owner>/<repo>.git on its one port. The repository is private: a fetch or a push without a
token is 401 with `WWW-Authenticate: Basic` (git then fails, since it may not prompt), as GitHub
answers for a private repository. A token goes the way actions/checkout sends it, HTTP Basic with
the token as the password; what it may do is up to `authorize` (a push needs contents: write).
"""

from __future__ import annotations

import base64
import binascii
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Final

from starlette.responses import Response

GIT_PATH: Final = re.compile(
    r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|git-receive-pack)$"
)


def git_service(rest: str, query: str) -> str:
    """git-upload-pack (fetch) or git-receive-pack (push), from the path or ?service=."""
    if rest == "info/refs":
        match = re.search(r"(?:^|&)service=(git-[a-z-]+)", query)
        return match.group(1) if match else "git-upload-pack"
    return rest


def basic_token(authorization: str | None) -> str | None:
    """The password of HTTP Basic credentials (where git puts a token), or None."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        _user, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or None


def serve(
    git_dir: Path,
    method: str,
    rest: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    authorize: Callable[[str | None, str], str | None],
) -> Response:
    """One smart-HTTP request against the bare repository `git_dir`. `authorize(token, service)`
    answers None to go on, or the refusal: "401" (no credentials) or a 403 message."""
    service = git_service(rest, query)
    refusal = authorize(basic_token(headers.get("authorization")), service)
    if refusal == "401":
        return Response(
            "Authentication required\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
            media_type="text/plain",
        )
    if refusal is not None:
        return Response(refusal + "\n", status_code=403, media_type="text/plain")
    environment = {
        "GIT_PROJECT_ROOT": str(git_dir.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{git_dir.name}/{rest}",
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": "github-actions[bot]",  # http-backend takes pushes only from someone
        "REMOTE_ADDR": "127.0.0.1",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    if headers.get("content-encoding"):
        environment["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    if headers.get("git-protocol"):
        environment["GIT_PROTOCOL"] = headers["git-protocol"]
    done = subprocess.run(
        ["git", "http-backend"], input=body, env=environment, capture_output=True, check=False, timeout=60
    )
    head, _, payload = done.stdout.partition(b"\r\n\r\n")
    status, response_headers = 200, {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            response_headers[name.strip()] = value.strip()
    if done.returncode != 0 and not done.stdout:
        return Response(done.stderr, status_code=500, media_type="text/plain")
    media_type = response_headers.pop("Content-Type", None)
    return Response(payload, status_code=status, headers=response_headers, media_type=media_type)
