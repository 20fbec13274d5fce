"""An SMTP sink for the HAS end-to-end tests, on aiosmtpd (Debian's python3-aiosmtpd).

Listens on 127.0.0.1 on a free port, prints "READY <port>" once it accepts connections, and
writes every message it accepts to SINK_DIR as <n>.json: the envelope, the decoded subject,
headers and plain-text body, and the login that authenticated, if any.

SINK_DIR   where to write messages (required)
SINK_AUTH  "user:password": offer AUTH (PLAIN, LOGIN) without TLS and require it
Recipients at the domain reject.test are refused with 550.
"""

import asyncio
import email
import email.policy
import json
import logging
import os
import socket
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@reject.test"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        auth = getattr(session, "auth_data", None)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg.get("subject", "")),
            "from": str(msg.get("from", "")),
            "to": str(msg.get("to", "")),
            "content_type": msg.get_content_type(),
            "body": body.get_content().replace("\r\n", "\n") if body is not None else "",
            "auth_login": auth.login.decode() if auth is not None else None,
            "raw": envelope.original_content.decode("utf-8", "replace"),
        }
        self.count += 1
        path = os.path.join(self.out, "%06d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK: queued as %d" % self.count


def authenticator_for(expected):
    user, _, password = expected.partition(":")

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        # handled=False: aiosmtpd answers the refusal (535) itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


async def main():
    # AUTH without TLS is the point of this sink: no warnings about it.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    handler = Sink(os.environ["SINK_DIR"])
    auth = os.environ.get("SINK_AUTH")
    options = {"hostname": "sink.test"}
    if auth:
        options.update(
            authenticator=authenticator_for(auth), auth_required=True, auth_require_tls=False
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **options), sock=sock)
    print("READY %d" % sock.getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
