# A TCP listener that is not RabbitMQ: it accepts, reads the client's first bytes and answers
# with a line of text. It stands in for a port that is open while the broker behind it is not
# working, which a plain TCP check would take for healthy. Run: python3 not_amqp_server.py PORT
import socket
import sys


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", int(sys.argv[1])))
    server.listen(16)
    while True:
        conn = server.accept()[0]
        conn.settimeout(2)
        try:
            conn.recv(64)
            conn.sendall(b"NOT AMQP\r\n")
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
