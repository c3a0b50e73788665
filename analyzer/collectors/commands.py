"""The ``snapshot`` and ``get-scps`` commands (registered on ``analyzer.cli.main``).

boto3 is imported inside the command bodies so ``--help`` stays fast and needs no AWS.
"""

from __future__ import annotations

from pathlib import Path

import click

from analyzer.untrusted import visible

_ROLE_HELP = "Role assumed in each other account (default: AccessUndeniedRole)."


def _split(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


@click.command()
@click.option(
    "--out",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot file to write (.json, or .json.gz to compress). --output is the "
    "spelling of earlier versions.",
)
@click.option(
    "--accounts",
    multiple=True,
    metavar="IDS|all",
    help="Accounts to collect: comma-separated ids, or 'all' for every active account "
    "of the organization. Default: the caller's account.",
)
@click.option(
    "--role-name",
    "--cross-account-role-name",
    "role_name",
    default="AccessUndeniedRole",
    show_default=True,
    help=_ROLE_HELP,
)
@click.option(
    "--management-account-role-arn",
    default=None,
    help="Role in the management account to read the organization, SCPs and RCPs "
    "(not needed when the caller is in the management account).",
)
@click.option(
    "--regions",
    multiple=True,
    metavar="REGIONS",
    help="Comma-separated regions to read (default: every enabled region).",
)
@click.option(
    "--max-workers", default=16, show_default=True, type=click.IntRange(1, 128), help="Concurrent AWS calls."
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.pass_context
def snapshot(
    ctx: click.Context,
    out: Path,
    accounts: tuple[str, ...],
    role_name: str,
    management_account_role_arn: str | None,
    regions: tuple[str, ...],
    max_workers: int,
    no_progress: bool,
) -> None:
    """Collect a policy snapshot (IAM, resource policies, SCPs and RCPs) from live AWS.

    Read-only; see the README for the least-privilege IAM policy it needs. What
    cannot be read is recorded in the snapshot's "gaps" and reported, never fatal.

    \b
    Examples:
      access-undenied snapshot --out snapshot.json.gz
      access-undenied --profile mgmt snapshot --accounts all --out org.json.gz
    """
    from analyzer.collectors.aws import base_session
    from analyzer.collectors.snapshot import CollectOptions, collect_snapshot
    from analyzer.errors import CollectorError
    from analyzer.snapshot.model import snapshot_from_dict, write_snapshot

    options = CollectOptions(
        accounts=_split(accounts) or None,
        role_name=role_name,
        management_account_role_arn=management_account_role_arn,
        regions=_split(regions) or None,
        max_workers=max_workers,
        progress=not no_progress,
    )
    data = collect_snapshot(base_session(ctx.obj.get("profile")), options)
    try:
        write_snapshot(data, out)
    except OSError as error:
        raise CollectorError(f"{out}: cannot write it ({error.strerror or error})") from None
    loaded = snapshot_from_dict(data, str(out))
    for gap in loaded.gaps:
        click.echo(f"gap: {visible(gap)}", err=True)
    click.echo(
        f"wrote {out}: {len(loaded.account_ids)} account(s), "
        f"{len(loaded.gaps)} gap(s), snapshot_id {loaded.snapshot_id}",
        err=True,
    )


@click.command("get-scps")
@click.option(
    "--out",
    "--output-file",
    "out",
    default="scp_data.json",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write the organization tree with its SCPs and RCPs to. "
    "--output-file is the original tool's spelling.",
)
@click.option(
    "--management-account-role-arn",
    default=None,
    help="Role in the management account (when the caller is not in it).",
)
@click.pass_context
def get_scps(
    ctx: click.Context,
    out: Path,
    management_account_role_arn: str | None,
) -> None:
    """Write the organization tree with its SCPs and RCPs (the original scp_data.json layout).

    \b
    Example:
      access-undenied get-scps --out scp_data.json
      access-undenied analyze --events-file events.json --scp-file scp_data.json
    """
    import json

    from analyzer.collectors.aws import Account, base_session, caller_account
    from analyzer.collectors.organization import collect_organization
    from analyzer.errors import CollectorError
    from analyzer.results_file import replace_atomically

    session = base_session(ctx.obj.get("profile"))
    account_id, partition = caller_account(session)
    result = collect_organization(Account(account_id, session, partition), management_account_role_arn)
    if result.organization is None or result.gaps:
        # scp_data.json has no place to say what is missing: a partial tree would read as
        # the whole organization with fewer SCPs, so none is written.
        why = "; ".join(str(gap) for gap in result.gaps) or f"account {account_id} is not in an organization"
        raise CollectorError(f"cannot read the {'whole ' if result.organization else ''}organization: {why}")
    try:
        replace_atomically(out, (json.dumps(result.organization.to_nodes_json(), indent=2) + "\n").encode())
    except OSError as error:
        raise CollectorError(f"{out}: cannot write it ({error.strerror or error})") from None
    click.echo(f"wrote {out}: {len(result.organization.nodes)} node(s)", err=True)
