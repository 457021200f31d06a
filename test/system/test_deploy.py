"""Deployment: `make install`, compose/Dockerfile and compose/docker-compose.yml.

There is no Docker engine here, so the compose file is validated by Compose itself
(`docker-compose config`, Debian's Compose 1.29, which never contacts a daemon) and checked
against the install tree the Dockerfile copies: every service runs a program that `make
install` installs, where the image puts it on PATH, with settings the programs read. The
installed programs then run against the test stack from outside the checkout."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
import yaml

import harness
from harness import REPO, wait_until

COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
ENV_EXAMPLE = REPO / "compose" / ".env.example"
DOCKERFILE = REPO / "compose" / "Dockerfile"
PREFIX = "/usr/local"
APP_SERVICES = {"migrate", "webapp", "worker"}
PROGRAMS = ["celeriac", "celeriac-webapp", "celeriac-worker"]


def compose(*args, env_file=ENV_EXAMPLE):
    """docker-compose -f compose/docker-compose.yml --env-file ENV_FILE ARGS, with none of
    the caller's environment variables leaking into the interpolation."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (it is in compose/packages-test.txt: "
                    "compose/install-deps test)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
    return subprocess.run([exe, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
                          env=env, capture_output=True, text=True, timeout=60)


def compose_config(env_file=ENV_EXAMPLE):
    r = compose("config", env_file=env_file)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def env_file_with(tmp_path, **changes):
    """compose/.env.example with some values replaced (or added)."""
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines()
             if line.split("=", 1)[0] not in changes]
    lines += [f"{k}={v}" for k, v in changes.items()]
    path = tmp_path / "env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def installed():
    """`make install DESTDIR=<tmp> PREFIX=/usr/local`: the tree the image copies."""
    dest = Path(tempfile.mkdtemp(prefix="celeriac-install-"))
    try:
        r = subprocess.run(["make", "--no-print-directory", "install", f"DESTDIR={dest}",
                            f"PREFIX={PREFIX}"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        yield dest / PREFIX.lstrip("/")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


# ---------------------------------------------------------------- the compose file


def test_compose_file_is_valid_with_the_example_settings():
    r = compose("config", "-q")
    assert r.returncode == 0, r.stderr

    config = compose_config()
    services = config["services"]
    assert set(services) == {"rabbitmq", "postgres"} | APP_SERVICES
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert re.fullmatch(r"amqp://celeriac:[^@]+@rabbitmq:5672/celeriac", env["AMQP_URL"])
        assert re.fullmatch(r"postgresql://celeriac:[^@]+@postgres:5432/celeriac",
                            env["DATABASE_URL"])
        # One image for all three, built from compose/Dockerfile at the repository root.
        assert services[name]["image"] == services["webapp"]["image"]
        assert Path(services[name]["build"]["context"]) == REPO
        assert services[name]["build"]["dockerfile"] == "compose/Dockerfile"
    # The credentials the servers are created with are the ones in the URLs.
    rabbit, pg = services["rabbitmq"]["environment"], services["postgres"]["environment"]
    assert services["worker"]["environment"]["AMQP_URL"] == (
        f"amqp://{rabbit['RABBITMQ_DEFAULT_USER']}:{rabbit['RABBITMQ_DEFAULT_PASS']}"
        f"@rabbitmq:5672/{rabbit['RABBITMQ_DEFAULT_VHOST']}")
    assert services["worker"]["environment"]["DATABASE_URL"] == (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{pg['POSTGRES_DB']}")

    # migrate waits for healthy servers; the apps wait for migrate to have succeeded.
    healthy = {"rabbitmq": {"condition": "service_healthy"},
               "postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["depends_on"] == healthy
    for name in ("webapp", "worker"):
        assert services[name]["depends_on"] == dict(
            healthy, migrate={"condition": "service_completed_successfully"})
    assert services["rabbitmq"]["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q",
                                                               "ping"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]

    webapp = services["webapp"]
    assert webapp["environment"]["WEBAPP_LISTEN"] == "0.0.0.0:8080"
    assert webapp["environment"]["CELERIAC_AUTH"]
    assert webapp["ports"] == [{"published": 8080, "target": 8080}]
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["stop_grace_period"] == "5m"


def test_replicas_port_and_build_arg_come_from_the_env_file(tmp_path):
    env_file = env_file_with(tmp_path, WORKER_REPLICAS=5, WEBAPP_PORT=9090, WITH_LIBREOFFICE=1,
                             WORKER_CONCURRENCY=3)
    r = compose("config", "-q", env_file=env_file)
    assert r.returncode == 0, r.stderr
    services = compose_config(env_file)["services"]
    assert services["worker"]["deploy"]["replicas"] == 5
    assert services["worker"]["environment"]["WORKER_CONCURRENCY"] == "3"
    assert services["webapp"]["ports"] == [{"published": 9090, "target": 8080}]
    for name in APP_SERVICES:
        assert services[name]["build"]["args"] == {"WITH_LIBREOFFICE": "1"}


def test_compose_refuses_a_missing_password_and_bad_replicas(tmp_path):
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines()
             if not line.startswith("POSTGRES_PASSWORD=")]
    no_password = tmp_path / "no-password"
    no_password.write_text("\n".join(lines) + "\n")
    r = compose("config", "-q", env_file=no_password)
    assert r.returncode != 0
    assert "set POSTGRES_PASSWORD in compose/.env" in r.stderr

    r = compose("config", "-q", env_file=env_file_with(tmp_path, WORKER_REPLICAS="many"))
    assert r.returncode != 0
    assert "replicas" in r.stderr and "many" in r.stderr


def test_apps_get_only_settings_the_programs_read():
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`",
                                (REPO / "docs" / "operations.md").read_text(), re.M))
    assert {"AMQP_URL", "DATABASE_URL", "WORKER_CONCURRENCY"} <= documented
    for name, service in compose_config()["services"].items():
        if name in APP_SERVICES:
            unknown = set(service["environment"]) - documented
            assert not unknown, f"{name}: {unknown} not in docs/operations.md's table"


# ---------------------------------------------------------------- install tree and image


def test_make_install_lays_out_programs_migrations_and_docs(installed):
    for program in PROGRAMS:
        path = installed / "bin" / program
        assert path.is_file() and os.access(path, os.X_OK), path
        # Each program's --help, saved at install time.
        help_text = (installed / "share" / "doc" / "celeriac" / f"{program}.txt").read_text()
        assert help_text.startswith(f"usage: {program}")
    sql = sorted(p.name for p in (REPO / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    assert sql and sorted(os.listdir(installed / "share" / "celeriac" / "sql")) == sql
    docs = installed / "share" / "doc" / "celeriac"
    assert (docs / "README.md").is_file() and (docs / "docs" / "operations.md").is_file()


def test_every_service_runs_an_installed_program(installed):
    for name, service in compose_config()["services"].items():
        if name in APP_SERVICES:
            command = service["command"]
            assert (installed / "bin" / command[0]).is_file(), f"{name}: {command}"


def dockerfile_stages():
    """The Dockerfile's instructions (continuation lines joined), split by FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_copies_the_install_tree_onto_path():
    build, run = dockerfile_stages()
    assert build[0] == "FROM debian:bookworm AS build"
    assert run[0] == "FROM debian:bookworm-slim"
    install = re.search(r"make install DESTDIR=(\S+) PREFIX=(\S+)", " ".join(build))
    assert install, build
    destdir, prefix = install.groups()
    copies = [line.split()[1:] for line in run if line.startswith("COPY --from=build")]
    assert copies == [["--from=build", f"{destdir}{prefix}/", f"{prefix}/"]]
    path = next(line for line in run if line.startswith("ENV PATH="))
    assert f"{prefix}/bin" in path.split("=", 1)[1].split(":")
    assert "USER celeriac" in run
    assert not any(line.startswith("ENTRYPOINT") for line in run)

    # Every file COPY takes from the context exists and is not left out by .dockerignore.
    ignored = (REPO / ".dockerignore").read_text()
    for line in build + run:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if source != ".":
                    assert (REPO / source).is_file(), line
                    assert source not in ignored, line


def package_list(name):
    text = (REPO / "compose" / f"packages-{name}.txt").read_text()
    return {re.sub(r"#.*", "", line).strip() for line in text.splitlines()} - {""}


def owning_package(path):
    # Debian 12 merged /lib into /usr/lib; dpkg knows a file by the name it shipped.
    for candidate in (path, path[4:] if path.startswith("/usr/") else "/usr" + path):
        r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    pytest.fail(f"no Debian package owns {path}")


def test_image_package_list_has_every_library_the_programs_link(installed):
    image, missing = package_list("image"), set()
    for program in PROGRAMS:
        binary = installed / "bin" / program
        readelf = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                                 check=True).stdout
        needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", readelf))
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        found = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
        for soname in needed:
            # libc6 is in every image; a SANITIZE build's runtimes are in none.
            if soname.startswith(("libc.so", "libm.so", "libasan", "libubsan")):
                continue
            assert soname in found, f"{program}: ldd does not find {soname}:\n{ldd}"
            package = owning_package(found[soname])
            if package not in image:
                missing.add(f"{package} ({soname}, linked by {program})")
    assert not missing, f"not in compose/packages-image.txt: {sorted(missing)}"


def test_libreoffice_build_arg_finds_its_packages():
    # The run stage takes the libreoffice-* lines of compose/packages-run.txt.
    run_stage = " ".join(dockerfile_stages()[1])
    expr = re.search(r"sed -n '([^']*)' /tmp/packages-run.txt", run_stage)
    assert expr and 'WITH_LIBREOFFICE" = 1' in run_stage
    out = subprocess.run(["sed", "-n", expr.group(1), str(REPO / "compose" / "packages-run.txt")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out and set(out) <= package_list("run")
    assert "libreoffice-writer-nogui" in out


# ---------------------------------------------------------------- outside the checkout


def test_installed_programs_run_outside_the_checkout(installed, stack, empty_database):
    elsewhere = Path(tempfile.mkdtemp(prefix="celeriac-elsewhere-"))
    bindir = installed / "bin"
    env = stack.env(DATABASE_URL=empty_database, WEBAPP_LISTEN=f"127.0.0.1:{harness.free_port()}")
    try:
        for program in PROGRAMS:
            r = subprocess.run([bindir / program, "--help"], cwd=elsewhere, env=env,
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0 and r.stdout.startswith(f"usage: {program}"), r.stderr
        # The migrations are compiled in: a new database gets its schema from the binary.
        r = subprocess.run([bindir / "celeriac", "migrate"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        harness.assert_no_sanitizer_reports(r.stdout + r.stderr, "celeriac migrate")

        # The pages' CSS and scripts are compiled in too.
        url = "http://" + env["WEBAPP_LISTEN"]
        log_path = elsewhere / "webapp.log"
        with open(log_path, "w") as log:
            webapp = subprocess.Popen([bindir / "celeriac-webapp"], cwd=elsewhere, env=env,
                                      stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            wait_until(lambda: requests.get(url + "/healthz", timeout=5).status_code == 200,
                       30, message="the installed webapp to answer /healthz")
            for path, kind in (("/static/style.css", "text/css"),
                               ("/static/live.js", "javascript")):
                r = requests.get(url + path, timeout=10)
                assert r.status_code == 200 and kind in r.headers["Content-Type"], path
                assert len(r.content) > 100, path
            assert requests.get(url + "/", timeout=10).status_code == 200
        finally:
            webapp.terminate()
            status = webapp.wait(15)
        log_text = log_path.read_text(errors="replace")
        assert status == 0, log_text
        harness.assert_no_sanitizer_reports(log_text, "the installed webapp")
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
