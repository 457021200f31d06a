"""The layers stay apart (docs/architecture.md, "Layers"): broker/ knows no tables, sql/
knows no wire message, the webapp runs no worker code. Checked on the sources' includes."""
import re

from harness import REPO

FORBIDDEN = [("broker", "sql"), ("sql", "broker"), ("webapp", "worker"), ("sql", "client"),
             ("broker", "client"), ("common", "broker"), ("common", "sql"),
             # the scraper is a library that knows no tables and no queue
             ("scraper", "sql"), ("scraper", "broker"), ("scraper", "client"),
             ("scraper", "worker"), ("scraper", "webapp"),
             # so are the converters
             ("convert", "sql"), ("convert", "broker"), ("convert", "client"),
             ("convert", "worker"), ("convert", "webapp")]


def includes(folder):
    found = []
    for path in sorted((REPO / folder).glob("*.[ch]")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([a-z]+)/', line)
            if m:
                found.append((f"{path.relative_to(REPO)}:{n}", m.group(1)))
    return found


def test_no_layer_includes_one_it_must_not_know():
    wrong = [f"{where} includes {target}/" for folder, target in FORBIDDEN
             for where, inc in includes(folder) if inc == target]
    assert wrong == []
    assert includes("client"), "the check found no includes at all: it reads the wrong place"
