"""The condition that limits the CI identity's right to assign roles to the roles it assigns.

The deploy workflow's identity needs "Role Based Access Control Administrator" to create the role
assignments in infra/modules/rbac.bicep. Unconditioned, that role could grant anyone Owner. With
this condition (an Azure ABAC condition, version 2.0) it may only create or delete assignments of
the role definitions rbac.bicep names, read here from its `var roles = { ... }` table, so the two
cannot drift apart:

    az role assignment create --assignee-object-id "$PRINCIPAL_ID" \
      --assignee-principal-type ServicePrincipal \
      --role "Role Based Access Control Administrator" --scope "/subscriptions/$SUBSCRIPTION_ID" \
      --condition "$(python3 infra/hooks/ci_role_condition.py)" --condition-version 2.0

When rbac.bicep assigns a new role, update the assignment with the new condition
(`az role assignment update`, docs: deploy.md, "Deploy with GitHub Actions").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RBAC = Path(__file__).resolve().parents[1] / "modules" / "rbac.bicep"
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def assigned_roles(rbac: Path = RBAC) -> dict[str, str]:
    """{name: role definition id} from rbac.bicep's `var roles` block."""
    text = rbac.read_text()
    block = re.search(r"^var roles = \{(.*?)^\}", text, re.M | re.S)
    if not block:
        raise SystemExit(f"ci_role_condition: no `var roles = {{...}}` in {rbac}")
    roles = dict(re.findall(rf"^\s*(\w+):\s*'({_GUID})'", block.group(1), re.M))
    if not roles:
        raise SystemExit(f"ci_role_condition: `var roles` in {rbac} names no role definition id")
    return roles


def condition(role_ids: list[str]) -> str:
    ids = ", ".join(sorted(role_ids))
    attribute = "Microsoft.Authorization/roleAssignments:RoleDefinitionId"
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        f"(@Request[{attribute}] ForAnyOfAnyValues:GuidEquals {{{ids}}}))"
        " AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        f"(@Resource[{attribute}] ForAnyOfAnyValues:GuidEquals {{{ids}}}))"
    )


def main() -> int:
    print(condition(list(assigned_roles().values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
