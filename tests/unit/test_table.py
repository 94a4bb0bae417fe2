"""Aligned columns and wrapped lines within a width (azwrap/ui/table.py)."""

from azwrap.ui.table import table, wrap

ID = "/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/aml-rg/providers/x/workspaces/aml"


def test_columns_are_aligned_and_short_rows_padded():
    assert table([["a", "bb", "c"], ["aaa", "b"]], 80) == ["  a    bb  c", "  aaa  b"]


def test_a_resource_id_breaks_after_a_slash_and_stays_in_its_column():
    lines = table([["$aml.id", ID]], 50)
    assert all(len(line) <= 50 for line in lines)
    assert "".join(line[len("  $aml.id  "):] for line in lines) == ID  # nothing lost, nothing added
    assert all(line.endswith("/") for line in lines[:-1])
    assert all(line.startswith(" " * len("  $aml.id  ")) for line in lines[1:])


def test_a_wrapped_message_continues_indented():
    lines = wrap("doctor: the storage account name mydatalake is already taken by someone else", 40, "  ")
    assert lines[0].startswith("  doctor:") and all(line.startswith("      ") for line in lines[1:])
    assert all(len(line) <= 40 for line in lines)
