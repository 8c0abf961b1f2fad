"""One style for every page the kit writes, and the words for each status (Japanese, English)."""

from __future__ import annotations

from autograder.results import Status

STATUS_TEXT = {
    Status.GRADED: ("採点しました", "graded"),
    Status.TIMEOUT: ("制限時間内に終わりませんでした", "did not finish within the time limit"),
    Status.ERROR: ("採点中に止まりました", "grading stopped with an error"),
    Status.INVALID: ("ノートブックとして読めません", "not a readable notebook"),
    Status.WRONG_VERSION: ("この課題・この版のノートブックではありません",
                          "not a notebook of this assignment or version"),
    Status.EMPTY: ("中身がありません", "empty"),
    Status.PENDING: ("まだ採点していません", "not graded yet"),
    Status.MISSING: ("提出がありません", "nothing handed in"),
}

#: The style sheet of the feedback pages and the class report.
CSS = """body{font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",sans-serif;max-width:60em;
margin:2em auto;padding:0 1em;color:#222;line-height:1.5}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;margin:0;font-size:.85em}.ok{color:#176f2c}.ng{color:#b3261e}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}.muted{color:#666}"""
