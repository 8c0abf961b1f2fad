"""Does `versions` say whether it shows the published parameters or an edited version file?"""

from __future__ import annotations

import copy

import pytest

from autograder import catalog, cli


@pytest.fixture
def edited_2026(monkeypatch: pytest.MonkeyPatch):
    """The published 2026 as if it had been published with dropout 0.3 (its file says 0.5)."""
    real = catalog.published
    def published(slug, root=None):
        pub = copy.deepcopy(real(slug, root))
        pub["2026"]["params"]["dropout_rate"] = 0.3
        return pub
    monkeypatch.setattr(catalog, "published", published)


def test_the_listing_names_published_values_and_the_unpublished_edit(edited_2026,
                                                                     capsys: pytest.CaptureFixture[str]):
    """Does the listing label the values it shows, and name each edit the file makes since publishing?"""
    assert cli.main(["versions"]) == 0
    out = capsys.readouterr().out
    block = out.split("2026:", 1)[1].split("\n2027:", 1)[0]
    assert "published: " in block and "dropout_rate=0.3" in block
    assert "edited since publishing, not in force until published: dropout_rate 0.3 -> 0.5" in block


def test_diff_names_its_source_and_warns_of_edited_files(edited_2026, capsys: pytest.CaptureFixture[str]):
    """Does --diff say its columns are the published values, and note a version file edited since?"""
    assert cli.main(["versions", "--diff", "2026", "2027"]) == 0
    out = capsys.readouterr().out
    assert "(2026: published; 2027: published)" in out.splitlines()[0]
    assert "note: 2026's version file was edited since it was published (dropout_rate 0.3 -> 0.5" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["dropout_rate"] == ["0.3", "0.4"]


def test_an_unedited_published_version_shows_no_edit(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]):
    """Is a version whose file matches what was published listed without an edit line?"""
    from autograder.release import versions

    real = catalog.published
    def published(slug, root=None):
        pub = copy.deepcopy(real(slug, root))
        pub["2026"]["params"] = versions.render_params(versions.load(slug, "2026"))
        return pub
    monkeypatch.setattr(catalog, "published", published)
    assert cli.main(["versions"]) == 0
    block = capsys.readouterr().out.split("2026:", 1)[1].split("\n2027:", 1)[0]
    assert "edited since publishing" not in block
