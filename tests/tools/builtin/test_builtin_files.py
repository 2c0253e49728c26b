"""Tests for tools.builtin.files: tools.studio.files.list, .read and .write."""

import hashlib
import re

import pytest

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.builtin.files import MAX_LIST_ENTRIES, MAX_READ_BYTES
from tools.context import ToolExecutionError, WorkspacePathError, WrittenFile

LIST = "tools.studio.files.list"
READ = "tools.studio.files.read"
WRITE = "tools.studio.files.write"


def test_list_of_an_empty_workspace_has_no_entries(call_tool):
    assert call_tool(LIST, {}) == {"path": ".", "entries": [], "truncated": False}


def test_list_is_recursive_sorted_and_sized(call_tool, write):
    write("report.md", "# Hi")
    write("inputs/dataset/customers.csv", "a,b\n1,2\n")
    assert call_tool(LIST, {})["entries"] == [
        {"path": "inputs", "size": 0, "is_dir": True},
        {"path": "inputs/dataset", "size": 0, "is_dir": True},
        {"path": "inputs/dataset/customers.csv", "size": 8, "is_dir": False},
        {"path": "report.md", "size": 4, "is_dir": False},
    ]


def test_list_skips_files_being_written(call_tool, write):
    write(".tmp-abc123", "half a file")
    write("done.txt", "ok")
    assert [entry["path"] for entry in call_tool(LIST, {})["entries"]] == ["done.txt"]


def test_list_of_a_folder_gives_workspace_relative_paths(call_tool, write):
    write("inputs/handbook/handbook.md", "# Handbook")
    write("other.txt", "x")
    result = call_tool(LIST, {"path": "inputs/handbook"})
    assert result["path"] == "inputs/handbook"
    assert result["entries"] == [
        {"path": "inputs/handbook/handbook.md", "size": 10, "is_dir": False}
    ]


def test_list_stops_at_the_entry_cap_and_says_so(call_tool, write):
    for number in range(MAX_LIST_ENTRIES + 1):
        write(f"many/{number:04d}.txt", "")
    result = call_tool(LIST, {"path": "many"})
    assert result["truncated"] is True
    assert len(result["entries"]) == MAX_LIST_ENTRIES


def test_list_of_a_missing_folder_is_a_tool_error(ctx):
    with pytest.raises(ToolExecutionError, match="'nowhere' is not a folder"):
        BUILTIN_IMPLEMENTATIONS[LIST](ctx, {"path": "nowhere"})


def test_list_leaves_out_symlinks_that_leave_the_workspace(call_tool, workspace, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (workspace / "link.txt").symlink_to(outside)
    assert call_tool(LIST, {})["entries"] == []


def test_read_returns_the_text_and_its_size(call_tool, write):
    write("notes/a.md", "héllo\n")
    assert call_tool(READ, {"path": "notes/a.md"}) == {
        "path": "notes/a.md",
        "content": "héllo\n",
        "size": 7,
        "truncated": False,
    }


def test_read_replaces_bytes_that_are_not_utf8(call_tool, write):
    write("latin1.txt", b"caf\xe9")
    assert call_tool(READ, {"path": "latin1.txt"})["content"] == "caf\ufffd"


def test_read_cuts_at_one_mebibyte(call_tool, write):
    write("big.txt", "a" * (MAX_READ_BYTES + 10))
    result = call_tool(READ, {"path": "big.txt"})
    assert (len(result["content"]), result["size"], result["truncated"]) == (
        MAX_READ_BYTES,
        MAX_READ_BYTES + 10,
        True,
    )


def test_read_never_ends_in_half_a_character(call_tool, write):
    write("big.txt", "a" * (MAX_READ_BYTES - 1) + "é")
    assert call_tool(READ, {"path": "big.txt"})["content"] == "a" * (MAX_READ_BYTES - 1)


def test_read_of_a_missing_file_is_a_tool_error(ctx):
    with pytest.raises(ToolExecutionError, match=re.escape("'missing.txt' is not a file")):
        BUILTIN_IMPLEMENTATIONS[READ](ctx, {"path": "missing.txt"})


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "a/../../outside.txt"])
def test_read_refuses_paths_that_leave_the_workspace(ctx, path):
    with pytest.raises(WorkspacePathError):
        BUILTIN_IMPLEMENTATIONS[READ](ctx, {"path": path})


def test_read_refuses_a_symlink_out_of_the_workspace(ctx, workspace, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (workspace / "link.txt").symlink_to(outside)
    with pytest.raises(WorkspacePathError, match="leaves the run workspace"):
        BUILTIN_IMPLEMENTATIONS[READ](ctx, {"path": "link.txt"})


def test_write_stores_the_file_and_describes_it(call_tool, workspace):
    content = "# Report\n\nÅll done.\n"
    result = call_tool(
        WRITE, {"path": "out/report.md", "content": content, "content_type": "text/markdown"}
    )
    data = content.encode("utf-8")
    assert result == {
        "path": "out/report.md",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "text/markdown",
    }
    assert (workspace / "out" / "report.md").read_bytes() == data


def test_write_records_the_artifact_on_the_context(call_tool, ctx):
    call_tool(WRITE, {"path": "answer.md", "content": "42"})
    assert ctx.written == [
        WrittenFile(
            path="answer.md",
            content_type="text/markdown",
            size=2,
            sha256=hashlib.sha256(b"42").hexdigest(),
        )
    ]


def test_write_guesses_the_content_type_from_the_name(call_tool):
    assert call_tool(WRITE, {"path": "data.json", "content": "{}"})["content_type"] == (
        "application/json"
    )


def test_write_refuses_a_path_out_of_the_workspace(ctx, tmp_path):
    with pytest.raises(WorkspacePathError):
        BUILTIN_IMPLEMENTATIONS[WRITE](ctx, {"path": "../escaped.md", "content": "x"})
    assert not (tmp_path / "escaped.md").exists()
    assert ctx.written == []
