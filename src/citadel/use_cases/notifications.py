"""Mail the platform sends on its own schedule: API keys about to expire.

Runs as the platform (`Services.system_caller`), from the control plane's chores loop
(`citadel.roots.control_plane`). Keys are read in one transaction, the mail goes out with no
transaction open, and the keys whose every warning was handed over are marked in another: a
failed delivery is tried again at the next round; a crash between sending and marking sends
the warning twice, never zero times.
"""

from __future__ import annotations

from citadel.api_keys import expiry
from citadel.mail import letters
from citadel.mail.delivery import Mailer, deliver
from citadel.use_cases.units import Units


def warn_expiring_api_keys(units: Units, mailer: Mailer) -> list[str]:
    """Warn about every key expiring within 14 days not warned about yet; the key ids
    warned about."""
    with units.read() as ctx:
        now = ctx.clock.now()
        due = expiry.expiring_keys(ctx.session, now)
    warned = []
    for key in due:
        sent = [
            deliver(
                mailer,
                letters.api_key_expiring(
                    to=to,
                    organization=key.organization,
                    description=key.description,
                    key_id=key.key_id,
                    expires_at=key.expires_at,
                ),
            )
            for to in key.recipients
        ]
        if all(sent):
            warned.append(key.key_id)
    if warned:
        with units.write() as ctx:
            expiry.mark_warned(ctx.session, warned, ctx.clock.now())
    return warned
