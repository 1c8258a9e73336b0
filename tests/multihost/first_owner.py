"""Prepare a control plane's data directory and database for its first replica: the schema,
the platform key and keyring, the first organization and its owner. What `citadel up
--admin-email` does at its first start, for a platform whose replicas run `citadel api`
(which creates no organization). Run inside the control plane's host:

    python -m tests.multihost.first_owner <data dir> <owner email> <password file>

with ``CITADEL_DATABASE_URL`` set; prints ``{"organization_id": ...}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from citadel.bootstrap import build, ensure_first_organization, first_organization_id
from citadel.config import load_settings
from citadel.db.migrate import upgrade


def main(data_dir: str, email: str, password_file: str) -> None:
    services = build(load_settings(data_dir=Path(data_dir)))
    try:
        upgrade(services.db.engine)
        ensure_first_organization(services, admin_email=email, password_file=Path(password_file))
        print(json.dumps({"organization_id": first_organization_id(services)}))
    finally:
        services.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
