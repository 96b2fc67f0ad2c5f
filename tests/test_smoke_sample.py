"""The shared `sample` fixture builds a page on every database backend."""

from statuspage.db import queries


def test_sample_builds_components_and_incidents(sample):
    tree = queries.component_tree()
    assert [c.name for c in tree.components] == ["API", "Website", "CDN", "Email delivery"]
    assert [i.name for i in queries.unresolved_incidents()] == ["Website slow to load"]
    assert [m.name for m in queries.upcoming_maintenances()] == ["Database upgrade"]
