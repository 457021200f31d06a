"""Hold N idle Server-Sent Events streams open on the webapp (make bench, step 11).

    python3 test/bench/sse_idle.py URL N TOPICS

Opens N connections to URL/api/events?topics=TOPICS (a few at a time), prints
"open N" once every one has answered 200, then keeps reading (heartbeats) and
prints "lost K" when streams end, until SIGTERM or SIGINT. Each stream is a
plain socket in one selector loop: a few MB for 1,000 of them."""
import resource
import selectors
import signal
import socket
import sys
import time
from urllib.parse import quote, urlsplit


def main():
    url, n, topics = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    u = urlsplit(url)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    request = (f"GET /api/events?topics={quote(topics, safe=',:')} HTTP/1.1\r\n"
               f"Host: {u.netloc}\r\nAccept: text/event-stream\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    state = {}  # socket -> bytes of the response head read so far, or None once 200
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    opened = lost = 0
    pending = n
    deadline = time.monotonic() + 120
    while not stop:
        # At most 50 connects in flight: a burst of 1,000 SYNs is not what we measure.
        while pending > 0 and sum(1 for v in state.values() if v is not None) < 50:
            s = socket.create_connection((u.hostname, u.port))
            s.sendall(request)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            state[s] = b""
            pending -= 1
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                del state[s]
                lost += 1
                print(f"lost {lost}", flush=True)
                continue
            head = state[s]
            if head is None:
                continue  # a heartbeat
            head += data
            if b"\r\n\r\n" in head:
                if not head.startswith(b"HTTP/1.1 200"):
                    sys.exit(f"sse_idle: a stream was refused: {head[:600]!r}")
                state[s] = None
                opened += 1
                if opened == n:
                    print(f"open {n}", flush=True)
            else:
                state[s] = head
        if opened < n and time.monotonic() > deadline:
            sys.exit(f"sse_idle: only {opened} of {n} streams opened within 120 s")
    for s in list(state):
        s.close()


if __name__ == "__main__":
    main()
