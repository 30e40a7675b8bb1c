"""host-out / host-in end to end: every pantasks server's controller, nebulous, and a real Alertmanager silence."""

from __future__ import annotations

from conftest import HOSTS, csrf_token, http_json, login, server_state

from ippsim.pantasks import state as pantasks_state


def _volumes(site, host: str) -> set[tuple[int, int]]:
    with site.root.connect("nebulous") as conn, conn.cursor() as cur:
        cur.execute("SELECT allocate, available FROM volume WHERE host = %s", (host,))
        return set(cur.fetchall())


def _controller(servers, name: str, host: str) -> str:
    return next(h["state"] for h in server_state(servers, name)["hosts"] if h["name"] == host)


def _post(client, action: str, **params):
    token = csrf_token(client, f"/actions/{action}?" + "&".join(f"{k}={v}" for k, v in params.items()))
    return client.post(f"/actions/{action}", data={**params, "csrf_token": token})


def test_host_out_then_in_changes_controllers_nebulous_and_a_real_silence(make_app, make_alertmanager, site, servers):
    alertmanager = make_alertmanager()
    app = make_app(actions={"alertmanager_url": alertmanager})
    client = app.test_client()
    host = HOSTS[1]
    preview = client.get(f"/actions/host-out?host={host}").get_data(as_text=True)
    assert f"pantasks[stdscience]: controller host off {host}" in preview
    assert f"pantasks[distribution]: controller host off {host}" in preview
    assert f"neb-host {host} repair" in preview
    assert "<td>pantasks[stdscience] controller</td><td>IDLE</td>" in preview  # where the host stands now
    assert f"<td>nebulous volume {host}.0</td><td>allocate 1, available 1</td>" in preview
    assert _controller(servers, "stdscience", host) == "IDLE" and _volumes(site, host) == {(1, 1)}  # GET changed nothing

    login(client)
    body = _post(client, "host-out", host=host).get_data(as_text=True)
    assert 'class="ok">success' in body, body
    assert {_controller(servers, name, host) for name in ("stdscience", "distribution")} == {"OFF"}
    assert _volumes(site, host) == {(0, 1)}  # repair: no allocation, still readable
    silences = [s for s in http_json(f"{alertmanager}/api/v2/silences") if s["status"]["state"] == "active"]
    assert [m["value"] for s in silences for m in s["matchers"]] == [host]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'ipp_actions_host_excluded{{host="{host}"}} 1.0' in metrics

    body = _post(client, "host-in", host=host).get_data(as_text=True)
    assert 'class="ok">success' in body, body
    # `controller host on` works from OFF and puts the host back on the DOWN stack, from where pcontrol starts it
    assert {_controller(servers, name, host) for name in ("stdscience", "distribution")} == {"DOWN"}
    assert _volumes(site, host) == {(1, 1)}
    assert http_json(f"{alertmanager}/api/v2/silence/{silences[0]['id']}")["status"]["state"] == "expired"
    assert f'ipp_actions_host_excluded{{host="{host}"}} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_host_out_shows_a_partial_failure_per_step(make_app, site, servers):
    app = make_app()
    client = app.test_client()
    with pantasks_state.modify(servers["dirs"]["distribution"]) as data:
        data["mode"] = "down"  # that server's client cannot connect
    login(client)
    body = _post(client, "host-out", host=HOSTS[2]).get_data(as_text=True)
    assert 'class="fail">failure' in body
    assert body.count("FAILED") == 1 and "pantasks[distribution]: controller host off" in body
    assert _controller(servers, "stdscience", HOSTS[2]) == "OFF" and _volumes(site, HOSTS[2]) == {(0, 1)}


def test_expiring_an_already_expired_silence_is_not_an_error(make_alertmanager):
    from actions.alertmanager import Alertmanager
    am = Alertmanager(make_alertmanager(), timeout=5)
    silence = am.create_host_silence("ipp001", 600, "test", "test")
    assert am.expire_silence(silence) == "expired"
    assert am.expire_silence(silence) in ("expired", "already expired or gone")  # 0.25 answers 200 again
    assert am.expire_silence("00000000-0000-0000-0000-000000000000").startswith("already expired or gone")


def test_unknown_host_is_refused_and_nothing_runs(client, servers):
    response = client.get("/actions/host-out?host=ipp999")
    assert response.status_code == 404 and "not a known host" in response.get_data(as_text=True)


def test_host_in_of_a_host_a_server_never_took_out_is_not_a_failure(client, site, servers):
    with site.root.connect("nebulous") as conn, conn.cursor() as cur:  # put in repair by hand, pantasks untouched
        cur.execute("UPDATE volume SET allocate = 0 WHERE host = %s", (HOSTS[0],))
    login(client)
    body = _post(client, "host-in", host=HOSTS[0]).get_data(as_text=True)
    assert 'class="ok">success' in body and "already in processing on this server" in body
    assert _volumes(site, HOSTS[0]) == {(1, 1)}
