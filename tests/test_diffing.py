"""Side-by-side diff rows: pure, no app."""

from statuspage.core.diffing import Cell, Kind, Row, side_by_side, summarise


def kinds(rows: list[Row]) -> list[tuple[str, str]]:
    return [(row.left.kind.value, row.right.kind.value) for row in rows]


def test_identical_texts_give_unchanged_rows_only():
    rows = side_by_side("a\nb", "a\nb")
    assert kinds(rows) == [("same", "same"), ("same", "same")]
    assert not any(row.changed for row in rows)
    assert summarise(rows).identical


def test_an_added_line_is_on_the_right_beside_an_empty_cell():
    rows = side_by_side("a\nc", "a\nb\nc")
    assert rows[1] == Row(Cell(None, "", Kind.EMPTY), Cell(2, "b", Kind.ADD))
    assert rows[2] == Row(Cell(2, "c", Kind.SAME), Cell(3, "c", Kind.SAME))


def test_a_removed_line_is_on_the_left_beside_an_empty_cell():
    rows = side_by_side("a\nb\nc", "a\nc")
    assert rows[1] == Row(Cell(2, "b", Kind.DEL), Cell(None, "", Kind.EMPTY))
    assert summarise(rows).removed == 1 and summarise(rows).added == 0


def test_a_changed_line_reads_across_one_row():
    rows = side_by_side("We are investigating.\nBye", "We are looking into it.\nBye")
    assert rows[0] == Row(
        Cell(1, "We are investigating.", Kind.DEL), Cell(1, "We are looking into it.", Kind.ADD)
    )
    assert rows[0].changed and not rows[1].changed


def test_an_uneven_change_pads_the_shorter_side():
    rows = side_by_side("x\nold\nz", "x\nnew 1\nnew 2\nnew 3\nz")
    assert kinds(rows) == [
        ("same", "same"),
        ("del", "add"),
        ("empty", "add"),
        ("empty", "add"),
        ("same", "same"),
    ]
    assert [row.right.number for row in rows] == [1, 2, 3, 4, 5]
    assert [row.left.number for row in rows] == [1, 2, None, None, 3]


def test_from_empty_text_every_line_is_added():
    rows = side_by_side("", "one\ntwo")
    assert kinds(rows) == [("empty", "add"), ("empty", "add")]
    assert summarise(rows).added == 2


def test_line_endings_do_not_count_as_changes():
    assert summarise(side_by_side("a\r\nb\r\n", "a\nb\n")).identical


def test_text_is_kept_verbatim_for_the_template_to_escape():
    rows = side_by_side("<b>", "<script>alert(1)</script>")
    assert rows[0].left.text == "<b>" and rows[0].right.text == "<script>alert(1)</script>"


def test_a_final_newline_does_not_make_an_empty_row():
    rows = side_by_side("a\nb\n", "a\nc\n")
    assert kinds(rows) == [("same", "same"), ("del", "add")]
