# -*- coding: utf-8 -*-
# Copyright (c) 2026, Flash Connect infrastructure team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for Slack, PagerDuty, a dead-man's switch and an SMTP server, for tests.

HTTP (port 8080): every POST is logged as one JSON line {"kind": "http", "path", "body"} (the body
parsed as JSON when it is JSON) and answered 200 {"ok": true}. GET /received returns the records,
only those at one of the `path` parameters (if any) whose JSON text holds every `contains` parameter
and, with `since` (Unix time), only those received since then (each record carries its "at").
SMTP (port 2525): every message is logged as {"kind": "smtp", "from", "to", "subject", "data"}.
Records go to /var/log/flash-sink/received.jsonl and stay in memory for GET /received."""

import email
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOG = os.environ.get('FLASH_SINK_LOG', '/var/log/flash-sink/received.jsonl')
RECORDS = []
LOCK = threading.Lock()


def record(entry):
    entry['at'] = time.time()
    with LOCK:
        RECORDS.append(entry)
        with open(LOG, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps(entry, sort_keys=True) + '\n')


class Web(BaseHTTPRequestHandler):
    def _answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 (http.server's naming)
        raw = self.rfile.read(int(self.headers.get('Content-Length') or 0)).decode('utf-8', 'replace')
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        record({'kind': 'http', 'path': self.path, 'body': body})
        self._answer(200, {'ok': True})

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path != '/received':
            self._answer(404, {'error': 'GET /received only'})
            return
        query = parse_qs(url.query)
        paths, needles = query.get('path', []), query.get('contains', [])
        since = float(query.get('since', ['0'])[0])
        with LOCK:
            found = [entry for entry in RECORDS
                     if (not paths or entry['path'] in paths) and entry['at'] >= since
                     and all(needle in json.dumps(entry) for needle in needles)]
        self._answer(200, found)

    def log_message(self, fmt, *args):
        sys.stderr.write('http %s\n' % (fmt % args))


class Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for Alertmanager: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT (no TLS, no AUTH)."""

    def reply(self, line):
        self.wfile.write((line + '\r\n').encode())

    def handle(self):
        sender, rcpts = '', []
        self.reply('220 flash-sink ESMTP')
        while True:
            line = self.rfile.readline().decode('utf-8', 'replace').rstrip('\r\n')
            if not line:
                return
            verb = line.split(' ', 1)[0].upper()
            if verb in ('EHLO', 'HELO'):
                self.reply('250-flash-sink')
                self.reply('250 8BITMIME')
            elif verb == 'MAIL':
                sender, rcpts = line.split(':', 1)[1].strip().strip('<>'), []
                self.reply('250 OK')
            elif verb == 'RCPT':
                rcpts.append(line.split(':', 1)[1].strip().strip('<>'))
                self.reply('250 OK')
            elif verb == 'DATA':
                self.reply('354 end with <CRLF>.<CRLF>')
                lines = []
                while True:
                    data = self.rfile.readline().decode('utf-8', 'replace')
                    if data in ('.\r\n', '.\n', ''):
                        break
                    lines.append(data[1:] if data.startswith('..') else data)
                text = ''.join(lines)
                message = email.message_from_string(text)
                record({'kind': 'smtp', 'path': 'smtp', 'from': sender, 'to': rcpts,
                        'subject': str(message.get('Subject', '')), 'data': text})
                self.reply('250 OK queued')
            elif verb in ('RSET', 'NOOP'):
                self.reply('250 OK')
            elif verb == 'QUIT':
                self.reply('221 bye')
                return
            else:
                self.reply('502 not implemented')


class SmtpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    smtp = SmtpServer(('0.0.0.0', int(os.environ.get('FLASH_SINK_SMTP_PORT', '2525'))), Smtp)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    ThreadingHTTPServer(('0.0.0.0', int(os.environ.get('FLASH_SINK_HTTP_PORT', '8080'))), Web).serve_forever()


if __name__ == '__main__':
    main()
