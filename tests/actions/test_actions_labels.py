"""Label add/remove in a pantasks server, label drop with chiptool -updaterun (LIKE, escaped), revert toggles."""

from __future__ import annotations

from conftest import LABELS, csrf_token, login, rows, server_state


def _post(client, action: str, **params):
    token = csrf_token(client, f"/actions/{action}?" + "&".join(f"{k}={v}" for k, v in params.items()))
    return client.post(f"/actions/{action}", data={**params, "csrf_token": token})


def test_label_add_and_remove_change_the_servers_label_list(client, servers):
    new_label = LABELS[2]
    assert new_label not in server_state(servers, "stdscience")["labels"]
    preview = client.get(f"/actions/label-add?server=stdscience&label={new_label}").get_data(as_text=True)
    assert f"pantasks[stdscience]: add.label {new_label}" in preview
    login(client)
    assert 'class="ok">success' in _post(client, "label-add", server="stdscience", label=new_label).get_data(as_text=True)
    assert new_label in server_state(servers, "stdscience")["labels"]
    assert new_label not in server_state(servers, "distribution")["labels"]
    assert 'class="ok">success' in _post(client, "label-remove", server="stdscience",
                                         label=new_label).get_data(as_text=True)
    assert new_label not in server_state(servers, "stdscience")["labels"]
    # the client ran in a private directory: nothing was appended to the server's own .pantasks history
    assert not (servers["dirs"]["stdscience"] / ".pantasks").exists()


def test_label_remove_refuses_a_label_the_server_does_not_hold(client, servers):
    response = client.get(f"/actions/label-remove?server=stdscience&label={LABELS[2]}")
    assert response.status_code == 404 and "label of pantasks server stdscience" in response.get_data(as_text=True)


def test_label_drop_escapes_like_wildcards_and_drops_only_that_label(client, site):
    with site.root.connect("gpc1") as conn, conn.cursor() as cur:
        # a look-alike label that an unescaped LIKE 'ps_ud_A' would also match ('_' = any character)
        cur.execute("INSERT INTO Label (label, priority, active) VALUES ('ps_ud_A', 1, 1), ('psXudYA', 1, 1)")
        cur.execute("SELECT exp_id FROM rawExp ORDER BY exp_id LIMIT 2")
        first, second = (r[0] for r in cur.fetchall())
        for exp_id, label in ((first, "ps_ud_A"), (second, "psXudYA")):
            cur.execute("INSERT INTO chipRun (exp_id, state, label) VALUES (%s, 'new', %s)", (exp_id, label))
    preview = client.get("/actions/label-drop?dbname=gpc1&label=ps_ud_A").get_data(as_text=True)
    assert r"chiptool -updaterun -set_state drop -label ps\_ud\_A -state new -dbname gpc1" in preview
    assert "<td>ps_ud_A</td><td>1</td>" in preview and "psXudYA" not in preview
    login(client)
    body = _post(client, "label-drop", dbname="gpc1", label="ps_ud_A").get_data(as_text=True)
    assert 'class="ok">success' in body and 'id="rows-changed">1<' in body, body
    assert rows(site, "SELECT label, state FROM chipRun WHERE label IN ('ps_ud_A', 'psXudYA') ORDER BY label") == [
        ("psXudYA", "new"), ("ps_ud_A", "drop")]


def _active(servers, server: str, task: str) -> bool:
    return next(t["active"] for t in server_state(servers, server)["tasks"] if t["name"] == task)


def test_revert_toggle_switches_the_stage_revert_tasks(client, servers):
    preview = client.get("/actions/revert-toggle?server=stdscience&stage=warp&to=off").get_data(as_text=True)
    assert "<td>warp.revert.warped</td><td>active</td>" in preview  # the state now, read with `status`
    login(client)
    assert 'class="ok">success' in _post(client, "revert-toggle", server="stdscience", stage="warp",
                                         to="off").get_data(as_text=True)
    assert not _active(servers, "stdscience", "warp.revert.warped")
    assert not _active(servers, "stdscience", "warp.revert.overlap")
    _post(client, "revert-toggle", server="stdscience", stage="warp", to="on")
    assert _active(servers, "stdscience", "warp.revert.warped") and _active(servers, "stdscience", "warp.revert.overlap")


def test_destreak_toggle_follows_the_czar_order(client, servers):
    preview = client.get("/actions/revert-toggle?server=distribution&stage=destreak&to=on").get_data(as_text=True)
    assert preview.index("destreak.off") < preview.index("destreak.revert.on")
    login(client)
    _post(client, "revert-toggle", server="distribution", stage="destreak", to="on")
    assert _active(servers, "distribution", "destreak.revert.load")
    preview = client.get("/actions/revert-toggle?server=distribution&stage=destreak&to=off").get_data(as_text=True)
    assert preview.index("destreak.revert.off") < preview.index("destreak.on")
    body = _post(client, "revert-toggle", server="distribution", stage="destreak", to="off").get_data(as_text=True)
    # both commands ran, in that order (the simulated distribution server has only destreak revert tasks, and its
    # `destreak.on` switches every destreak.* task, so the end state says nothing about the order)
    assert 'class="ok">success' in body
    assert body.index("pantasks[distribution]: destreak.revert.off") < body.index("pantasks[distribution]: destreak.on")


def test_a_repeated_confirmation_runs_once(client, servers, tmp_path):
    import re
    preview = client.get("/actions/revert-toggle?server=stdscience&stage=chip&to=off")
    nonce = re.search(r'name="nonce" value="([0-9a-f]{32})"', preview.get_data(as_text=True)).group(1)
    login(client)
    data = {"server": "stdscience", "stage": "chip", "to": "off", "nonce": nonce,
            "csrf_token": csrf_token(client, "/login")}
    assert client.post("/actions/revert-toggle", data=data).status_code == 200
    again = client.post("/actions/revert-toggle", data=data)  # a double click or a reload
    assert again.status_code == 409 and "used already" in again.get_data(as_text=True)
    assert client.get("/audit").get_data(as_text=True).count("revert-toggle</td>") == 1
