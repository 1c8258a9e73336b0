"""Password sign-in with a mandatory second factor, enrolment, sessions and throttling."""

from starlette.testclient import TestClient

from citadel.app import create_app
from citadel.authn import totp
from tests.fixtures.builders import PASSWORD, bearer, login, make_org, make_user

LOGIN = "/api/v1/users/auth/_login"


def test_password_without_totp_code_is_refused_when_a_factor_is_enrolled(client, services):
    user = make_user(services)
    response = client.post(LOGIN, json={"username": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "root.unauthenticated"


def test_every_failed_first_step_answers_the_same(client, services):
    """No password oracle (ADR 22): an unknown account, a wrong password, the right password
    without a code and the right password with a wrong code get one answer."""
    user = make_user(services)
    wrong_code = "000000" if user.code(services) != "000000" else "111111"
    attempts = [
        {"username": "nobody@example.com", "password": "wrong password!!", "totp_code": "123456"},
        {"username": user.email, "password": "wrong password!!", "totp_code": wrong_code},
        {"username": user.email, "password": "wrong password!!"},
        {"username": user.email, "password": PASSWORD},
        {"username": user.email, "password": PASSWORD, "totp_code": wrong_code},
    ]
    answers = []
    for body in attempts:
        response = client.post(LOGIN, json=body)
        answers.append(
            (response.status_code, response.json(), response.headers["x-cloud-error-codes"])
        )
    assert len({repr(a) for a in answers}) == 1, answers
    assert answers[0][0] == 401


def test_wrong_totp_code_is_refused(client, services):
    user = make_user(services)
    bad = "000000" if user.code(services) != "000000" else "111111"
    body = {"username": user.email, "password": PASSWORD, "totp_code": bad}
    assert client.post(LOGIN, json=body).status_code == 401


def test_a_totp_code_cannot_be_replayed(client, services):
    user = make_user(services)
    body = {"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
    assert client.post(LOGIN, json=body).status_code == 200
    assert client.post(LOGIN, json=body).status_code == 401


def test_unknown_user_and_wrong_password_look_the_same(client, services):
    user = make_user(services)
    a = client.post(LOGIN, json={"username": user.email, "password": "wrong password!!"})
    b = client.post(LOGIN, json={"username": "nobody@example.com", "password": "wrong password!!"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_first_sign_in_without_a_factor_only_allows_enrolment(client, services):
    user = make_user(services, with_totp=False)
    org = make_org(services, user)
    token = login(client, services, user)
    assert token["mfa_enrollment_required"] is True
    denied = client.get(f"/api/v1/organizations/{org}", headers=bearer(token))
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["code"] == "auth.mfa_enrollment_required"

    started = client.post("/api/v1/users/auth/mfa/totp", headers=bearer(token)).json()
    secret = _decode(started["secret"])
    code = totp.code_at(secret, totp.counter_at(services.clock.now()))
    confirmed = client.post(
        "/api/v1/users/auth/mfa/totp/_confirm", json={"code": code}, headers=bearer(token)
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert client.get(f"/api/v1/organizations/{org}", headers=bearer(token)).status_code == 200


def test_enrolment_with_a_wrong_code_keeps_the_session_restricted(client, services):
    user = make_user(services, with_totp=False)
    token = login(client, services, user)
    started = client.post("/api/v1/users/auth/mfa/totp", headers=bearer(token)).json()
    secret = _decode(started["secret"])
    right = totp.code_at(secret, totp.counter_at(services.clock.now()))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post(
        "/api/v1/users/auth/mfa/totp/_confirm", json={"code": wrong}, headers=bearer(token)
    )
    assert response.status_code == 401
    me = client.get("/api/v1/users/auth", headers=bearer(token)).json()
    assert me["mfa_enrollment_required"] is True


def test_a_recovery_code_signs_in_once(client, services):
    user = make_user(services, with_totp=False)
    token = login(client, services, user)
    secret = _decode(
        client.post("/api/v1/users/auth/mfa/totp", headers=bearer(token)).json()["secret"]
    )
    code = totp.code_at(secret, totp.counter_at(services.clock.now()))
    recovery = client.post(
        "/api/v1/users/auth/mfa/totp/_confirm", json={"code": code}, headers=bearer(token)
    ).json()["recovery_codes"][0]
    body = {"username": user.email, "password": PASSWORD, "totp_code": recovery}
    assert client.post(LOGIN, json=body).status_code == 200
    assert client.post(LOGIN, json=body).status_code == 401


def test_repeated_failures_throttle_the_account_with_retry_after(client, services):
    user = make_user(services)
    bad = {"username": user.email, "password": "not the password"}
    statuses = [client.post(LOGIN, json=bad).status_code for _ in range(5)]
    assert statuses == [401] * 5
    blocked = client.post(
        LOGIN, json={"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    services.clock.advance(seconds=int(blocked.headers["Retry-After"]) + 1)
    good = {"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
    assert client.post(LOGIN, json=good).status_code == 200


def _from(services, address: str) -> TestClient:
    return TestClient(create_app(services), base_url="https://testserver", client=(address, 4000))


def test_the_pair_of_account_and_address_is_throttled_with_retry_after(services):
    user = make_user(services)
    bad = {"username": user.email, "password": "not the password"}
    with _from(services, "198.51.100.7") as guesser:
        limit = services.policies.signin_pair_failures
        assert [guesser.post(LOGIN, json=bad).status_code for _ in range(limit)] == [401] * limit
        refused = guesser.post(LOGIN, json=bad)
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["code"] == "auth.too_many_attempts"
        assert int(refused.headers["Retry-After"]) > 0
    with _from(services, "198.51.100.8") as elsewhere:  # the same account, another address
        good = {"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
        assert elsewhere.post(LOGIN, json=good).status_code == 200


def test_an_attacker_cannot_lock_the_owner_out_from_a_known_address(services):
    user = make_user(services)
    owner_address = "192.0.2.10"
    with _from(services, owner_address) as owner:
        login(owner, services, user)  # the owner has signed in from here before
    services.clock.advance(seconds=30)  # the next TOTP step, for the owner's sign-in below
    attackers = [f"203.0.113.{n}" for n in range(1, 40)]
    budget = services.policies.signin_account_failures
    spent = 0
    for address in attackers:  # spread under each pair's limit: only the account budget trips
        with _from(services, address) as attacker:
            for _ in range(services.policies.signin_pair_failures - 1):
                attacker.post(LOGIN, json={"username": user.email, "password": "guess-guess-1"})
                spent += 1
        if spent > budget:
            break
    with _from(services, "203.0.113.250") as stranger:  # a new address: the budget is spent
        refused = stranger.post(
            LOGIN, json={"username": user.email, "password": PASSWORD, "totp_code": "123456"}
        )
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
    with _from(services, owner_address) as owner:
        good = {"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
        response = owner.post(LOGIN, json=good)
        assert response.status_code == 200, response.text


def test_a_known_address_with_a_wrong_password_is_still_refused(services):
    user = make_user(services)
    with _from(services, "192.0.2.11") as owner:
        login(owner, services, user)
        bad = {"username": user.email, "password": "not the password"}
        assert owner.post(LOGIN, json=bad).status_code == 401


def test_many_accounts_from_one_address_are_throttled_per_address(client, services):
    statuses = [
        client.post(LOGIN, json={"username": f"u{i}@example.com", "password": "x" * 12}).status_code
        for i in range(21)
    ]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429


def test_failed_sign_ins_are_audited(client, services):
    user = make_user(services)
    client.post(LOGIN, json={"username": user.email, "password": "not the password"})
    from citadel.audit.models import AuditEvent

    with services.db.read() as session:
        events = session.query(AuditEvent).filter_by(action="user.signin").all()
    assert [e.outcome for e in events] == ["failure"]
    assert events[0].details["reason"] == "bad_password"
    assert events[0].source_ip


def test_logout_ends_the_session(client, services):
    user = make_user(services)
    token = login(client, services, user)
    assert client.post("/api/v1/users/auth/_logout", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/users/auth", headers=bearer(token)).status_code == 401


def test_idle_session_expires(client, services):
    user = make_user(services)
    token = login(client, services, user)
    services.clock.advance(seconds=services.policies.session_idle_s + 1)
    assert client.get("/api/v1/users/auth", headers=bearer(token)).status_code == 401


def test_active_session_still_ends_at_its_absolute_lifetime(client, services):
    user = make_user(services)
    token = login(client, services, user)
    step = services.policies.session_idle_s // 2
    for _ in range(services.policies.session_absolute_s // step):
        services.clock.advance(seconds=step)
        client.get("/api/v1/users/auth", headers=bearer(token))
    assert client.get("/api/v1/users/auth", headers=bearer(token)).status_code == 401


def test_login_sets_a_secure_httponly_lax_cookie(client, services):
    user = make_user(services)
    body = {"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
    cookie = client.post(LOGIN, json=body).headers["set-cookie"]
    assert cookie.startswith("__Host-citadel_session=")
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower()


def _decode(secret_b32: str) -> bytes:
    import base64

    return base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
