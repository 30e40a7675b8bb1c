"""Stand-ins for neb-host and neb-df (Nebulous-Server/bin/neb-host, Nebulous/bin/neb-df): real output formats."""

from __future__ import annotations

import sys

from ippsim.events import set_host_state
from ippsim.tools.config import connect_nebulous

HOST_ROW = "%-15s %-15s %-7s %-8s %-9s %-5s %15s %s"
DF_HEADER = "Filesystem           1K-blocks      Used Available Use% Mounted on"
NEB_HOST_STATES = ("up", "down", "repair")  # neb-host accepts only these three


def host_listing(conn) -> list[str]:
    """neb-host with no arguments: every volume ordered by host and name."""
    lines = [HOST_ROW % ("host", "name", "mounted", "allocate", "available", "xattr", "last_modified", "note")]
    with conn.cursor() as cur:
        cur.execute("SELECT v.host, v.name, m.vol_id IS NOT NULL, v.allocate, v.available, v.xattr, v.last_modified,"
                    " v.note FROM volume v LEFT JOIN mountedvol m USING (vol_id) ORDER BY v.host, v.name")
        for host, name, mounted, allocate, available, xattr, modified, note in cur.fetchall():
            lines.append(HOST_ROW % (host, name, int(mounted), int(allocate or 0), int(available or 0),
                                     int(xattr or 0), modified, "-" if note is None else note))
    return lines


def _df_row(first: str, total: int, used: int, mountpoint: str) -> str:
    head = f"{first:<20s}" if len(first) <= 20 else f"{first}\n{'':20s}"
    return head + " %9s %9s %9s %3.0f%% %s" % (total, used, total - used, 100.0 * used / (total + 1), mountpoint)


def df_lines(conn, *, names: bool = False) -> list[str]:
    """neb-df: mounted volumes in KiB, then the two (sic) 'summmary' rows."""
    lines = [DF_HEADER]
    all_total = all_used = alloc_total = alloc_used = 0
    with conn.cursor() as cur:
        cur.execute("SELECT mountpoint, total, used, vol_id, name, host, path, allocate, available, xattr"
                    " FROM mountedvol ORDER BY host, name")
        for mountpoint, total, used, _vid, name, host, _path, allocate, _available, _xattr in cur.fetchall():
            lines.append(_df_row(name if names else host, total, used, mountpoint))
            all_total, all_used = all_total + total, all_used + used
            if allocate:
                alloc_total, alloc_used = alloc_total + total, alloc_used + used
    lines.append(_df_row("/summmary_of_all_volumes", all_total, all_used, "/total"))
    lines.append(_df_row("/summmary_of_allocated_volumes", alloc_total, alloc_used, "/allocated"))
    return lines


def neb_host_main(argv: list[str]) -> int:
    """neb-host [<host> <up|down|repair> [--note text] [--volume]]."""
    note, by_volume, positional = None, False, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--note", "-note") and i + 1 < len(argv):
            note, i = argv[i + 1], i + 2
            continue
        if arg in ("--volume", "-volume"):
            by_volume, i = True, i + 1
            continue
        if arg.startswith("-"):
            sys.stderr.write(f"Unknown option: {arg.lstrip('-')}\n")
            return 2
        positional.append(arg)
        i += 1
    if len(positional) not in (0, 2):
        sys.stderr.write("usage: neb-host [<host> <up|down|repair> [--note text] [--volume]]\n")
        return 2
    with connect_nebulous() as conn:
        if positional:
            target, state = positional
            if state not in NEB_HOST_STATES:
                sys.stderr.write(f"Unknown state {state}\n")
                return 255  # perl die
            if by_volume:
                _set_volume_state(conn, target, state, note)
            else:
                set_host_state(conn, target, state, note)
        sys.stdout.write("\n".join(host_listing(conn)) + "\n")
    return 0


def _set_volume_state(conn, volume: str, state: str, note: str | None) -> None:
    allocate, available = {"up": (1, 1), "repair": (0, 1), "down": (0, 0)}[state]
    with conn.cursor() as cur:
        for table in ("volume", "mountedvol"):  # fixed names
            cur.execute(f"UPDATE {table} SET allocate = %s, available = %s, note = COALESCE(%s, note)"
                        " WHERE name = %s", (allocate, available, note, volume))


def neb_df_main(argv: list[str]) -> int:
    """neb-df [--names] [--server URL] (the server is ignored: the stand-in reads the DB)."""
    names = False
    i = 0
    while i < len(argv):
        if argv[i] == "--names":
            names, i = True, i + 1
        elif argv[i] == "--server" and i + 1 < len(argv):
            i += 2
        else:
            sys.stderr.write(f"Unknown option: {argv[i].lstrip('-')}\n")
            return 2
    with connect_nebulous() as conn:
        sys.stdout.write("\n".join(df_lines(conn, names=names)) + "\n")
    return 0
