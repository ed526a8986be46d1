"""``safecity demo``: the whole product end to end on a generated city, and what it did."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from kernel.errors import SafecityError
from privacy.cli import model_dir_option


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-output"), show_default=True,
              help="Folder for the runs: each run makes its own run-<UTC time> folder in it.")
@click.option("--serve", is_flag=True,
              help="Keep the coordinator and its portal up after the run, until Ctrl-C.")
@model_dir_option
def demo(out: Path, serve: bool, model_dir: Path) -> None:
    """Run the whole product on generated footage and print what it did.

    Each stage is announced on standard error as it starts; the results go to standard output.
    """
    from simulation.demo import fresh_run_folder, run_demo

    started = time.monotonic()

    def progress(line: str) -> None:
        elapsed = int(time.monotonic() - started)
        click.echo(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {line}", err=True)  # flushed

    folder = fresh_run_folder(out, datetime.now(UTC))
    progress(f"demo: this run's folder is {folder}")
    failed: list[bool] = []

    def hold(summary: dict[str, Any]) -> None:
        failed.append(_report(summary, folder))
        if serve:
            _serve_until_stopped(summary["city"]["portal"]["address"])

    summary = run_demo(folder, model_dir, progress, hold)
    click.echo(f"the demo's coordinator has stopped, so {summary['city']['portal']['address']} "
               f"no longer answers; serve the portal again with `safecity coordinator serve "
               f"--config {summary['city']['config']}`, or run `safecity demo --serve` to keep "
               "it up after the run")
    if any(failed):
        raise SafecityError("some cameras failed")


def _serve_until_stopped(address: str) -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM; the demo then stops its processes in order."""
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, stopping) for s in (signal.SIGINT, signal.SIGTERM)}
    click.echo(f"serving the portal at {address} until Ctrl-C", err=True)
    try:
        while not stop.wait(1):
            pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    click.echo("stopping the demo's coordinator and witnesses", err=True)


def _report(summary: dict[str, Any], folder: Path) -> bool:
    """Print what the demo did; True if a camera failed."""
    from simulation.watchlist_outcome import unsighted

    failed = False
    for camera in summary["cameras"]:
        if camera["status"] != "ok":
            failed = True
            click.echo(f"{camera['camera']}: FAILED: {camera['error']}")
            continue
        click.echo(
            f"{camera['camera']}: {camera['frames']} frames at {camera['frames_per_second']} "
            f"frames/s; faces covered {camera['face_recall']:.1%} of "
            f"{camera['faces_in_ground_truth']} (cut by the frame's edge: "
            f"{camera['edge_face_recall']:.1%} of {camera['edge_faces_in_ground_truth']}), "
            f"plates {camera['plate_recall']:.1%} of "
            f"{camera['plates_in_ground_truth']}; faces still detectable in output: "
            f"{camera['faces_found_in_output']}; redacted video: {camera['redacted_video']}"
        )
    vault = summary["vault"]
    click.echo(f"vault: {vault['segments_checked']} encrypted raw segments checked, "
               f"{vault['damaged']} damaged; export of {vault['export_segments']} segments "
               f"under evidence-export warrant {vault['export_warrant']}, checked by the node, "
               f"sealed and verified, city audit entry {vault['export_in_city_log']}: "
               f"{vault['export']}")
    city = summary["city"]
    seen = sorted({h["target"] for h in city["hits"]})
    targets = [*sorted(city["watchlist_on_camera"]), city["decoy"]]
    missed = unsighted(targets, city["watchlist_on_camera"], seen)
    click.echo(f"coordinator {city['coordinator']}: warrant {city['warrant']} signed by the "
               f"judge; node {', '.join(city['node_status'])}; {len(seen)} of "
               f"{city['watchlist']} watchlist plates sighted ({', '.join(seen)})"
               f"{'; not sighted: ' + '; '.join(missed) if missed else ''}; a second use "
               f"was {city['second_use']}; audit log of {city['audit_entries']} entries "
               f"{'verified' if city['audit_verified'] else 'FAILED verification'}")
    witnesses = city["witnesses"]
    click.echo(f"witnesses: the node pinned {witnesses['pinned']} (a checkpoint needs "
               f"{witnesses['quorum']} cosignatures); the newest witnessed checkpoint covers "
               f"{witnesses['witnessed_size']} entries, cosigned by "
               f"{', '.join(witnesses['cosigned_by']) or 'none'}")
    dp = city["aggregate"]
    evidenced = sum(1 for shots in city["incident_evidence"].values() if shots)
    click.echo(f"control room: {city['events_sent']} anonymous events from the node became "
               f"alerts {city['alerts']}, {sum(city['incidents'].values())} incidents "
               f"{city['incidents']}, {evidenced} of them with the node's signed, redacted "
               f"snapshot; a planner's hourly visit counts: {dp['cells']} cells "
               f"released with {dp['mechanism']} noise at epsilon {dp['epsilon']} "
               f"({dp['suppressed']} small counts withheld; epsilon {dp['epsilon_left']} left "
               f"{dp.get('budget_left', '')})")
    trained = city["training"]
    spent = ", ".join(f"{site} {epsilon:.2f}" for site, epsilon in trained["epsilon_spent"].items())
    click.echo(f"federated learning: run {trained['run']} {trained['status']} "
               f"({trained['rounds']} rounds, DP-SGD under SecAgg+; epsilon spent: {spent}); "
               f"unusual-behaviour model installed at the demo node: "
               f"{'yes' if trained['installed_at_demo_node'] else 'NO'}")
    click.echo(f"summary: {folder / 'summary.json'}; the demo people's logins for the pages: "
               f"{city['logins']} (mode 0600); the judge's and DPO's signing key files, to sign "
               "in the browser with: " + ", ".join(f"{name} {path}" for name, path
                                                   in city["key_files"].items()) + " (mode 0600)")
    portal = city["portal"]
    click.echo(f"transparency portal with the demo's data ({portal['checkpoint_size']} log "
               f"entries: {portal['searches']} searches, {portal['warrants']} warrant decisions, "
               f"{portal['trainings']} training run(s)): {portal['address']}")
    return failed
