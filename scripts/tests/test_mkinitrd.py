"""mkinitrd.py: the newc archive it writes, read back by a small independent reader."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).parent.parent / "mkinitrd.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def read_newc(blob):
    """Parse a newc archive strictly: a list of dicts, the trailer last. Asserts padding is zeros."""
    entries = []
    pos = 0
    while True:
        assert pos % 4 == 0, f"entry at {pos} not 4-aligned"
        assert blob[pos : pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(blob[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, filesize, _, _, _, _, namesize, check = fields
        name_start = pos + 110
        name = blob[name_start : name_start + namesize]
        assert name.endswith(b"\0") and b"\0" not in name[:-1]
        data_start = name_start + namesize
        data_start += (4 - data_start % 4) % 4
        assert set(blob[name_start + namesize : data_start]) <= {0}, "header padding not zero"
        data = blob[data_start : data_start + filesize]
        end = data_start + filesize
        end += (4 - end % 4) % 4
        assert set(blob[data_start + filesize : end]) <= {0}, "data padding not zero"
        e = dict(name=name[:-1].decode(), ino=ino, mode=mode, uid=uid, gid=gid, nlink=nlink, mtime=mtime)
        e.update(data=data, check=check)
        entries.append(e)
        pos = end
        if e["name"] == "TRAILER!!!":
            assert pos == len(blob), "bytes after the trailer"
            return entries


@pytest.fixture
def tree(tmp_path):
    exe = tmp_path / "prog"
    exe.write_bytes(b"\x7fELF fake program")
    exe.chmod(0o755)
    txt = tmp_path / "hello.txt"
    txt.write_bytes(b"mmlab initrd test data\n")
    txt.chmod(0o644)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    empty.chmod(0o644)
    return tmp_path


def build(tree, *mappings):
    out = tree / "out.cpio"
    r = run("-o", out, *mappings)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def test_names_modes_contents_and_trailer(tree):
    blob = build(
        tree,
        f"/tests/t_fork={tree / 'prog'}",
        f"/hello={tree / 'prog'}",
        f"/data/hello.txt={tree / 'hello.txt'}",
        f"/bin/sh={tree / 'prog'}",
        f"/a/b/c/empty={tree / 'empty'}",
    )
    entries = read_newc(blob)
    names = [e["name"] for e in entries]
    assert names == [
        "a",
        "a/b",
        "a/b/c",
        "a/b/c/empty",
        "bin",
        "bin/sh",
        "data",
        "data/hello.txt",
        "hello",
        "tests",
        "tests/t_fork",
        "TRAILER!!!",
    ]
    by = {e["name"]: e for e in entries}
    for d in ("a", "a/b", "a/b/c", "bin", "data", "tests"):
        assert by[d]["mode"] == 0o040755 and by[d]["data"] == b""
    assert by["hello"]["mode"] == 0o100755
    assert by["bin/sh"]["mode"] == 0o100755
    assert by["data/hello.txt"]["mode"] == 0o100644
    assert by["data/hello.txt"]["data"] == b"mmlab initrd test data\n"
    assert by["hello"]["data"] == b"\x7fELF fake program"
    assert by["a/b/c/empty"]["data"] == b""
    trailer = entries[-1]
    assert trailer["mode"] == 0 and trailer["data"] == b""
    body = entries[:-1]
    assert [e["ino"] for e in body] == list(range(1, len(body) + 1))
    assert all(e["uid"] == 0 and e["gid"] == 0 and e["mtime"] == 0 and e["check"] == 0 for e in entries)


def test_deterministic_and_order_independent(tree):
    a = build(tree, f"/x/y={tree / 'prog'}", f"/hello={tree / 'hello.txt'}")
    os.utime(tree / "prog", (1, 1))
    b = build(tree, f"/hello={tree / 'hello.txt'}", f"/x/y={tree / 'prog'}")
    assert a == b


@pytest.mark.parametrize("size", range(0, 9))
def test_padding_for_every_data_length(tree, size):
    src = tree / f"f{size}"
    src.write_bytes(b"z" * size)
    # Name lengths 1..3 also walk the header padding through its cases.
    blob = build(tree, f"/{'n' * (size % 4 + 1)}={src}")
    entries = read_newc(blob)
    assert entries[0]["data"] == b"z" * size
    assert len(blob) % 4 == 0


@pytest.mark.parametrize(
    "mapping, message",
    [
        ("/hello={tree}/missing", "no such file"),
        ("hello={tree}/prog", "absolute"),
        ("/hello", "DEST=SRC"),
        ("/dir={tree}", "not a regular file"),
    ],
)
def test_bad_mapping_exits_2(tree, mapping, message):
    out = tree / "out.cpio"
    r = run("-o", out, mapping.format(tree=tree))
    assert r.returncode == 2
    assert message in r.stderr
    assert not out.exists()


def test_duplicate_dest_exits_2(tree):
    out = tree / "out.cpio"
    r = run("-o", out, f"/hello={tree / 'prog'}", f"//hello/./={tree / 'hello.txt'}", f"/hello={tree / 'hello.txt'}")
    assert r.returncode == 2
    assert "'/hello'" in r.stderr and "twice" in r.stderr
    assert not out.exists()


def test_file_that_is_also_a_directory_exits_2(tree):
    r = run("-o", tree / "out.cpio", f"/bin={tree / 'prog'}", f"/bin/sh={tree / 'prog'}")
    assert r.returncode == 2
    assert "'/bin'" in r.stderr


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed")
def test_cpio_lists_it(tree):
    out = tree / "out.cpio"
    build(tree, f"/bin/sh={tree / 'prog'}", f"/data/hello.txt={tree / 'hello.txt'}")
    r = subprocess.run(["cpio", "-t", "-F", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["bin", "bin/sh", "data", "data/hello.txt"]
