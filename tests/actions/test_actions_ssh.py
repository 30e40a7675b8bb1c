"""Tools and pantasks servers over a real sshd (paramiko, strict host keys): the same actions, run remotely."""

from __future__ import annotations

from conftest import HOSTS, csrf_token, login, rows, server_state


def _ssh_sections(sshd, servers):
    return {"ssh": {"user": sshd.user, "port": sshd.port, "key_file": sshd.key_file, "known_hosts": sshd.known_hosts},
            "pantasks": {"servers": [{"name": name, "directory": str(d), "client": servers["client"],
                                      "host": sshd.host} for name, d in servers["dirs"].items()]}}


def test_revert_and_host_out_run_over_ssh(make_app, site, servers, sshd, tmp_path):
    app = make_app(tools={"host": sshd.host}, **_ssh_sections(sshd, servers))
    client = app.test_client()
    label = rows(site, "SELECT r.label FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                       " WHERE r.state = 'new' AND i.fault = 3 LIMIT 1")[0][0]
    login(client)
    query = f"dbname=gpc1&stage=chip&label={label}&fault=3"
    body = client.post("/actions/revert", data={"dbname": "gpc1", "stage": "chip", "label": label, "fault": "3",
                                                "csrf_token": csrf_token(client, f"/actions/revert?{query}")})
    assert 'class="ok">success' in body.get_data(as_text=True)
    assert rows(site, "SELECT COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                      " WHERE r.state = 'new' AND i.fault = 3 AND r.label = %s", (label,)) == [(0,)]
    host = HOSTS[3]
    body = client.post("/actions/host-out", data={"host": host, "csrf_token": csrf_token(client, "/login")})
    assert 'class="ok">success' in body.get_data(as_text=True)
    states = {next(h["state"] for h in server_state(servers, name)["hosts"] if h["name"] == host) for name in servers["dirs"]}
    assert states == {"OFF"}
    assert (tmp_path / "ipp-bin" / "calls.log").read_text().count("\n") == 2  # chiptool, neb-host: once each


def test_unknown_host_key_is_refused_and_shown_as_a_failed_step(make_app, site, servers, sshd, tmp_path):
    sections = _ssh_sections(sshd, servers)
    sections["ssh"]["known_hosts"] = sshd.empty_known_hosts
    client = make_app(tools={"host": sshd.host}, ssh=sections["ssh"]).test_client()
    label = rows(site, "SELECT r.label FROM chipRun r WHERE r.state = 'new' LIMIT 1")[0][0]
    login(client)
    body = client.post("/actions/revert", data={"dbname": "gpc1", "stage": "chip", "label": label, "fault": "3",
                                                "csrf_token": csrf_token(client, "/login")}).get_data(as_text=True)
    assert 'class="fail">failure' in body and "known_hosts" in body
    assert not (tmp_path / "ipp-bin" / "calls.log").exists()
