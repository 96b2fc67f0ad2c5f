"""Settings: layers, validation messages, and the example file that documents every key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from statuspage.config import SETTINGS, load_settings
from statuspage.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def test_defaults_apply_without_file_or_environment():
    settings = load_settings(environ={})
    assert settings.get("database", "url") == "sqlite:///instance/statuspage.db"
    assert settings.site["name"] == "Status"


def test_example_file_is_a_valid_config():
    settings = load_settings(EXAMPLE, environ={})
    assert settings.source == str(EXAMPLE)


def test_example_file_documents_every_setting():
    data = tomllib.loads(EXAMPLE.read_text())
    commented = _commented_keys(EXAMPLE.read_text())
    for setting in SETTINGS:
        table = data.get(setting.section, {}) if setting.section else data
        assert setting.key in table, f"{setting.dotted} missing from config.example.toml"
        assert (setting.section, setting.key) in commented, f"{setting.dotted} has no comment"


def _commented_keys(text: str) -> set[tuple[str, str]]:
    """Keys whose line directly follows a comment, by [section]."""
    found, section, previous = set(), "", ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[] ")
        elif "=" in line and not line.startswith("#") and previous.startswith("#"):
            found.add((section, line.split("=", 1)[0].strip()))
        previous = line
    return found


def test_code_reads_only_documented_settings():
    # Settings are read as settings.get("section", "key") or settings.section["key"].
    known = {(s.section, s.key) for s in SETTINGS}
    sections = {s.section for s in SETTINGS if s.section}
    pattern = re.compile(r"""\.get\(\s*"(\w+)",\s*"(\w+)"\s*\)|\b(\w+)\[["'](\w+)["']\]""")
    for path in (ROOT / "statuspage").rglob("*.py"):
        for match in pattern.finditer(path.read_text()):
            section, key = match.group(1) or match.group(3), match.group(2) or match.group(4)
            if section in sections:
                assert (section, key) in known, f"{path.name} reads undocumented {section}.{key}"
    for path in (ROOT / "templates").rglob("*.html"):
        for section, key in re.findall(r"settings\.(\w+)\.(\w+)", path.read_text()):
            if section in sections:
                assert (section, key) in known, f"{path.name} reads undocumented {section}.{key}"


def test_partial_file_keeps_defaults_for_the_rest(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[site]\nname = "Acme"\n')
    settings = load_settings(path, environ={})
    assert settings.site["name"] == "Acme"
    assert settings.server["port"] == 8080


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[site]\nname = "From file"\n')
    env = {
        "STATUSPAGE_SITE_NAME": "From env",
        "STATUSPAGE_SERVER_PORT": "9000",
        "STATUSPAGE_SECRET_KEY": "s3cret",
    }
    settings = load_settings(path, environ=env)
    assert settings.site["name"] == "From env"
    assert settings.server["port"] == 9000
    assert settings.secret_key == "s3cret"


def test_config_path_can_come_from_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[site]\nname = "Env file"\n')
    settings = load_settings(environ={"STATUSPAGE_CONFIG": str(path)})
    assert settings.site["name"] == "Env file"


def test_footer_links_from_environment_as_json():
    env = {"STATUSPAGE_SITE_FOOTER_LINKS": '[{"label": "Privacy", "url": "https://e.com/p"}]'}
    settings = load_settings(environ=env)
    assert settings.site["footer_links"] == [{"label": "Privacy", "url": "https://e.com/p"}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[site]\nname = 3\n", "site.name: expected a string, got an integer"),
        ("[server]\nport = true\n", "server.port: expected an integer, got a boolean"),
        ("[server]\nport = 70000\n", "server.port: expected 1-65535"),
        ("[site]\ncolour = 'red'\n", "site.colour: unknown setting"),
        ("[nonsense]\nx = 1\n", "nonsense: unknown setting"),
        ("site = 'x'\n", "site: expected a table"),
        ("[site]\ntime_zone = 'Mars/Olympus'\n", "site.time_zone: expected an IANA time zone"),
        ("[site]\nurl = 'status.example.com'\n", "site.url: expected an http:// or https:// URL"),
        ("[site]\nfooter_links = [{label = 'x'}]\n", "site.footer_links[0]: expected a table"),
        ("[site\n", "not valid TOML"),
    ],
)
def test_bad_file_names_file_key_and_expectation(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="STATUSPAGE_SERVER_PORT: expected an integer"):
        load_settings(environ={"STATUSPAGE_SERVER_PORT": "eighty"})


def test_postgres_url_uses_psycopg_and_sqlite_paths_become_absolute(tmp_path):
    from statuspage.config import database_uri

    assert database_uri("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert (
        database_uri("sqlite:///instance/x.db", tmp_path) == f"sqlite:///{tmp_path}/instance/x.db"
    )
    assert database_uri("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[cadence]\nmajor_minutes = 0\n", "cadence.major_minutes: expected at least 1"),
        ("[cache]\nmax_age_seconds = -1\n", "cache.max_age_seconds: expected at least 0"),
        ("[subscribers]\nwebhook_allow_networks = ['nope']\n", "not a network in CIDR form"),
        ("[subscribers]\nemail_domains = [1]\n", "expected an array of strings"),
    ],
)
def test_bad_numbers_and_lists_are_refused(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_settings(path, environ={})
