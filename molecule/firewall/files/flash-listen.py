# Echo listeners on the firewalled host: every port in argv accepts TCP and echoes what it reads,
# so a probe can tell open from refused from filtered, and a held connection can prove it still
# carries data after the table was replaced.
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('0.0.0.0', int(port)))
    srv.listen(64)
    srv.setblocking(False)
    sel.register(srv, selectors.EVENT_READ, 'accept')
while True:
    for key, dummy in sel.select():
        if key.data == 'accept':
            conn, dummy = key.fileobj.accept()
            conn.setblocking(False)
            sel.register(conn, selectors.EVENT_READ, 'echo')
        else:
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b''
            if data:
                try:
                    key.fileobj.sendall(data)
                except OSError:
                    pass
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
