"""Issue 18 fault suite, part 2: the store under damage. Bit flips in stored Parquet, a
truncated or padded file, a read-only file system, a full disk, a writer holding the store.
Outcomes are counted in the table of the issue: tried / clear error / traceback / silently
wrong / store changed; the last three must stay 0."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from _harden import cli, tree_digest

CHAINLENS = str(Path(sys.executable).parent / "chainlens")


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@pytest.fixture
def tmpfs(tmp_path: Path):
    why = _can_mount()
    if why:
        pytest.skip(why)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    from chainlens.sim import SimConfig, simulate_market

    return simulate_market(
        SimConfig(underlyings=4, sessions=3, seed=1, trades_per_underlying=100),
        tmp_path_factory.mktemp("sim") / "m",
    )


def _ingest(sim, store: Path) -> None:
    r = cli(["ingest", *map(str, sim.all_paths()), "--store", store])
    assert r.rc == 0, r.err


def _figures(store: Path, u: str, d: str) -> tuple[str, str]:
    a = cli(["show", u, "--date", d, "--store", store, "--json"])
    b = cli(["levels", u, "--date", d, "--store", store, "--json"])
    assert a.rc == 0 and b.rc == 0, (a.err, b.err)
    return a.out, b.out


def test_bit_flips_truncation_and_padding_are_detected(sim, tmp_path: Path) -> None:
    store = tmp_path / "st"
    _ingest(sim, store)
    u, d = "AAPL", sim.sessions[-1].isoformat()
    from chainlens.store import Store

    with Store(store, read_only=True) as st:
        u = st.underlyings(sim.sessions[-1])[0]
    good = _figures(store, u, d)
    files = sorted((store / "chain" / f"trade_date={d}").glob("*.parquet"))  # what show reads
    assert files
    rng = random.Random(30)
    tally: Counter[str] = Counter()
    damages = [("flip", i) for i in range(30)] + [("truncate", 0), ("pad", 0)]
    for what, _i in damages:
        f = files[-1] if what != "flip" else rng.choice(files)
        orig = f.read_bytes()
        b = bytearray(orig)
        if what == "flip":
            pos = rng.randrange(len(b))
            b[pos] ^= 1 << rng.randrange(8)
        elif what == "truncate":
            b = b[: len(b) // 2]
        else:
            b += b"\0" * 64
        f.write_bytes(bytes(b))
        for argv in (["show", u, "--date", d], ["levels", u, "--date", d], ["verify"]):
            r = cli([*argv, "--store", store, "--json"])
            tally["tried"] += 1
            if r.traceback:
                tally["traceback"] += 1
            elif r.rc == 0:  # a damaged file read as numbers (or verify missing it)
                tally["silently wrong"] += 1
            elif r.rc == 2 and ("damaged" in r.err or "damaged" in r.out):
                tally["clear error"] += 1
            else:
                tally["other"] += 1
        f.write_bytes(orig)
    assert tally["traceback"] == tally["silently wrong"] == tally["other"] == 0, tally
    assert tally["clear error"] == tally["tried"] == 3 * len(damages)
    assert cli(["verify", "--store", store]).rc == 0
    assert _figures(store, u, d) == good
    print("bit flips:", dict(tally))


def test_verify_drop_damaged_then_reingest(sim, tmp_path: Path) -> None:
    store = tmp_path / "st"
    _ingest(sim, store)
    f = sorted((store / "chain").rglob("*.parquet"))[0]
    b = bytearray(f.read_bytes())
    b[len(b) // 3] ^= 0x10
    f.write_bytes(bytes(b))
    r = cli(["verify", "--store", store, "--json"])
    assert r.rc == 2 and "re-ingest its source" in json.loads(r.out)["problems"][0]["action"]
    assert cli(["verify", "--store", store, "--drop-damaged"]).rc == 0
    assert cli(["verify", "--store", store]).rc == 0
    _ingest(sim, store)  # the dropped source comes back, the rest is unchanged
    r = cli(["verify", "--store", store, "--json"])
    assert r.rc == 0 and json.loads(r.out)["problems"] == []


def test_read_only_file_system(sim, tmpfs: Path) -> None:
    store = tmpfs / "st"
    _ingest(sim, store)
    d = sim.sessions[-1].isoformat()
    from chainlens.store import Store

    with Store(store, read_only=True) as st:
        u = st.underlyings(sim.sessions[-1])[0]
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    before = tree_digest(store)
    for argv in (["sessions"], ["show", u, "--date", d], ["levels", u, "--date", d], ["verify"]):
        r = cli([*argv, "--store", store])
        assert r.rc == 0 and not r.traceback, (argv, r.err)
    r = cli(["ingest", *map(str, sim.all_paths()), "--store", store])
    assert r.rc == 2 and "read-only file system" in r.err and not r.traceback
    r = cli(["run", "--date", d, "--store", store])
    assert r.rc == 2 and "read-only file system" in r.err and not r.traceback
    assert tree_digest(store) == before


def test_full_disk_ingest_and_run(sim, tmpfs: Path) -> None:
    store = tmpfs / "st"
    _ingest(sim, store)
    d = sim.sessions[-1].isoformat()
    filler = tmpfs / "filler"
    free = shutil.disk_usage(tmpfs).free
    with open(filler, "wb") as fh:
        fh.truncate(0)
        try:
            fh.write(b"\0" * (free - 4096))
        except OSError:
            pass
    before = tree_digest(store)
    extra = sim.all_paths()[0].parent / "extra.parquet"
    import pyarrow.parquet as pq

    from test_store import D1, chain_table, utc

    pq.write_table(chain_table("SPY", D1, utc(D1, 20), [float(k) for k in range(50, 450)]), extra)
    try:
        r = cli(["ingest", extra, "--store", store])
        assert r.rc == 2 and not r.traceback and "No space left" in r.out + r.err, r.err
        assert tree_digest(store) == before
        r = cli(["run", "--date", d, "--store", store])
        assert r.rc == 2 and not r.traceback, r.err
        assert "space" in r.err
        filler.unlink()
        from chainlens.store import Store

        with Store(store) as st:  # a writer open sweeps what the failed run left behind
            assert st.verify() == []
        assert cli(["run", "--date", d, "--store", store]).rc == 0
    finally:
        extra.unlink(missing_ok=True)


def test_reader_waits_for_a_writer_then_reads(sim, tmp_path: Path) -> None:
    store = tmp_path / "st"
    _ingest(sim, store)
    holder = textwrap.dedent(
        f"""
        import sys
        from chainlens.store import Store
        st = Store({str(store)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        st.close()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    reader = None
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        env = {**os.environ, "CHAINLENS_LOCK_TIMEOUT": "60"}
        reader = subprocess.Popen(
            [CHAINLENS, "sessions", "--store", str(store), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert reader.stderr is not None
        assert "waiting up to 60 s" in reader.stderr.readline()  # it waits, and says so
        proc.communicate("\n", timeout=30)  # the writer lets go
        out, _err = reader.communicate(timeout=60)
        assert reader.returncode == 0 and json.loads(out)
    finally:
        if proc.poll() is None:
            proc.communicate("\n", timeout=30)
        if reader is not None and reader.poll() is None:
            reader.kill()
            reader.communicate()
