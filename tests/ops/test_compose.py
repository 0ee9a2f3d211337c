"""docker-compose.yml, Dockerfile and entrypoint, validated offline (no Docker engine in CI).

The Compose Specification schema (check-jsonschema's bundled copy: no network) catches unknown
keys and wrong types; the tests below catch what a schema cannot: references between parts of the
file, and between the file, the Dockerfile and the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _check_jsonschema() -> list[str]:
    exe = Path(sys.executable).with_name("check-jsonschema")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("check-jsonschema")
    if found:
        return [found]
    pytest.fail("check-jsonschema is not installed (it is pinned in the dev dependencies)")


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [*_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_really_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    restart: unless-stopped", "    restartt: unless-stopped", 1))
    result = subprocess.run(
        [*_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "restartt" in result.stdout + result.stderr


def test_every_depends_on_target_is_a_service(compose):
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        targets = depends if isinstance(depends, list) else list(depends)
        for target in targets:
            assert target in services, f"{name} depends on undefined service {target}"
            assert target != name


def test_app_waits_for_a_healthy_database(compose):
    app, db = compose["services"]["app"], compose["services"]["db"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    for target, spec in app["depends_on"].items():
        if spec.get("condition") == "service_healthy":
            assert "healthcheck" in compose["services"][target], f"{target} has no healthcheck to wait for"


def _named_volumes(service: dict) -> list[str]:
    names = []
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if isinstance(volume, dict) and volume.get("type", "volume") != "volume":
            continue
        if source and not source.startswith((".", "/", "~", "$")):
            names.append(source)
    return names


def test_every_named_volume_is_declared_and_the_database_keeps_one(compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in compose["services"].items():
        for volume in _named_volumes(service):
            assert volume in declared, f"{name} mounts undeclared volume {volume}"
            used.add(volume)
    assert any(v.startswith("pgdata") for v in _named_volumes(compose["services"]["db"]))
    assert declared <= used, f"declared but unused volumes: {declared - used}"


def test_every_secret_is_declared_and_made_by_the_helper_and_never_committed(compose):
    declared = compose.get("secrets") or {}
    helper = (REPO / "docker" / "make-secrets.sh").read_text()
    ignore = (REPO / "docker" / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignore
    for name, service in compose["services"].items():
        for secret in service.get("secrets", []):
            secret_name = secret if isinstance(secret, str) else secret["source"]
            assert secret_name in declared, f"{name} uses undeclared secret {secret_name}"
    for name, spec in declared.items():
        assert "file" in spec or "environment" in spec, name
        if "file" in spec:
            path = (REPO / spec["file"]).resolve()
            assert path.parent == (REPO / "docker" / "secrets").resolve(), f"{name}: secret outside docker/secrets"
            assert path.name in helper, f"docker/make-secrets.sh does not create {path.name}"


def test_settings_come_from_the_environment_with_no_secret_inline(compose):
    env = compose["services"]["app"]["environment"]
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")
    assert "@db:" in url, "DATABASE_URL must name the db service"
    userinfo = url.split("://", 1)[1].split("@", 1)[0]
    assert ":" not in userinfo, "no password in DATABASE_URL: it comes from the secret file"
    for key, value in env.items():
        if key.endswith("_FILE"):
            assert str(value).startswith("/run/secrets/"), key
        elif re.search(r"PASSWORD|SECRET|TOKEN|KEY$", key):
            pytest.fail(f"{key} is given inline; use a *_FILE secret")
    mounted = {s if isinstance(s, str) else s.get("target", s["source"])
               for s in compose["services"]["app"]["secrets"]}
    for key, value in env.items():
        if key.endswith("_FILE"):
            assert Path(value).name in mounted, f"{key} names a secret the app does not mount"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_copies_existing_files_runs_as_non_root_and_checks_health(compose):
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    build = compose["services"]["app"]["build"]
    assert (REPO / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    dockerignore = (REPO / ".dockerignore").read_text().split()
    for op, rest in instructions:
        if op == "COPY":
            *sources, _dest = rest.split()
            for source in sources:
                if source.startswith("--"):
                    continue
                assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
                assert source not in dockerignore, f"COPY {source} is excluded by .dockerignore"
        if op == "ENV":
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|_KEY)=", rest), f"secret baked into the image: {rest}"
    users = [rest for op, rest in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    health = " ".join(rest for op, rest in instructions if op == "HEALTHCHECK")
    assert "/healthz" in health
    entrypoint = [rest for op, rest in instructions if op == "ENTRYPOINT"][-1]
    target = re.findall(r'"([^"]+)"', entrypoint)[0]
    copied = {rest.split()[-1]: rest.split()[-2] for op, rest in instructions if op == "COPY"}
    source = copied.get(target) or copied.get(f"/usr/local/bin/{target}")
    assert source is not None, f"ENTRYPOINT {target} is not copied into the image"
    assert (REPO / source).resolve() == ENTRYPOINT


def test_dockerignore_keeps_secrets_databases_and_venvs_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", "docker/secrets", "*.pem", ".env"):
        assert entry in ignored


def test_entrypoint_migrates_loads_tables_then_serves_with_real_commands():
    from click.testing import CliRunner

    from service.cli import main

    script = ENTRYPOINT.read_text()
    assert script.startswith("#!/bin/sh")
    assert ENTRYPOINT.stat().st_mode & 0o111, "entrypoint must be executable"
    steps = [script.index("pgx db upgrade"), script.index("pgx tables load --if-changed"),
             script.index("exec pgx serve --bind")]
    assert steps == sorted(steps)
    # Each command and option the script uses exists in the CLI.
    runner = CliRunner()
    for args in (["db", "upgrade", "--help"], ["tables", "load", "--help"], ["tables", "list", "--help"],
                 ["serve", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
    assert "--if-changed" in runner.invoke(main, ["tables", "load", "--help"]).output
    assert "--bind" in runner.invoke(main, ["serve", "--help"]).output
    sh = shutil.which("sh")
    if sh:
        assert subprocess.run([sh, "-n", str(ENTRYPOINT)], timeout=30).returncode == 0


@pytest.mark.parametrize("active", [False, True], ids=["fresh-database", "release-active"])
def test_entrypoint_runs_the_steps_in_order_with_a_stub_pgx(tmp_path, active):
    """Run docker/entrypoint.sh with a stand-in `pgx` that records its arguments."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh")
    calls = tmp_path / "calls.log"
    stub = tmp_path / "bin" / "pgx"
    stub.parent.mkdir()
    listing = "* 2026.11.1  created 2026-11-22T00:00:00" if active else ""
    stub.write_text(
        "#!/bin/sh\n"
        f'echo "$* pw=${{PGPASSWORD:-}}" >> "{calls}"\n'
        f'if [ "$1 $2" = "tables list" ]; then echo "{listing}"; fi\n'
    )
    stub.chmod(0o755)
    secret = tmp_path / "postgres_password"
    secret.write_text("s3cret\n")
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", "PGPASSWORD_FILE": str(secret), "PGX_BIND": "0.0.0.0:8000"}
    result = subprocess.run([sh, str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    expected = ["db upgrade pw=s3cret", "tables list pw=s3cret"]
    if not active:
        expected.append("tables load --if-changed pw=s3cret")
    expected.append("serve --bind 0.0.0.0:8000 pw=s3cret")
    assert lines == expected
