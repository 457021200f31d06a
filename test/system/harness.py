"""Helpers for celeriac's system tests.

Every test session gets its own RabbitMQ and PostgreSQL, started by compose/local on free
ports with data under a temporary directory (VAR), so sessions never touch a developer's stack
or each other. Every process a test starts logs to VAR/log/NAME.log and is stopped by its pid.

    stack = start_stack()                 # what the `stack` fixture does (conftest.py)
    migrate(stack)                        # bin/celeriac migrate against it
    p = start_proc([BIN / "celeriac-worker", "--concurrency", "2"], stack.env(), "worker")
    publish_raw(stack, "celery", b"[[], {}, {}]", headers={"task": "...", "id": "..."})
    wait_until(lambda: queue_count(stack, "celery") == 0, 10, message="worker drains celery")
    assert p.terminate(15) == 0
    assert_no_sanitizer_reports(p.log_text())
    stop_stack(stack)

    stack = start_stack(durable=True)     # fsync and synchronous_commit on (fault tests)
    stop_service(stack, "rabbitmq"); start_service(stack, "rabbitmq")   # same ports and data

    stack = start_stack(rabbitmq_nodes=3) # a RabbitMQ cluster: amqp_url lists the 3 nodes
    os.kill(stack.rabbitmq_pid(1), signal.SIGKILL); start_service(stack, "rabbitmq-1")

Polling helpers instead of sleeps: wait_until(predicate, timeout).
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import amqp
import psycopg2
from psycopg2 import sql as psql

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CELERIAC_BIN") or REPO / "bin")
COMPOSE_LOCAL = REPO / "compose" / "local"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


# ------------------------------------------------------------------------------ polling


def wait_until(predicate, timeout, interval=0.05, message=None):
    """Call predicate() every interval seconds until it returns anything but None or False,
    and return that (so a falsy result such as a requests.Response for a 503, or 0, counts).

    Exceptions raised by predicate count as "not yet" (a server still starting refuses
    connections). After timeout seconds, fail with message, the last value and the last
    exception."""
    deadline = time.monotonic() + timeout
    last, error = None, None
    while True:
        try:
            last = predicate()
            if last is not None and last is not False:
                return last
            error = None
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            error = e
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            detail = f"last error: {error!r}" if error is not None else f"last value: {last!r}"
            raise AssertionError(f"timed out after {timeout} s waiting for {what} ({detail})")
        time.sleep(interval)


# ------------------------------------------------------------------------------ ports


def free_ports(n):
    """n distinct TCP ports that are free on 127.0.0.1 right now (all bound at once)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


# ------------------------------------------------------------------------------ the stack


@dataclass
class Stack:
    """A private RabbitMQ + PostgreSQL run by compose/local from var."""

    var: Path
    amqp_port: int
    pg_port: int
    dist_port: int
    epmd_port: int
    webapp_port: int  # free when the stack started; for a webapp the tests start
    migrated: bool = False
    # False: PostgreSQL runs with PG_FAST=1 (fsync, synchronous_commit and full_page_writes
    # off: fast, but a crash may lose commits). True: PostgreSQL's defaults, every commit
    # waits for the disk, as in production (the fault-injection tests need that).
    durable: bool = False
    # A RabbitMQ cluster of this many nodes (compose/local --rabbitmq-nodes). Node 1 is
    # amqp_port/dist_port; amqp_ports/dist_ports list every node's, node 1's first.
    rabbitmq_nodes: int = 1
    amqp_ports: list = None
    dist_ports: list = None
    _up: bool = field(default=False, repr=False)

    def __post_init__(self):
        if self.amqp_ports is None:
            self.amqp_ports = [self.amqp_port]
        if self.dist_ports is None:
            self.dist_ports = [self.dist_port]
        assert len(self.amqp_ports) == len(self.dist_ports) == self.rabbitmq_nodes
        assert self.amqp_ports[0] == self.amqp_port and self.dist_ports[0] == self.dist_port

    @property
    def amqp_urls(self):
        """Every node's URL, node 1's first."""
        return [f"amqp://guest:guest@127.0.0.1:{port}/" for port in self.amqp_ports]

    @property
    def amqp_url(self):
        """One node's URL, or the cluster's nodes separated by ';' (as Celery's broker_url)."""
        return ";".join(self.amqp_urls)

    def rabbitmq_node(self, k=1):
        """Node K's Erlang node name (for rabbitmqctl -n)."""
        self._check_node(k)
        return f"celeriac-{self.amqp_port}@localhost" if k == 1 else \
            f"celeriac-{self.amqp_port}-{k}@localhost"

    def rabbitmq_pid(self, k=1):
        """The pid of node K's Erlang VM (beam.smp), or None when it does not run."""
        self._check_node(k)
        path = self.var / "run" / ("rabbitmq-beam.pid" if k == 1 else f"rabbitmq-{k}-beam.pid")
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def _check_node(self, k):
        if not 1 <= k <= self.rabbitmq_nodes:
            raise ValueError(f"no RabbitMQ node {k}: the stack has {self.rabbitmq_nodes}")

    @property
    def database_url(self):
        return f"postgresql://celeriac@127.0.0.1:{self.pg_port}/celeriac"

    @property
    def admin_database_url(self):
        """The superuser 'postgres' on the maintenance database: create or drop databases."""
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    @property
    def webapp_listen(self):
        return f"127.0.0.1:{self.webapp_port}"

    @property
    def webapp_url(self):
        return f"http://{self.webapp_listen}"

    @property
    def log_dir(self):
        return self.var / "log"

    def env(self, **extra):
        """os.environ plus this stack's AMQP_URL, DATABASE_URL, WEBAPP_LISTEN and extra."""
        env = dict(os.environ)
        env.update(AMQP_URL=self.amqp_url, DATABASE_URL=self.database_url,
                   WEBAPP_LISTEN=self.webapp_listen)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def compose_env(self):
        env = dict(os.environ)
        for k in ("WORKERS", "WEBAPP_LISTEN", "RABBITMQ_NODES", "AMQP_PORTS",
                  "AMQP_DIST_PORTS"):  # the caller's stack settings are not ours
            env.pop(k, None)
        env.update(CELERIAC_VAR=str(self.var), AMQP_PORT=str(self.amqp_port),
                   PG_PORT=str(self.pg_port), AMQP_DIST_PORT=str(self.dist_port),
                   EPMD_PORT=str(self.epmd_port), PG_FAST="0" if self.durable else "1",
                   RABBITMQ_NODES=str(self.rabbitmq_nodes))
        if self.rabbitmq_nodes > 1:
            env.update(AMQP_PORTS=",".join(map(str, self.amqp_ports)),
                       AMQP_DIST_PORTS=",".join(map(str, self.dist_ports)))
        return env

    def compose(self, *args, timeout=120, check=True):
        """Run compose/local ARGS for this stack; returns the CompletedProcess (text)."""
        r = subprocess.run([str(COMPOSE_LOCAL), *args], env=self.compose_env(), cwd=REPO,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"compose/local {' '.join(args)} failed (exit {r.returncode}):\n"
                               f"{r.stdout}{r.stderr}")
        return r


_current_stack = None  # the newest stack still up: start_proc()'s default env and log dir
_stacks = []  # every stack up, oldest first (a module may run its own beside the session's)


def _set_current(stack, up):
    global _current_stack
    if stack in _stacks:
        _stacks.remove(stack)
    if up:
        _stacks.append(stack)
    _current_stack = _stacks[-1] if _stacks else None


def start_stack(services_only=True, durable=False, rabbitmq_nodes=1):
    """Start RabbitMQ and PostgreSQL on free ports under a new temporary VAR. durable: keep
    PostgreSQL's fsync and synchronous_commit on (see Stack.durable). rabbitmq_nodes > 1: a
    RabbitMQ cluster of that many nodes, each on free AMQP and distribution ports."""
    base = os.environ.get("CELERIAC_TEST_TMPDIR") or "/tmp"
    var = Path(tempfile.mkdtemp(prefix="celeriac-test-", dir=base))
    var.chmod(0o755)  # PostgreSQL runs as 'postgres' when we are root: it must enter VAR
    last = None
    for _attempt in range(3):
        ports = free_ports(5 + 2 * (rabbitmq_nodes - 1))
        more = ports[5:]
        stack = Stack(var, *ports[:5], durable=durable, rabbitmq_nodes=rabbitmq_nodes,
                      amqp_ports=[ports[0], *more[0::2]], dist_ports=[ports[2], *more[1::2]])
        _set_current(stack, True)
        stack._up = True  # from here on, stop_stack() has something to stop
        args = ["--services-only"] if services_only else []
        if rabbitmq_nodes > 1:
            args += ["--rabbitmq-nodes", str(rabbitmq_nodes)]
        r = stack.compose("up", *args, check=False, timeout=240)
        if r.returncode == 0:
            return stack
        last = r
        stack.compose("down", check=False)
        if "already in use" not in r.stdout + r.stderr:
            break  # not a port race with another program: retrying will not help
    stop_stack(stack, keep_var=True)
    raise RuntimeError(f"compose/local up failed (exit {last.returncode}); VAR kept at {var}:\n"
                       f"{last.stdout}{last.stderr}")


def stop_stack(stack, keep_var=False):
    """Stop the processes started through start_proc(), then the servers; remove VAR unless
    keep_var. Fails when a process from VAR survives (after killing it). While another
    stack is up, only the processes logging under this stack's VAR are stopped."""
    others = [s for s in _stacks if s is not stack]
    stop_all_procs(under=stack.var if others else None)
    problems = []
    if stack._up:
        r = stack.compose("down", check=False)
        stack._up = False
        if r.returncode != 0:
            problems.append(f"compose/local down failed (exit {r.returncode}):\n"
                            f"{r.stdout}{r.stderr}")
    # The servers' command lines name their data directories (postgres -D, beam's mnesia dir),
    # epmd its port.
    leftovers = (processes_mentioning(str(stack.var / "postgres")) +
                 processes_mentioning(str(stack.var / "rabbitmq")) +
                 [(pid, cmd) for pid, cmd in processes_mentioning(f"-port {stack.epmd_port}")
                  if "epmd" in cmd and f"-port {stack.epmd_port} " in f"{cmd} "])
    for pid, cmd in leftovers:
        _kill(pid, signal.SIGKILL)
    if leftovers:
        problems.append("processes survived compose/local down (killed now):\n" +
                        "\n".join(f"  {pid} {cmd}" for pid, cmd in leftovers))
    _set_current(stack, False)
    if not keep_var:
        shutil.rmtree(stack.var, ignore_errors=True)
    if problems:
        raise AssertionError("\n".join(problems))


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state first), or None
    when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def pid_alive(pid):
    """PID is a live process, not a zombie (init may never reap orphans here)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def processes_mentioning(text):
    """(pid, command line) of live processes whose command line contains text."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and pid_alive(d.name):
            found.append((int(d.name), cmd.strip()))
    return found


SERVICES = ("rabbitmq", "postgres")


def _check_service(stack, name):
    nodes = [f"rabbitmq-{k}" for k in range(1, stack.rabbitmq_nodes + 1)]
    assert name in SERVICES or name in nodes, \
        f"no service {name!r} (services: {', '.join([*SERVICES, *nodes])})"


def stop_service(stack, name):
    """Stop one server of the stack (compose/local stop NAME: rabbitmq, every node with
    their epmd; rabbitmq-K, node K only; or postgres) by its pid; the rest keeps running.
    Returns compose/local's output."""
    _check_service(stack, name)
    return stack.compose("stop", name, timeout=60).stdout


def start_service(stack, name):
    """Start a server stopped by stop_service() again, on the same ports with the same data
    (and fsync setting), and wait until it is ready (a cluster node: back in its cluster).
    Returns compose/local's output."""
    _check_service(stack, name)
    return stack.compose("start", name, timeout=180).stdout


def migrate(stack, required=True):
    """Run bin/celeriac migrate against stack. Without the binary: fail, or return False
    when not required. Returns True once migrated."""
    exe = BIN / "celeriac"
    if not exe.exists():
        if required:
            raise AssertionError(f"{exe} not found: build it with 'make' first")
        return False
    r = subprocess.run([str(exe), "migrate"], env=stack.env(), cwd=REPO,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    output = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError(f"celeriac migrate failed (exit {r.returncode}):\n{output}")
    assert_no_sanitizer_reports(output, "celeriac migrate")
    stack.migrated = True
    return True


# ------------------------------------------------------------------------------ processes


def assert_no_sanitizer_reports(text, what="process output"):
    """Fail when text holds an AddressSanitizer, LeakSanitizer or UBSan report."""
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            start = text.rfind("\n", 0, max(0, i - 200)) + 1
            raise AssertionError(f"sanitizer report in {what}:\n{text[start:start + 4000]}")


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid):
    for d in Path("/proc").iterdir():
        fields = _stat_fields(d.name) if d.name.isdigit() else None
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup():
    # If pytest itself is killed, take the process along instead of leaking it.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Proc:
    """A program started by start_proc(): its own process group, output in log_path."""

    def __init__(self, argv, env, name, log_path):
        self.argv = [str(a) for a in argv]
        self.name = name
        self.log_path = Path(log_path)
        with open(self.log_path, "ab") as log:
            log.write(f"==== harness starts {name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, preexec_fn=_child_setup)
        self.pid = self.popen.pid

    def __repr__(self):
        return f"<Proc {self.name} pid {self.pid}>"

    def log_text(self):
        """What the process wrote (stdout and stderr), without the harness's header line."""
        text = self.log_path.read_text(errors="replace")
        return text.split("\n", 1)[1] if text.startswith("==== harness starts") else text

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        """Exit status once exited (negative: killed by that signal), else None."""
        return self.popen.poll()

    def poll(self):
        """As Popen.poll(): None while running, else the exit status."""
        return self.popen.poll()

    def signal(self, sig):
        if self.alive():
            _kill(self.pid, sig)

    def wait(self, timeout):
        """Wait for exit; returns the exit status. Raises subprocess.TimeoutExpired."""
        return self.popen.wait(timeout)

    def wait_for_log(self, text, timeout, message=None):
        """Wait until text appears in the log (fails early if the process exits first)."""
        def seen():
            if text in self.log_text():
                return True
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.returncode} before "
                                     f"logging {text!r}:\n{self.log_text()[-3000:]}")
            return False
        try:
            return wait_until(seen, timeout, message=message or f"{text!r} in {self.log_path}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.log_path}:\n{self.log_text()[-3000:]}") from None

    def terminate(self, timeout=15):
        """SIGTERM, wait up to timeout s, return the exit status. A process that does not
        exit in time is killed (with its process group) and the call fails."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f"{self.name} (pid {self.pid}) ignored SIGTERM for {timeout} s; "
                                 "killed") from None

    def kill(self):
        """SIGKILL this process only (its children are left to cope, as after a crash);
        returns the exit status."""
        self.signal(signal.SIGKILL)
        return self.popen.wait(10)

    def kill_group(self):
        """SIGKILL the process and everything left in its process group."""
        _killpg(self.pid, signal.SIGKILL)
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout=10):
        """Stop the process if it runs and whatever it left in its group; never fails."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.alive() or _group_alive(self.pid):
            self.kill_group()


_procs = []


def _unique_log_path(log_dir, name):
    path = log_dir / f"{name}.log"
    n = 2
    while path.exists():
        path = log_dir / f"{name}-{n}.log"
        n += 1
    return path


def start_proc(argv, env=None, name=None, log_dir=None):
    """Start argv with its stdout and stderr in LOG_DIR/NAME.log (NAME-2.log... when taken).

    env defaults to the current stack's env(); log_dir to its log directory. The process is
    stopped at the end of the session at the latest (by pid, with its process group)."""
    stack = _current_stack
    if env is None:
        env = stack.env() if stack else dict(os.environ)
    if log_dir is None:
        log_dir = stack.log_dir if stack else Path(tempfile.mkdtemp(prefix="celeriac-logs-"))
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    name = name or Path(str(argv[0])).name
    proc = Proc(argv, env, name, _unique_log_path(log_dir, name))
    _procs.append(proc)
    return proc


def stop_all_procs(under=None):
    """Stop every process start_proc() started, or only those logging under directory under
    (a stack's VAR)."""
    for proc in list(reversed(_procs)):
        if under is None or Path(under) in proc.log_path.parents:
            _procs.remove(proc)
            proc.stop()


def start_worker(*args, env=None, name="worker", concurrency=2, ready_timeout=30,
                 starter=None):
    """Start bin/celeriac-worker --concurrency N ARGS and wait until each child logs
    "consuming" (worker/child.c). starter defaults to start_proc (the conftest fixtures pass
    their per-test one)."""
    starter = starter or start_proc
    p = starter([BIN / "celeriac-worker", "--concurrency", str(concurrency), *args], env, name)

    def ready():
        if p.poll() is not None:
            raise _Exited(p)
        return p.log_text().count("consuming ") >= concurrency
    _wait_ready(p, ready, ready_timeout, f"{concurrency} children of {name} consuming")
    return p


def start_webapp(env=None, name="webapp", ready_timeout=30, starter=None, healthz=200):
    """Start bin/celeriac-webapp on a free port and wait until GET /healthz answers healthz
    (200: everything up). The handle gets .url (http://127.0.0.1:PORT)."""
    starter = starter or start_proc
    stack = _current_stack
    env = dict(env if env is not None else stack.env() if stack else os.environ)
    env["WEBAPP_LISTEN"] = f"127.0.0.1:{free_port()}"
    p = starter([BIN / "celeriac-webapp"], env, name)
    p.url = f"http://{env['WEBAPP_LISTEN']}"

    def ready():
        if p.poll() is not None:
            raise _Exited(p)
        try:
            with urllib.request.urlopen(p.url + "/healthz", timeout=5) as r:
                return r.status == healthz
        except urllib.error.HTTPError as e:  # a 503
            return e.code == healthz
        except (urllib.error.URLError, OSError):
            return False
    _wait_ready(p, ready, ready_timeout, f"{name} answering {p.url}/healthz with {healthz}")
    return p


def start_webapp_with_down(stack, down, name=None, starter=None):
    """A webapp whose DATABASE_URL (down="database") or AMQP_URL (down="broker") names a
    port nobody listens on: that service is down for it alone, at no cost to other tests.
    Waits until /healthz answers 503; the handle gets .url."""
    closed = f"127.0.0.1:{free_port()}"
    url = {"database": ("DATABASE_URL", f"postgresql://celeriac@{closed}/celeriac"),
           "broker": ("AMQP_URL", f"amqp://guest:guest@{closed}/")}[down]
    return start_webapp(env=stack.env(**dict([url])), name=name or f"webapp-no-{down}",
                        starter=starter, healthz=503)


class _Exited(Exception):
    def __init__(self, proc):
        super().__init__(f"{proc.name} exited with status {proc.returncode}")


def _wait_ready(proc, ready, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except _Exited as e:
            raise AssertionError(f"{e} before {what}:\n{proc.log_text()[-4000:]}") from None
        if time.monotonic() >= deadline:
            proc.stop()
            raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n"
                                 f"{proc.log_text()[-4000:]}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------ PostgreSQL


def db(stack):
    """A new autocommit psycopg2 connection to the stack's celeriac database (close it)."""
    conn = psycopg2.connect(stack.database_url, connect_timeout=5)
    conn.autocommit = True
    return conn


def create_database(stack, name, owner="celeriac"):
    """Create an empty database; returns its URL (as celeriac)."""
    conn = psycopg2.connect(stack.admin_database_url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(psql.SQL("CREATE DATABASE {} OWNER {}").format(
                psql.Identifier(name), psql.Identifier(owner)))
    finally:
        conn.close()
    return f"postgresql://{owner}@127.0.0.1:{stack.pg_port}/{name}"


def drop_database(stack, name):
    """Drop a database, disconnecting whoever still uses it."""
    conn = psycopg2.connect(stack.admin_database_url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psql.Identifier(name)))
    finally:
        conn.close()


def query(stack, sql, params=None):
    """Run one statement on a fresh connection; returns all rows (or [] without a result)."""
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# ------------------------------------------------------------------------------ RabbitMQ


@contextmanager
def amqp_channel(stack, confirm=True, node=1, vhost="/"):
    """A channel on a new connection to node (1: the first) as guest to vhost; with
    confirm, basic_publish returns only after the broker confirmed the message."""
    stack._check_node(node)
    conn = amqp.Connection(host=f"127.0.0.1:{stack.amqp_ports[node - 1]}", userid="guest",
                           password="guest", virtual_host=vhost, connect_timeout=5,
                           confirm_publish=confirm)
    conn.connect()
    try:
        yield conn.channel()
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the broker may have closed it already
            pass


def declare_queue(stack, queue):
    """Declare queue as celeriac and Celery do: durable, no arguments."""
    with amqp_channel(stack) as ch:
        ch.queue_declare(queue, durable=True, auto_delete=False)


def publish_raw(stack, queue, body, headers=None, properties=None, declare=True):
    """Publish body (bytes, or str sent as UTF-8) to the default exchange with routing key
    queue, persistent, confirmed by the broker. properties are py-amqp message properties
    (content_type, content_encoding, correlation_id, reply_to, priority, expiration, ...);
    headers become the AMQP application headers. declare first declares the queue."""
    if isinstance(body, str):
        body = body.encode()
    props = {"delivery_mode": 2}
    props.update(properties or {})
    msg = amqp.Message(body, application_headers=dict(headers or {}), **props)
    with amqp_channel(stack) as ch:
        if declare:
            ch.queue_declare(queue, durable=True, auto_delete=False)
        ch.basic_publish(msg, exchange="", routing_key=queue)


def queue_count(stack, queue):
    """Messages ready in queue (passive declare). Raises amqp.exceptions.NotFound if the
    queue does not exist."""
    with amqp_channel(stack, confirm=False) as ch:
        _name, count, _consumers = ch.queue_declare(queue, passive=True)
        return count


class Received(tuple):
    """A message taken by get_message(): unpacks as (body, headers); also has .body (bytes),
    .headers (dict), .properties (dict), .routing_key, .redelivered and .json()."""

    def __new__(cls, body, headers, properties, routing_key, redelivered):
        self = super().__new__(cls, (body, headers))
        self.properties = properties
        self.routing_key = routing_key
        self.redelivered = redelivered
        return self

    body = property(lambda self: self[0])
    headers = property(lambda self: self[1])

    def json(self):
        return json.loads(self.body)


def get_message(stack, queue):
    """basic.get one message from queue and ack it: a Received (body, headers), or None if
    the queue is empty.
    Raises amqp.exceptions.NotFound if the queue does not exist."""
    with amqp_channel(stack, confirm=False) as ch:
        msg = ch.basic_get(queue, no_ack=False)
        if msg is None:
            return None
        ch.basic_ack(msg.delivery_tag)
        body = msg.body
        if isinstance(body, str):
            body = body.encode(msg.properties.get("content_encoding") or "utf-8")
        props = dict(msg.properties)
        headers = props.pop("application_headers", None) or {}
        return Received(bytes(body), dict(headers), props, msg.delivery_info.get("routing_key"),
                        bool(msg.delivery_info.get("redelivered")))


def purge(stack, queue):
    """Drop every ready message in queue; returns how many. A missing queue counts as 0."""
    try:
        with amqp_channel(stack, confirm=False) as ch:
            return ch.queue_purge(queue) or 0
    except amqp.exceptions.NotFound:
        return 0


def rabbitmqctl(stack, *args, timeout=60, node=1):
    """Run Debian's rabbitmqctl against this stack's node (node K of a cluster) (policies,
    queue lists...); returns its stdout. Fails on a non-zero exit."""
    env = dict(os.environ, HOME=str(stack.var / "rabbitmq" / "home"),
               ERL_EPMD_PORT=str(stack.epmd_port))
    r = subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n",
                        stack.rabbitmq_node(node), *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed (exit {r.returncode}):\n"
                             f"{r.stdout}{r.stderr}")
    return r.stdout


# ------------------------------------------------------------------------------ tasks


def states(stack, ids):
    """{state: count} of the task rows among ids."""
    return dict(query(stack, "SELECT state, count(*) FROM tasks WHERE id = ANY(%s::uuid[]) "
                             "GROUP BY state", (list(ids),)))


def done_count(stack, ids):
    """How many of the task rows among ids are SUCCESS."""
    return states(stack, ids).get("SUCCESS", 0)


def assert_each_ran_once(stack, ids, key_prefix):
    """Every id SUCCESS; one demo_records row and one log line per id; no other task wrote a
    key of this run (a refused request that ran anyway would)."""
    ids = list(ids)
    n = len(ids)
    assert states(stack, ids) == {"SUCCESS": n}
    [(records, distinct)] = query(stack, "SELECT count(*), count(DISTINCT task_id) FROM "
                                         "demo_records WHERE task_id = ANY(%s::uuid[])", (ids,))
    assert (records, distinct) == (n, n)
    [(logs,)] = query(stack, "SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])",
                      (ids,))
    assert logs == n, f"{logs} log lines for {n} tasks: some task ran twice (or not at all)"
    [(keys, distinct_keys)] = query(stack, "SELECT count(*), count(DISTINCT key) FROM "
                                           "demo_records WHERE key LIKE %s", (key_prefix + "%",))
    assert (keys, distinct_keys) == (n, n), "a key of this run was recorded by another task"


def v2_message(task_id, name, args):
    """A Celery protocol v2 message as Celery 5 sends it (../shared/celery-wire)."""
    body = json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                  "chord": None}])
    headers = {"lang": "py", "task": name, "id": task_id, "shadow": None, "eta": None,
               "expires": None, "group": None, "group_index": None, "retries": 0,
               "timelimit": [None, None], "root_id": task_id, "parent_id": None,
               "argsrepr": repr(tuple(args)), "kwargsrepr": "{}", "origin": "test",
               "ignore_result": False}
    return amqp.Message(body.encode(), application_headers=headers, delivery_mode=2,
                        content_type="application/json", content_encoding="utf-8",
                        correlation_id=task_id, priority=0)


def publish_records(stack, keys, queue="celery"):
    """Publish one demo.record(key) per key as raw v2 messages, persistent, in one AMQP
    transaction (durable in RabbitMQ once tx.commit returns); returns their ids."""
    ids = [str(uuid.uuid4()) for _ in keys]
    with amqp_channel(stack, confirm=False) as ch:
        ch.queue_declare(queue, durable=True, auto_delete=False)
        ch.tx_select()
        for task_id, key in zip(ids, keys):
            ch.basic_publish(v2_message(task_id, "demo.record", [key]), exchange="",
                             routing_key=queue)
        ch.tx_commit()
    return ids
